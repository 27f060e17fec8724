//! The TLS connector for PostgreSQL: rustls with the webpki roots, plus one extra CA
//! root when a guest supplies it.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Parses the PEM certificates in `pem`; an error when there are none or one is damaged.
pub(crate) fn parse_ca_root(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA root is not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("CA root holds no `-----BEGIN CERTIFICATE-----` block".into());
    }
    Ok(certs)
}

/// A connector trusting the webpki roots and `ca_root`.
pub(crate) fn connector(ca_root: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = ca_root {
        for cert in parse_ca_root(pem)? {
            roots
                .add(cert)
                .map_err(|e| format!("CA root is not usable: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
