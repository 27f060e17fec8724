//! Distribution faults: a registry that is missing, wrong or hostile, an artifact that
//! is corrupt or unknown, a cache cut short or changed, a pull killed half-way, and a
//! registry behind TLS and a password.

use crate::harness::*;
use crate::registry::{multi_app, push, sha256, up_from, up_from_fails, walk};
use crate::registry_server::{DockerRegistry, REGISTRY_PASSWORD, REGISTRY_USER, wisp_with_env};
use serde_json::{Value, json};

#[tokio::test]
async fn registry_and_artifact_faults_are_clear_errors_and_cache_nothing() {
    let registry = DockerRegistry::start();
    let cache = tempfile::tempdir().unwrap();
    let err = up_from_fails(&registry.reference("nothing:v1"), cache.path());
    assert!(err.contains("was not found in the registry"), "{err}");
    let err = up_from_fails(&format!("127.0.0.1:{}/app:v1", free_port()), cache.path());
    assert!(err.contains("cannot reach registry"), "{err}");

    // A layer whose bytes in the registry's storage no longer match its digest.
    let app = multi_app("alpha");
    push(app.path(), &registry.reference("corrupt:v1"));
    let (_, manifest) = registry.skopeo_manifest("corrupt:v1");
    let data_digest = manifest["layers"][1]["digest"].as_str().unwrap().to_owned();
    let stored = registry.blob_data(&data_digest);
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let err = up_from_fails(&registry.reference("corrupt:v1"), cache.path());
    assert!(err.contains("does not match its digest"), "{err}");
    let hex = data_digest.strip_prefix("sha256:").unwrap();
    let cached: Vec<_> = walk(cache.path());
    assert!(
        !cached.iter().any(|p| p.ends_with(hex)),
        "the corrupt layer was cached: {cached:?}"
    );
    assert!(!cache.path().join("apps").exists(), "an app was laid out");

    // A manifest with a layer that is no part of a Spin app.
    let config = registry.put_blob("odd", b"{}").await;
    let layer = registry
        .put_blob("odd", b"some bytes that are not an app")
        .await;
    registry
        .put_manifest(
            "odd",
            "v1",
            &json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
                "layers": [{"mediaType": "application/x-tar", "digest": layer, "size": 30}],
            }),
        )
        .await;
    let err = up_from_fails(&registry.reference("odd:v1"), cache.path());
    assert!(err.contains("media type `application/x-tar`"), "{err}");

    // Pushing something that is not Wasm.
    let fake = tempfile::tempdir().unwrap();
    let not_wasm = fake.path().join("fake.wasm");
    std::fs::write(&not_wasm, "not wasm").unwrap();
    let (ok, _, err) = wisp_with_env(
        &[
            "registry",
            "push",
            "-k",
            "-f",
            not_wasm.to_str().unwrap(),
            &registry.reference("fake:v1"),
        ],
        &[],
    );
    assert!(!ok && err.contains("not a WebAssembly file"), "{err}");
}

#[tokio::test]
async fn a_corrupted_cache_is_never_used_and_is_repaired() {
    let registry = DockerRegistry::start();
    let app = multi_app("alpha");
    let digest = push(app.path(), &registry.reference("repair:v1"));
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let pinned = registry.reference(&format!("repair@{digest}"));
    drop(up_from(&pinned, cache.path(), state.path()));
    // A blob cut short (as by a crash mid-write on a cache without atomic renames) and a
    // laid-out file changed since.
    let (_, manifest) = registry.skopeo_manifest("repair:v1");
    let wasm_hex = manifest["layers"][0]["digest"].as_str().unwrap()[7..].to_owned();
    let wasm_blob = cache.path().join("blobs/sha256").join(&wasm_hex);
    let len = std::fs::metadata(&wasm_blob).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&wasm_blob)
        .unwrap();
    file.set_len(len / 2).unwrap();
    let laid_out = cache
        .path()
        .join("apps")
        .join(&digest[7..])
        .join("files/alpha/static/small.txt");
    std::fs::write(&laid_out, "tampered\n").unwrap();
    let wisp = up_from(&pinned, cache.path(), state.path());
    assert!(
        wisp.stdout_text().contains("from the registry"),
        "the cut blob was used: {}",
        wisp.stdout_text()
    );
    assert_eq!(
        get(&wisp.url("/a/")).await,
        (200, "hello from alpha\n".into())
    );
    let (_, body) = get(&wisp.url("/a/?op=file&path=/static/small.txt")).await;
    assert_eq!(body, "small file\n");
}

