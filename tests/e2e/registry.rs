//! Distribution: apps and components pushed to a real registry (`docker-registry`),
//! inspected with an independent client (`skopeo`), pulled and run; pinned digests, the
//! verified cache, and every way a registry or an artifact can be wrong.

use crate::harness::*;
use crate::registry_server::{DockerRegistry, REGISTRY_PASSWORD, REGISTRY_USER, wisp_with_env};
use serde_json::{Value, json};
use std::path::Path;

const SPIN_APP: &str = "application/vnd.fermyon.spin.application.v1+config";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const DATA_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";

/// A two-component app sharing one Wasm, with files (a glob over nested folders, a small
/// file Spin inlines, a large one it layers, a folder mapping), environment and a limit.
fn multi_app(whoami: &str) -> AppDir {
    let app = AppDir::new(&format!(
        r#"spin_manifest_version = 2
[application]
name = "multi"
version = "1.2.3"
authors = ["wisp tests"]
[variables]
greeting = {{ default = "hi" }}
[[trigger.http]]
route = "/a/..."
component = "alpha"
[[trigger.http]]
route = "/b/..."
component = "beta"
[component.alpha]
source = "probe.wasm"
files = ["static/**/*"]
environment = {{ WHOAMI = "{whoami}" }}
[component.beta]
source = "probe.wasm"
files = [{{ source = "static/sub", destination = "/data" }}]
environment = {{ WHOAMI = "beta" }}
variables = {{ message = "{{{{ greeting }}}}" }}
[component.beta.limits]
memory = "64MiB"
"#
    ));
    std::fs::copy(&guests().probe, app.path().join("probe.wasm")).unwrap();
    app.write("static/small.txt", "small file\n");
    app.write("static/sub/big.txt", &"big file line\n".repeat(400));
    app
}

/// `wisp registry push` of `from` to `reference` (plain HTTP); the digest it printed.
fn push(from: &Path, reference: &str) -> String {
    let (ok, out, err) = wisp_with_env(
        &[
            "registry",
            "push",
            "-k",
            "-f",
            from.to_str().unwrap(),
            reference,
        ],
        &[],
    );
    assert!(ok, "push failed: {err}");
    out.lines()
        .find_map(|l| l.strip_prefix("Pushed with digest "))
        .unwrap_or_else(|| panic!("no digest printed: {out}"))
        .to_owned()
}

/// `wisp up -k -f reference` with its own OCI cache and state folder.
fn up_from(reference: &str, cache: &Path, state: &Path) -> Wisp {
    Wisp::start(&[
        "-k",
        "-f",
        reference,
        "--oci-cache-dir",
        cache.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ])
}

/// `wisp up -k -f reference` must fail; its one-line error.
fn up_from_fails(reference: &str, cache: &Path) -> String {
    up_fails(&[
        "-k",
        "-f",
        reference,
        "--oci-cache-dir",
        cache.to_str().unwrap(),
    ])
}

