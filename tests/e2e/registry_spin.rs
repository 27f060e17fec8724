//! Artifacts as Spin makes them, assembled by hand from Spin's `crates/oci` and
//! `crates/locked-app` code paths and put into a real registry over its API: the older
//! layout (the locked app as the manifest's config) and the current one with a locked
//! app as Spin 3 writes it.

use crate::harness::*;
use crate::registry::{DATA_LAYER, SPIN_APP, WASM_LAYER, up_from, up_from_fails};
use crate::registry_server::DockerRegistry;
use serde_json::{Value, json};
use sha2::Digest;

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

/// An artifact in the layout Spin 2.x and later push (image config with the locked-app
/// label, the locked app as a layer) holding a locked app as Spin 3 writes it: lock
/// version 1 with `must_understand` and the service-chaining host requirement, component
/// metadata with `build` and `ai_models`, app metadata with `trigger` and `triggers`,
/// a component variable over an app variable.
#[tokio::test]
async fn an_artifact_with_a_spin_3_locked_app_runs() {
    let registry = DockerRegistry::start();
    let wasm = std::fs::read(&guests().probe).unwrap();
    let wasm_digest = registry.put_blob("spin3", &wasm).await;
    let component = json!({
        "id": "web",
        "metadata": {
            "description": "made by spin",
            "allowed_outbound_hosts": ["http://*.spin.internal"],
            "key_value_stores": [],
            "databases": [],
            "ai_models": [],
            "build": {"command": "cargo build --target wasm32-wasip2 --release"},
        },
        "source": {"content_type": "application/wasm", "digest": wasm_digest},
        "env": {"WHOAMI": "spin3"},
        "config": {"greeting": "{{ who }}"},
        "host_requirements": {"local_service_chaining": "required"},
    });
    let locked = |host_requirements: Value| {
        json!({
            "spin_lock_version": 1,
            "must_understand": ["host_requirements", "component_host_requirements"],
            "metadata": {
                "name": "spin3",
                "version": "0.1.0",
                "authors": ["Someone <someone@example.com>"],
                "trigger": {"type": "http"},
                "triggers": {"http": {}},
            },
            "host_requirements": host_requirements,
            "variables": {"who": {"default": "spin3"}},
            "triggers": [{
                "id": "trigger-web",
                "trigger_type": "http",
                "trigger_config": {"component": "web", "route": "/..."},
            }],
            "components": [component.clone()],
        })
    };
    let publish = |tag: &'static str, locked: Value| {
        let (registry, wasm) = (&registry, &wasm);
        async move {
            let locked = serde_json::to_vec(&locked).unwrap();
            let locked_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&locked)));
            let config = json!({
                "architecture": "wasm",
                "os": "Wasip1",
                "config": {"Labels": {"com.fermyon.spin.lockedAppDigest": locked_digest}},
                "rootfs": {"type": "layers", "diff_ids": []},
            });
            let layers = [(WASM_LAYER, wasm.as_slice()), (SPIN_APP, locked.as_slice())];
            let annotations = json!({"org.opencontainers.image.title": "spin3"});
            registry
                .put_image("spin3", tag, &config, &layers, annotations)
                .await;
        }
    };
    publish("v1", locked(json!({"local_service_chaining": "required"}))).await;
    publish("gpu", locked(json!({"gpu": "required"}))).await;
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let wisp = up_from(&registry.reference("spin3:v1"), cache.path(), state.path());
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from spin3\n".into())
    );
    // A requirement wisp cannot meet is refused by name.
    let err = up_from_fails(&registry.reference("spin3:gpu"), cache.path());
    assert!(err.contains("requires `gpu`"), "{err}");
}
