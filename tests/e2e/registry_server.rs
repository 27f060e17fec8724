//! A real OCI registry for the distribution tests: Debian's `docker-registry` (CNCF
//! distribution 2.8) on a free loopback port with its storage in a temporary folder,
//! plain or with TLS and htpasswd basic auth; and `skopeo`, an independent client, to
//! inspect what wisp pushed. `scripts/test` installs both where missing.

use crate::harness::free_port;
use crate::servers::{TestCa, wait_for_port};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running registry, stopped on drop.
pub struct DockerRegistry {
    child: Child,
    dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
    /// Whether it speaks TLS (and wants a password).
    pub secure: bool,
}

/// The user the secure registry accepts.
pub const REGISTRY_USER: &str = "wisp";
/// Their password.
pub const REGISTRY_PASSWORD: &str = "s3cret-pass";

impl DockerRegistry {
    /// A plain-HTTP registry anyone may push to.
    pub fn start() -> DockerRegistry {
        Self::launch(None)
    }

    /// A registry speaking only TLS with `ca`'s server certificate, accepting
    /// [`REGISTRY_USER`] / [`REGISTRY_PASSWORD`] and no one else.
    pub fn start_secure(ca: &TestCa) -> DockerRegistry {
        Self::launch(Some(ca))
    }

    fn launch(tls: Option<&TestCa>) -> DockerRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(ca) = tls {
            ca.write_to(dir.path());
            let hash = bcrypt::hash_with_result(REGISTRY_PASSWORD, 4)
                .unwrap()
                .format_for_version(bcrypt::Version::TwoA);
            std::fs::write(
                dir.path().join("htpasswd"),
                format!("{REGISTRY_USER}:{hash}\n"),
            )
            .unwrap();
            config.push_str(&format!(
                "  tls:\n    certificate: {0}/server.pem\n    key: {0}/server.key\n\
                 auth:\n  htpasswd:\n    realm: wisp-tests\n    path: {0}/htpasswd\n",
                dir.path().display()
            ));
        }
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (scripts/test installs it)");
        wait_for_port(port, "docker-registry", Duration::from_secs(15));
        DockerRegistry {
            child,
            dir,
            port,
            secure: tls.is_some(),
        }
    }

    /// `127.0.0.1:PORT`, the registry part of a reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A reference to `repo_tag` (`name:tag` or `name@digest`) in this registry.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// Where the registry keeps the bytes of blob `digest`.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The CA file a client must trust (secure registries only).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The raw manifest of `repo_tag`, fetched by skopeo.
    pub fn skopeo_manifest(&self, repo_tag: &str) -> (Vec<u8>, serde_json::Value) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw"]);
        if self.secure {
            cmd.arg(format!("--creds={REGISTRY_USER}:{REGISTRY_PASSWORD}"));
            cmd.arg("--cert-dir").arg(self.skopeo_cert_dir());
        } else {
            cmd.arg("--tls-verify=false");
        }
        let out = cmd
            .arg(format!("docker://{}", self.reference(repo_tag)))
            .output()
            .expect("run skopeo (scripts/test installs it)");
        assert!(
            out.status.success(),
            "skopeo inspect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = serde_json::from_slice(&out.stdout).unwrap();
        (out.stdout, json)
    }

    /// A folder with the CA as skopeo wants it (`*.crt`).
    fn skopeo_cert_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("skopeo-certs");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(self.ca_file(), dir.join("ca.crt")).unwrap();
        dir
    }

    /// Stores a blob through the registry API (a monolithic upload); returns its digest.
    pub async fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        assert!(!self.secure, "raw uploads go to the plain registry");
        use sha2::Digest;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        let client = reqwest::Client::new();
        let start = client
            .post(format!("http://{}/v2/{repo}/blobs/uploads/", self.host()))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 202, "start upload");
        let location = start.headers()["location"].to_str().unwrap().to_owned();
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = if location.starts_with("http") {
            format!("{location}{sep}digest={digest}")
        } else {
            format!("http://{}{location}{sep}digest={digest}", self.host())
        };
        let put = client.put(url).body(bytes.to_vec()).send().await.unwrap();
        assert_eq!(put.status(), 201, "finish upload");
        digest
    }

    /// Stores an image as `repo:tag`: `config` (an OCI image config), then each layer
    /// (media type, bytes) in order, then a manifest naming them with `annotations`.
    pub async fn put_image(
        &self,
        repo: &str,
        tag: &str,
        config: &serde_json::Value,
        layers: &[(&str, &[u8])],
        annotations: serde_json::Value,
    ) {
        let config = serde_json::to_vec(config).unwrap();
        let config_digest = self.put_blob(repo, &config).await;
        let mut descriptors = Vec::new();
        for (media_type, bytes) in layers {
            let digest = self.put_blob(repo, bytes).await;
            descriptors.push(serde_json::json!({
                "mediaType": media_type, "digest": digest, "size": bytes.len(),
            }));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": descriptors,
            "annotations": annotations,
        });
        self.put_manifest(repo, tag, &manifest).await;
    }

    /// Stores `manifest` as `repo:tag` through the registry API.
    pub async fn put_manifest(&self, repo: &str, tag: &str, manifest: &serde_json::Value) {
        let response = reqwest::Client::new()
            .put(format!("http://{}/v2/{repo}/manifests/{tag}", self.host()))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(serde_json::to_vec(manifest).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "put manifest");
    }
}

impl Drop for DockerRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `wisp` with `args` in `cwd` with extra environment; returns (success, stdout,
/// stderr).
pub fn wisp_with_env(args: &[&str], env: &[(&str, &Path)]) -> (bool, String, String) {
    let out = Command::new(crate::harness::wisp_bin())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run wisp");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
