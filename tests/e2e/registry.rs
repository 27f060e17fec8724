//! Distribution: apps and components pushed to a real registry (`docker-registry`),
//! inspected with an independent client (`skopeo`), pulled and run, in the layout Spin
//! pushes; pinned digests. Artifacts as Spin made them are in `registry_spin.rs`. Faults, the cache and credentials are in
//! `registry_faults.rs`.

use crate::harness::*;
use crate::registry_server::{DockerRegistry, wisp_with_env};
use serde_json::{Value, json};
use std::path::Path;

pub(crate) const SPIN_APP: &str = "application/vnd.fermyon.spin.application.v1+config";
pub(crate) const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
pub(crate) const DATA_LAYER: &str = "application/vnd.wasm.content.layer.v1+data";

/// A two-component app sharing one Wasm, with files (a glob over nested folders, a small
/// file Spin inlines, a large one it layers, a folder mapping), environment and a limit.
pub(crate) fn multi_app(whoami: &str) -> AppDir {
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
pub(crate) fn push(from: &Path, reference: &str) -> String {
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
pub(crate) fn up_from(reference: &str, cache: &Path, state: &Path) -> Wisp {
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
pub(crate) fn up_from_fails(reference: &str, cache: &Path) -> String {
    up_fails(&[
        "-k",
        "-f",
        reference,
        "--oci-cache-dir",
        cache.to_str().unwrap(),
    ])
}

/// A blob of the plain registry, fetched over its API.
pub(crate) async fn registry_blob(registry: &DockerRegistry, repo: &str, digest: &str) -> Vec<u8> {
    let url = format!("http://{}/v2/{repo}/blobs/{digest}", registry.host());
    reqwest::get(url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
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

pub(crate) fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
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