/// A blob of the plain registry, fetched over its API.
async fn registry_blob(registry: &DockerRegistry, repo: &str, digest: &str) -> Vec<u8> {
    let url = format!("http://{}/v2/{repo}/blobs/{digest}", registry.host());
    reqwest::get(url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[tokio::test]
async fn an_app_pushed_then_run_from_the_registry_answers_as_from_its_folder() {
    let registry = DockerRegistry::start();
    let app = multi_app("alpha");
    let digest = push(app.path(), &registry.reference("multi:v1"));

    // What skopeo sees is Spin's layout, under the digest wisp printed.
    let (raw, manifest) = registry.skopeo_manifest("multi:v1");
    assert_eq!(sha256(&raw), digest);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    let types: Vec<&str> = layers
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    // One Wasm layer for the two components that share it, one data layer for the large
    // file (the small one is inlined), the locked app last.
    assert_eq!(types, [WASM_LAYER, DATA_LAYER, SPIN_APP], "{manifest:#}");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "multi"
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "1.2.3"
    );
    let wasm = registry_blob(&registry, "multi", layers[0]["digest"].as_str().unwrap()).await;
    assert_eq!(wasm, std::fs::read(&guests().probe).unwrap());
    let locked_digest = layers[2]["digest"].as_str().unwrap();
    let locked: Value =
        serde_json::from_slice(&registry_blob(&registry, "multi", locked_digest).await).unwrap();
    let config: Value = serde_json::from_slice(
        &registry_blob(
            &registry,
            "multi",
            manifest["config"]["digest"].as_str().unwrap(),
        )
        .await,
    )
    .unwrap();
    assert_eq!(
        config["config"]["Labels"]["com.fermyon.spin.lockedAppDigest"],
        locked_digest
    );
    assert_eq!(locked["spin_lock_version"], 0);
    assert_eq!(locked["metadata"]["name"], "multi");
    assert_eq!(
        locked["triggers"][0]["trigger_config"],
        json!({"component": "alpha", "route": "/a/..."})
    );
    let alpha = &locked["components"][0];
    assert_eq!(alpha["id"], "alpha");
    assert_eq!(alpha["source"]["digest"], layers[0]["digest"]);
    assert_eq!(alpha["env"]["WHOAMI"], "alpha");
    let files = alpha["files"].as_array().unwrap();
    let small = files
        .iter()
        .find(|f| f["path"] == "static/small.txt")
        .unwrap();
    assert!(
        small["inline"].is_string(),
        "small files are inlined: {small}"
    );
    let big = files
        .iter()
        .find(|f| f["path"] == "static/sub/big.txt")
        .unwrap();
    assert_eq!(big["digest"], layers[1]["digest"]);
    assert_eq!(
        locked["components"][1]["config"]["message"],
        "{{ greeting }}"
    );

    // Pulled into an empty cache and served: the same answers as from the folder.
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let wisp = up_from(&registry.reference("multi:v1"), cache.path(), state.path());
    assert!(
        wisp.stdout_text().contains("from the registry"),
        "{}",
        wisp.stdout_text()
    );
    assert_eq!(
        get(&wisp.url("/a/")).await,
        (200, "hello from alpha\n".into())
    );
    assert_eq!(
        get(&wisp.url("/b/")).await,
        (200, "hello from beta\n".into())
    );
    let (status, body) = get(&wisp.url("/a/?op=file&path=/static/small.txt")).await;
    assert_eq!((status, body.as_str()), (200, "small file\n"));
    let (status, body) = get(&wisp.url("/b/?op=file&path=/data/big.txt")).await;
    assert_eq!((status, body.len()), (200, 14 * 400));
    // Only what the component mounts: beta has no /static.
    let (status, _) = get(&wisp.url("/b/?op=file&path=/static/small.txt")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_pinned_digest_runs_exactly_that_artifact_and_then_needs_no_registry() {
    let registry = DockerRegistry::start();
    let first = push(multi_app("first").path(), &registry.reference("pin:v1"));
    let second = push(multi_app("second").path(), &registry.reference("pin:v1"));
    assert_ne!(first, second);
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let pinned = registry.reference(&format!("pin@{first}"));
    {
        let wisp = up_from(&pinned, cache.path(), state.path());
        assert_eq!(
            get(&wisp.url("/a/")).await,
            (200, "hello from first\n".into())
        );
        let wisp = up_from(&registry.reference("pin:v1"), cache.path(), state.path());
        assert_eq!(
            get(&wisp.url("/a/")).await,
            (200, "hello from second\n".into())
        );
    }
    let tag = registry.reference("pin:v1");
    drop(registry);
    // The registry is gone: the pinned digest still starts, from the cache alone.
    let wisp = up_from(&pinned, cache.path(), state.path());
    assert!(
        wisp.stdout_text().contains("from the cache"),
        "{}",
        wisp.stdout_text()
    );
    assert_eq!(
        get(&wisp.url("/a/")).await,
        (200, "hello from first\n".into())
    );
    // A tag must be resolved by the registry, which is unreachable.
    let err = up_from_fails(&tag, cache.path());
    assert!(err.contains("cannot reach registry"), "{err}");
}

#[tokio::test]
async fn a_bare_component_round_trips_as_a_wasm_component_artifact() {
    let registry = DockerRegistry::start();
    let digest = push(&guests().probe, &registry.reference("probe:v1"));
    let (raw, manifest) = registry.skopeo_manifest("probe:v1");
    assert_eq!(sha256(&raw), digest);
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let wisp = up_from(&registry.reference("probe:v1"), cache.path(), state.path());
    assert_eq!(
        get(&wisp.url("/anything")).await,
        (200, "hello from probe\n".into())
    );
    assert!(
        wisp.stdout_text().contains("probe: "),
        "named after the repository: {}",
        wisp.stdout_text()
    );
}

#[tokio::test]
async fn the_key_value_example_runs_from_the_registry() {
    let registry = DockerRegistry::start();
    let example = repo_root().join("examples/kv-counter-rust");
    let (ok, _, err) = wisp_with_env(
        &[
            "registry",
            "push",
            "-k",
            "--build",
            "-f",
            example.to_str().unwrap(),
            &registry.reference("kv:v1"),
        ],
        &[],
    );
    assert!(ok, "{err}");
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let wisp = up_from(&registry.reference("kv:v1"), cache.path(), state.path());
    assert_eq!(get(&wisp.url("/count")).await, (200, "0\n".into()));
    let client = reqwest::Client::new();
    for n in 1..=2 {
        let resp = client.post(wisp.url("/count")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), format!("{n}\n"));
    }
    // The store lives in the state folder given, not in the cache.
    assert!(
        dir_has_db(state.path()),
        "no store in {:?}",
        walk(state.path())
    );
}

fn dir_has_db(dir: &Path) -> bool {
    walk(dir)
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "db"))
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

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

/// An artifact in the layout Spin 1.x pushed (the locked app as the manifest's config,
/// `trigger` metadata with its `type`, `executor = { type = "spin" }`), assembled by
/// hand from Spin's `crates/oci` and `crates/locked-app` code paths.
#[tokio::test]
async fn an_artifact_in_spins_older_layout_runs() {
    let registry = DockerRegistry::start();
    let wasm = std::fs::read(&guests().probe).unwrap();
    let big = "x".repeat(1000);
    let wasm_digest = registry.put_blob("old", &wasm).await;
    let big_digest = registry.put_blob("old", big.as_bytes()).await;
    use base64::Engine;
    let small = base64::engine::general_purpose::STANDARD.encode("tiny");
    let locked = json!({
        "spin_lock_version": 0,
        "metadata": {
            "name": "old-layout",
            "origin": "file:///home/someone/old/spin.toml",
            "trigger": {"type": "http", "base": "/"},
        },
        "triggers": [{
            "id": "trigger--web",
            "trigger_type": "http",
            "trigger_config": {"component": "web", "route": "/...", "executor": {"type": "spin"}},
        }],
        "components": [{
            "id": "web",
            "metadata": {"allowed_outbound_hosts": []},
            "source": {"content_type": "application/wasm", "digest": wasm_digest},
            "env": {"WHOAMI": "old"},
            "files": [
                {"digest": big_digest, "path": "assets/big.txt"},
                {"inline": small, "path": "assets/tiny.txt"},
            ],
        }],
    });
    let locked_bytes = serde_json::to_vec(&locked).unwrap();
    let config = registry.put_blob("old", &locked_bytes).await;
    registry
        .put_manifest(
            "old",
            "v1",
            &json!({
                "schemaVersion": 2,
                "config": {"mediaType": SPIN_APP, "digest": config, "size": locked_bytes.len()},
                "layers": [
                    {"mediaType": WASM_LAYER, "digest": wasm_digest, "size": wasm.len()},
                    {"mediaType": DATA_LAYER, "digest": big_digest, "size": big.len()},
                ],
            }),
        )
        .await;
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let wisp = up_from(&registry.reference("old:v1"), cache.path(), state.path());
    assert_eq!(get(&wisp.url("/")).await, (200, "hello from old\n".into()));
    assert_eq!(
        get(&wisp.url("/?op=file&path=/assets/tiny.txt")).await,
        (200, "tiny".into())
    );
    assert_eq!(
        get(&wisp.url("/?op=file&path=/assets/big.txt")).await,
        (200, big)
    );
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

#[tokio::test]
async fn files_packed_into_an_archive_layer_round_trip() {
    let registry = DockerRegistry::start();
    let app = multi_app("alpha");
    let reference = registry.reference("archived:v1");
    let (ok, _, err) = wisp_with_env(
        &[
            "registry",
            "push",
            "-k",
            "-f",
            app.path().to_str().unwrap(),
            &reference,
        ],
        &[("SPIN_OCI_ARCHIVE_LAYERS", Path::new("1"))],
    );
    assert!(ok, "{err}");
    let (_, manifest) = registry.skopeo_manifest("archived:v1");
    let types: Vec<&str> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    let archive = "application/vnd.wasm.content.bundle.v1.tar+gzip";
    // One archive per component with files (alpha's and beta's differ), no data layers.
    assert_eq!(
        types,
        [WASM_LAYER, archive, archive, SPIN_APP],
        "{manifest:#}"
    );
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let wisp = up_from(&reference, cache.path(), state.path());
    let (status, body) = get(&wisp.url("/a/?op=file&path=/static/sub/big.txt")).await;
    assert_eq!((status, body.len()), (200, 14 * 400));
    let (status, body) = get(&wisp.url("/b/?op=file&path=/data/big.txt")).await;
    assert_eq!((status, body.len()), (200, 14 * 400));
}
