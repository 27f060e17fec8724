//! The registry connection: which protocol and certificates, and whose credentials.
//! Credentials come from where docker and Spin keep them (`$DOCKER_CONFIG/config.json`,
//! default `~/.docker/config.json`, and the credential helpers it names); `wisp registry
//! login` writes there too.

use crate::cache::BlobCache;
use crate::error::OciError;
use base64::Engine;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use std::path::PathBuf;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Allow plain HTTP and TLS certificates that do not verify (`-k`).
    pub insecure: bool,
    /// Where pulled blobs and materialized apps are kept.
    pub cache: BlobCache,
}

/// A client for one registry reference's registry.
pub struct Registry {
    pub(crate) client: oci_client::Client,
    pub(crate) cache: BlobCache,
    pub(crate) auth: RegistryAuth,
    /// Host and port, for messages.
    pub(crate) registry: String,
}

/// Parses an image reference (`registry/repo:tag`, `registry/repo@sha256:…`).
pub fn parse_reference(reference: &str) -> Result<Reference, OciError> {
    reference
        .parse::<Reference>()
        .map_err(|e| OciError::BadReference {
            reference: reference.to_owned(),
            why: e.to_string(),
        })
}

/// Whether `text` reads as a registry reference rather than a local path: it parses as
/// one and names a registry host (a `.` or `:` in its first part, or `localhost`), as
/// `ghcr.io/org/app:v1` and `localhost:5000/app@sha256:…` do.
pub fn looks_like_reference(text: &str) -> bool {
    let Some((first, rest)) = text.split_once('/') else {
        return false;
    };
    let host_like = first.contains('.') || first.contains(':') || first == "localhost";
    host_like && !rest.is_empty() && parse_reference(text).is_ok()
}

impl Registry {
    /// A client for `reference`'s registry. With `insecure`, the registry is probed:
    /// HTTPS (any certificate) if it speaks TLS, else plain HTTP.
    pub async fn connect(
        reference: &Reference,
        options: &RegistryOptions,
        operation: RegistryOperation,
    ) -> Result<Self, OciError> {
        install_crypto_provider();
        let registry = reference.resolve_registry().to_owned();
        let auth = credentials(&registry);
        let extra_roots = extra_root_certificates()?;
        let config = |protocol| client_config(protocol, options.insecure, &extra_roots);
        let client = oci_client::Client::new(config(ClientProtocol::Https));
        let whole = reference.whole();
        let client = match client.auth(reference, &auth, operation).await {
            Ok(_) => client,
            Err(e) => match OciError::from_client(e, &registry, &whole) {
                // `-k`: a registry that does not speak TLS is tried over plain HTTP.
                OciError::Unreachable { .. } if options.insecure => {
                    tracing::debug!(%registry, "no TLS; trying plain HTTP");
                    let plain = oci_client::Client::new(config(ClientProtocol::Http));
                    plain
                        .auth(reference, &auth, operation)
                        .await
                        .map_err(|e| OciError::from_client(e, &registry, &whole))?;
                    plain
                }
                OciError::Unreachable { registry, why } if why.contains("certificate") => {
                    return Err(OciError::Unreachable {
                        why: format!(
                            "{why} (trust its CA with SSL_CERT_FILE, or pass -k/--insecure)"
                        ),
                        registry,
                    });
                }
                other => return Err(other),
            },
        };
        Ok(Self {
            client,
            cache: options.cache.clone(),
            auth,
            registry,
        })
    }

    /// Classifies a client failure about `reference`.
    pub(crate) fn fail(
        &self,
        reference: &Reference,
    ) -> impl Fn(oci_client::errors::OciDistributionError) -> OciError + '_ {
        let whole = reference.whole();
        move |e| OciError::from_client(e, &self.registry, &whole)
    }
}