#[tokio::test]
async fn a_registry_with_tls_and_a_password() {
    let ca = TestCa::new();
    let registry = DockerRegistry::start_secure(&ca);
    let docker = tempfile::tempdir().unwrap();
    let ca_file = registry.ca_file();
    let reference = registry.reference("secure:v1");
    let probe = guests().probe.to_str().unwrap().to_owned();
    let with_ca = [
        ("DOCKER_CONFIG", docker.path()),
        ("SSL_CERT_FILE", ca_file.as_path()),
    ];

    // The certificate is checked: untrusted without the CA, unless -k.
    let (ok, _, err) = wisp_with_env(
        &["registry", "push", "-f", &probe, &reference],
        &[("DOCKER_CONFIG", docker.path())],
    );
    assert!(
        !ok && err.contains("certificate") && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
    // Trusted, but no credentials yet.
    let (ok, _, err) = wisp_with_env(&["registry", "push", "-f", &probe, &reference], &with_ca);
    assert!(
        !ok && err.contains("refused access") && err.contains("wisp registry login"),
        "{err}"
    );
    // A wrong password is refused at login, and nothing is stored.
    let (ok, _, err) = wisp_with_env(
        &[
            "registry",
            "login",
            &registry.host(),
            "-u",
            REGISTRY_USER,
            "-p",
            "wrong",
        ],
        &with_ca,
    );
    assert!(!ok && err.contains("refused access"), "{err}");
    assert!(!docker.path().join("config.json").exists());
    // The right one is stored where docker keeps it.
    let mut login = std::process::Command::new(wisp_bin())
        .args([
            "registry",
            "login",
            &registry.host(),
            "-u",
            REGISTRY_USER,
            "--password-stdin",
        ])
        .envs(with_ca.iter().map(|(k, v)| (*k, v.as_os_str())))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(login.stdin.take().unwrap(), "{REGISTRY_PASSWORD}").unwrap();
    let out = login.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config: Value =
        serde_json::from_slice(&std::fs::read(docker.path().join("config.json")).unwrap()).unwrap();
    use base64::Engine;
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{REGISTRY_USER}:{REGISTRY_PASSWORD}"));
    assert_eq!(config["auths"][registry.host()]["auth"], expected);

    let (ok, _, err) = wisp_with_env(&["registry", "push", "-f", &probe, &reference], &with_ca);
    assert!(ok, "{err}");
    let (_, manifest) = registry.skopeo_manifest("secure:v1");
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    // Pulled with the CA trusted, and with -k and no CA (TLS unverified).
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().to_str().unwrap();
    let (ok, out, err) = wisp_with_env(
        &["registry", "pull", "--oci-cache-dir", cache_arg, &reference],
        &with_ca,
    );
    assert!(ok && out.contains("from the registry"), "{out}{err}");
    let other_cache = tempfile::tempdir().unwrap();
    let (ok, out, err) = wisp_with_env(
        &[
            "registry",
            "pull",
            "-k",
            "--oci-cache-dir",
            other_cache.path().to_str().unwrap(),
            &reference,
        ],
        &[("DOCKER_CONFIG", docker.path())],
    );
    assert!(ok && out.contains("from the registry"), "{out}{err}");
    let state = tempfile::tempdir().unwrap();
    let wisp = Wisp::start_with_env(
        &[
            "-f",
            &reference,
            "--oci-cache-dir",
            cache_arg,
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &[
            ("DOCKER_CONFIG", docker.path().to_str().unwrap()),
            ("SSL_CERT_FILE", ca_file.to_str().unwrap()),
        ],
    );
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
    // Stored credentials that are wrong are refused on pull too.
    let wrong = tempfile::tempdir().unwrap();
    let bad = base64::engine::general_purpose::STANDARD.encode(format!("{REGISTRY_USER}:wrong"));
    std::fs::write(
        wrong.path().join("config.json"),
        json!({"auths": {registry.host(): {"auth": bad}}}).to_string(),
    )
    .unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let (ok, _, err) = wisp_with_env(
        &[
            "registry",
            "pull",
            "--oci-cache-dir",
            fresh.path().to_str().unwrap(),
            &reference,
        ],
        &[
            ("DOCKER_CONFIG", wrong.path()),
            ("SSL_CERT_FILE", ca_file.as_path()),
        ],
    );
    assert!(!ok && err.contains("refused access"), "{err}");
}

#[tokio::test]
async fn a_pull_killed_half_way_leaves_no_bad_blob_and_the_next_run_completes() {
    let registry = DockerRegistry::start();
    let app = multi_app("alpha");
    // 64 MiB that do not compress, so the pull takes long enough to be interrupted.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let noise: Vec<u8> = (0..64 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(app.path().join("static/noise.bin"), &noise).unwrap();
    push(app.path(), &registry.reference("big:v1"));
    let cache = tempfile::tempdir().unwrap();
    let mut pull = std::process::Command::new(wisp_bin())
        .args([
            "registry",
            "pull",
            "-k",
            "--oci-cache-dir",
            cache.path().to_str().unwrap(),
        ])
        .arg(registry.reference("big:v1"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed as soon as a download is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline && pull.try_wait().unwrap().is_none() {
        let partial = walk(&cache.path().join("tmp"))
            .iter()
            .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0));
        if partial {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = pull.kill();
    let _ = pull.wait();
    // Whatever was interrupted, every blob in the cache is whole: its bytes hash to its name.
    for blob in walk(&cache.path().join("blobs")) {
        let name = blob.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            sha256(&std::fs::read(&blob).unwrap()),
            format!("sha256:{name}")
        );
    }
    let state_dir = tempfile::tempdir().unwrap();
    let wisp = up_from(
        &registry.reference("big:v1"),
        cache.path(),
        state_dir.path(),
    );
    let response = reqwest::get(wisp.url("/a/?op=file&path=/static/noise.bin"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.bytes().await.unwrap() == noise,
        "the file served is not the one pushed"
    );
}

#[test]
fn credentials_come_from_a_docker_credential_helper() {
    let ca = TestCa::new();
    let registry = DockerRegistry::start_secure(&ca);
    let docker = tempfile::tempdir().unwrap();
    // A helper speaking docker's protocol: the server on stdin, JSON credentials out.
    let helper = docker.path().join("docker-credential-wisptest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{REGISTRY_USER}\",\"Secret\":\"{REGISTRY_PASSWORD}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        docker.path().join("config.json"),
        json!({"credHelpers": {registry.host(): "wisptest"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        docker.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ca_file = registry.ca_file();
    let env = [
        ("DOCKER_CONFIG", docker.path()),
        ("SSL_CERT_FILE", ca_file.as_path()),
        ("PATH", std::path::Path::new(&path)),
    ];
    let probe = guests().probe.to_str().unwrap().to_owned();
    let (ok, _, err) = wisp_with_env(
        &[
            "registry",
            "push",
            "-f",
            &probe,
            &registry.reference("helped:v1"),
        ],
        &env,
    );
    assert!(ok, "{err}");
    // Without the helper on PATH, the same config yields no credentials: refused.
    let (ok, _, err) = wisp_with_env(
        &[
            "registry",
            "push",
            "-f",
            &probe,
            &registry.reference("helped:v2"),
        ],
        &env[..2],
    );
    assert!(!ok && err.contains("refused access"), "{err}");
}
