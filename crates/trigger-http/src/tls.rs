//! TLS on the listener: a certificate chain and key read once at start into a rustls
//! server configuration (ring provider, TLS 1.2 and 1.3), offering HTTP/2 and HTTP/1.1
//! by ALPN.

use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Why the listener's TLS identity could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing, too large or not PEM of the right kind.
    #[error("TLS: {0}")]
    Read(String),
    /// rustls refused the certificate or key, e.g. because they do not belong together.
    #[error("TLS: the certificate `{cert}` and key `{key}` cannot be used together: {source}")]
    Refused {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// The identity a listener terminates TLS with.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// Reads the PEM certificate chain (leaf first) at `cert` and the PEM private key at
    /// `key` (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let identity = wisp_capabilities::tls::read_identity(cert, key).map_err(TlsError::Read)?;
        let refused = |source| TlsError::Refused {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
            source,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .map_err(refused)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The acceptor that runs the handshake on each connection.
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_certificate_and_its_key_make_an_identity_offering_h2_and_http1() {
        let dir = tempfile::tempdir().unwrap();
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = write(dir.path(), "cert.pem", &issued.cert.pem());
        let key = write(dir.path(), "key.pem", &issued.signing_key.serialize_pem());
        let tls = ServerTls::from_pem_files(&cert, &key).unwrap();
        assert_eq!(
            tls.acceptor().config().alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn bad_files_are_errors_that_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let cert = write(dir.path(), "cert.pem", &issued.cert.pem());
        let key = write(dir.path(), "key.pem", &issued.signing_key.serialize_pem());
        let other_key = write(dir.path(), "other.pem", &other.signing_key.serialize_pem());
        let junk = write(dir.path(), "junk.pem", "not pem at all");
        let missing = dir.path().join("missing.pem");

        let err = ServerTls::from_pem_files(&missing, &key).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        let err = ServerTls::from_pem_files(&junk, &key).unwrap_err();
        assert!(err.to_string().contains("junk.pem"), "{err}");
        assert!(err.to_string().contains("BEGIN CERTIFICATE"), "{err}");
        let err = ServerTls::from_pem_files(&cert, &junk).unwrap_err();
        assert!(err.to_string().contains("not a PEM private key"), "{err}");
        let err = ServerTls::from_pem_files(&cert, &other_key).unwrap_err();
        assert!(
            matches!(err, TlsError::Refused { .. }),
            "a key of another certificate must be refused: {err}"
        );
    }
}
