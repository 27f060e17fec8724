//! Signing and verification in cosign's key-based format: wisp's signatures checked with
//! `openssl` against cosign's documented layout, an `openssl`-made cosign signature
//! accepted by wisp, and `wisp up --verify-key` refusing unsigned, wrongly signed and
//! retagged artifacts before anything is downloaded or compiled.

use crate::harness::*;
use crate::registry_server::{DockerRegistry, wisp_with_env};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// A fresh P-256 key pair made by `openssl`: (private PKCS#8, public SPKI), in `dir`.
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path(&private),
    ]);
    openssl(&[
        "pkey",
        "-in",
        path(&private),
        "-pubout",
        "-out",
        path(&public),
    ]);
    (private, public)
}

fn openssl(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `registry sign|verify -k REF --key KEY`.
fn key_command<'a>(verb: &'a str, reference: &'a str, key: &'a str) -> [&'a str; 6] {
    ["registry", verb, "-k", reference, "--key", key]
}

fn wisp_ok(args: &[&str]) -> String {
    let (ok, out, err) = wisp_with_env(args, &[]);
    assert!(ok, "wisp {args:?} failed: {err}");
    out
}

fn wisp_err(args: &[&str]) -> String {
    let (ok, out, err) = wisp_with_env(args, &[]);
    assert!(!ok, "wisp {args:?} succeeded: {out}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Pushes the probe component as `repo:tag`; its digest.
fn push_probe(registry: &DockerRegistry, repo_tag: &str, wasm: &Path) -> String {
    let out = wisp_ok(&[
        "registry",
        "push",
        "-k",
        "-f",
        path(wasm),
        &registry.reference(repo_tag),
    ]);
    out.lines()
        .find_map(|l| l.strip_prefix("Pushed with digest "))
        .unwrap()
        .to_owned()
}

async fn get_json(url: String) -> (Vec<u8>, Value) {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap().to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (bytes, json)
}

#[tokio::test]
async fn signatures_follow_cosigns_format_both_ways() {
    let registry = DockerRegistry::start();
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(keys.path(), "wisp");
    let digest = push_probe(&registry, "signed:v1", &guests().probe);
    let out = wisp_ok(&key_command(
        "sign",
        &registry.reference("signed:v1"),
        path(&private),
    ));
    let tag = format!("sha256-{}.sig", &digest[7..]);
    assert!(out.contains(&tag), "{out}");

    // What wisp pushed, read over the registry API and checked with openssl alone.
    let base = format!("http://{}/v2/signed", registry.host());
    let (_, manifest) = get_json(format!("{base}/manifests/{tag}")).await;
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], SIMPLE_SIGNING);
    let (payload, payload_json) = get_json(format!(
        "{base}/blobs/{}",
        layer["digest"].as_str().unwrap()
    ))
    .await;
    assert_eq!(
        payload_json["critical"]["type"],
        "cosign container image signature"
    );
    assert_eq!(
        payload_json["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(
        payload_json["critical"]["identity"]["docker-reference"],
        registry.reference("signed")
    );
    use base64::Engine;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(
            layer["annotations"]["dev.cosignproject.cosign/signature"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("payload"), &payload).unwrap();
    std::fs::write(work.path().join("sig.der"), &signature).unwrap();
    let verified = openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        path(&public),
        "-signature",
        path(&work.path().join("sig.der")),
        path(&work.path().join("payload")),
    ]);
    assert!(verified.contains("Verified OK"), "{verified}");
    let out = wisp_ok(&key_command(
        "verify",
        &registry.reference("signed:v1"),
        path(&public),
    ));
    assert!(out.contains(&digest), "{out}");
    let (_, stranger) = key_pair(keys.path(), "stranger");
    let err = wisp_err(&[
        "registry",
        "verify",
        "-k",
        &registry.reference("signed:v1"),
        "--key",
        path(&stranger),
    ]);
    assert!(
        err.contains("no signature of") && err.contains("verifies with"),
        "{err}"
    );

    // The reverse: a cosign-format signature made with openssl (a SEC1 key, as
    // `openssl ecparam -genkey` writes) verifies under wisp.
    let other = push_probe(&registry, "byhand:v1", &guests().hello_020);
    let sec1 = work.path().join("sec1.key");
    let sec1_pub = work.path().join("sec1.pub");
    let sec1_pem = openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout"]);
    std::fs::write(&sec1, sec1_pem).unwrap();
    openssl(&["ec", "-in", path(&sec1), "-pubout", "-out", path(&sec1_pub)]);
    let payload = serde_json::to_vec(&json!({
        "critical": {
            "identity": {"docker-reference": registry.reference("byhand")},
            "image": {"docker-manifest-digest": other},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap();
    std::fs::write(work.path().join("payload2"), &payload).unwrap();
    openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        path(&sec1),
        "-out",
        path(&work.path().join("sig2.der")),
        path(&work.path().join("payload2")),
    ]);
    let signature = std::fs::read(work.path().join("sig2.der")).unwrap();
    let payload_digest = registry.put_blob("byhand", &payload).await;
    let config = registry.put_blob("byhand", b"{}").await;
    registry
        .put_manifest(
            "byhand",
            &format!("sha256-{}.sig", &other[7..]),
            &json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
                "layers": [{
                    "mediaType": SIMPLE_SIGNING,
                    "digest": payload_digest,
                    "size": payload.len(),
                    "annotations": {"dev.cosignproject.cosign/signature": base64::engine::general_purpose::STANDARD.encode(&signature)},
                }],
            }),
        )
        .await;
    wisp_ok(&key_command(
        "verify",
        &registry.reference("byhand:v1"),
        path(&sec1_pub),
    ));
    // wisp signs with that SEC1 key too: the same payload stays one layer, now carrying
    // wisp's signature, which verifies as well.
    wisp_ok(&key_command(
        "sign",
        &registry.reference("byhand:v1"),
        path(&sec1),
    ));
    let (_, manifest) = get_json(format!(
        "http://{}/v2/byhand/manifests/sha256-{}.sig",
        registry.host(),
        &other[7..]
    ))
    .await;
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        1,
        "the same payload is one layer: {manifest}"
    );
    wisp_ok(&key_command(
        "verify",
        &registry.reference("byhand:v1"),
        path(&sec1_pub),
    ));
}