/// How every registry client here is configured: the protocol, whether certificates may
/// fail to verify, the extra CAs, and timeouts so a silent registry cannot hang a pull.
fn client_config(protocol: ClientProtocol, insecure: bool, roots: &[Certificate]) -> ClientConfig {
    ClientConfig {
        protocol,
        accept_invalid_certificates: insecure,
        extra_root_certificates: roots.to_vec(),
        connect_timeout: Some(std::time::Duration::from_secs(10)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        ..Default::default()
    }
}

/// Makes ring the process's rustls provider (once; a no-op if one is set), which the
/// registry client's TLS uses.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The credentials docker's config (or its credential helper) holds for `registry`;
/// anonymous when there are none.
fn credentials(registry: &str) -> RegistryAuth {
    match docker_credential::get_credential(registry) {
        Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Ok(docker_credential::DockerCredential::IdentityToken(_)) => {
            tracing::warn!(%registry, "identity tokens are not supported; pulling anonymously");
            RegistryAuth::Anonymous
        }
        Err(e) => {
            tracing::debug!(%registry, error = %e, "no stored credentials");
            RegistryAuth::Anonymous
        }
    }
}

/// CA certificates from `SSL_CERT_FILE`, trusted beside the system's.
fn extra_root_certificates() -> Result<Vec<Certificate>, OciError> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from) else {
        return Ok(Vec::new());
    };
    let data = std::fs::read(&path).map_err(OciError::io(&path))?;
    Ok(vec![Certificate {
        encoding: CertificateEncoding::Pem,
        data,
    }])
}

/// The docker config file credentials are kept in.
pub fn docker_config_path() -> Result<PathBuf, OciError> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => dirs::home_dir()
            .ok_or_else(|| OciError::Invalid("no home folder to keep credentials in".into()))?
            .join(".docker"),
    };
    Ok(dir.join("config.json"))
}

/// `wisp registry login`: checks the credentials against `server`, then stores them in
/// the docker config (keeping everything else in it). Returns the file written.
pub async fn login(
    server: &str,
    user: &str,
    password: &str,
    insecure: bool,
) -> Result<PathBuf, OciError> {
    let server = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let server = if server == "docker.io" {
        "index.docker.io"
    } else {
        server
    };
    check_credentials(server, user, password, insecure).await?;
    let path = docker_config_path()?;
    let mut config: serde_json::Value = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| OciError::Invalid(format!("{} is not valid JSON: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(OciError::io(&path)(e)),
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let root = config
        .as_object_mut()
        .ok_or_else(|| OciError::Invalid(format!("{} is not a JSON object", path.display())))?;
    let auths = root
        .entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| {
            OciError::Invalid(format!("`auths` in {} is not an object", path.display()))
        })?;
    auths.insert(server.to_owned(), serde_json::json!({ "auth": encoded }));
    write_private(
        &path,
        &serde_json::to_vec_pretty(&config).expect("JSON serializes"),
    )?;
    Ok(path)
}

/// Asks the registry's catalog with the credentials: a 401 means they are wrong.
async fn check_credentials(
    server: &str,
    user: &str,
    password: &str,
    insecure: bool,
) -> Result<(), OciError> {
    install_crypto_provider();
    let probe = parse_reference(&format!("{server}/wisp-login-check:latest"))?;
    let auth = RegistryAuth::Basic(user.to_owned(), password.to_owned());
    let protocols = if insecure {
        vec![ClientProtocol::Https, ClientProtocol::Http]
    } else {
        vec![ClientProtocol::Https]
    };
    let extra_roots = extra_root_certificates()?;
    let mut last = None;
    for protocol in protocols {
        let client = oci_client::Client::new(client_config(protocol, insecure, &extra_roots));
        match client.catalog(&probe, &auth, Some(1), None).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                let err = OciError::from_client(e, server, server);
                match err {
                    OciError::Unauthorized { .. } => return Err(err),
                    // A registry without a catalog (ghcr.io) still authenticated us.
                    OciError::NotFound { .. } | OciError::Registry(_) => return Ok(()),
                    other => last = Some(other),
                }
            }
        }
    }
    Err(last.expect("at least one protocol was tried"))
}

/// Writes a file only its owner can read: it holds passwords.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), OciError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let parent = path.parent().expect("the config path has a folder");
    std::fs::create_dir_all(parent).map_err(OciError::io(parent))?;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(OciError::io(&tmp))?;
    file.write_all(bytes).map_err(OciError::io(&tmp))?;
    file.sync_all().map_err(OciError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(OciError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_told_from_paths() {
        for reference in [
            "ghcr.io/org/app:v1",
            "localhost:5000/hello:v1",
            "localhost/hello",
            "127.0.0.1:5000/a/b@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ] {
            assert!(looks_like_reference(reference), "{reference}");
        }
        for path in [
            "spin.toml",
            "examples/hello-rust",
            "./app",
            "app.wasm",
            "/tmp/x/spin.toml",
        ] {
            assert!(!looks_like_reference(path), "{path}");
        }
    }
}