#[tokio::test]
async fn up_with_a_verify_key_runs_only_what_that_key_signed() {
    let registry = DockerRegistry::start();
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = key_pair(keys.path(), "trusted");
    let (_, stranger) = key_pair(keys.path(), "stranger");
    let signed = push_probe(&registry, "app:v1", &guests().probe);
    push_probe(&registry, "unsigned:v1", &guests().probe);
    wisp_ok(&key_command(
        "sign",
        &registry.reference("app:v1"),
        path(&private),
    ));
    let cache = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let refuses = |reference: &str, key: &Path| {
        up_fails(&[
            "-k",
            "-f",
            reference,
            "--verify-key",
            path(key),
            "--oci-cache-dir",
            path(cache.path()),
        ])
    };

    let err = refuses(&registry.reference("unsigned:v1"), &public);
    assert!(err.contains("is not signed"), "{err}");
    let err = refuses(&registry.reference("app:v1"), &stranger);
    assert!(
        err.contains("verifies with") && err.contains("stranger.pub"),
        "{err}"
    );
    // Nothing was downloaded or laid out for the refused artifacts.
    assert!(!cache.path().join("blobs").exists() && !cache.path().join("apps").exists());

    let serves = |reference: &str| {
        Wisp::start(&[
            "-k",
            "-f",
            reference,
            "--verify-key",
            path(&public),
            "--oci-cache-dir",
            path(cache.path()),
            "--state-dir",
            path(state.path()),
        ])
    };
    let wisp = serves(&registry.reference("app:v1"));
    assert!(
        wisp.stdout_text().contains("Signature verified"),
        "{}",
        wisp.stdout_text()
    );
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
    drop(wisp);

    // The tag now names other bytes (the artifact was replaced after signing): refused.
    push_probe(&registry, "app:v1", &guests().hello_020);
    let err = refuses(&registry.reference("app:v1"), &public);
    assert!(err.contains("is not signed"), "{err}");
    // A key file that is not a key.
    let err = refuses(&registry.reference("app:v1"), &private);
    assert!(err.contains("not a PEM ECDSA P-256 public key"), "{err}");

    // The registry is gone: the signed digest, cached by the verified start, restarts
    // verified from the cache; a key that did not sign it still needs the registry.
    let pinned = registry.reference(&format!("app@{signed}"));
    drop(registry);
    let wisp = serves(&pinned);
    assert!(
        wisp.stdout_text().contains("from the cache"),
        "{}",
        wisp.stdout_text()
    );
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
    let err = refuses(&pinned, &stranger);
    assert!(err.contains("cannot reach registry"), "{err}");
}
