//! The TLS connector for PostgreSQL: rustls with the webpki roots, plus one extra CA
//! root when a guest supplies it.

use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

/// Parses the PEM certificates in `pem`; an error when there are none or one is damaged.
pub(crate) fn parse_ca_root(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    crate::tls::parse_certificates(pem.as_bytes()).map_err(|e| format!("CA root {e}"))
}

/// A connector trusting the webpki roots and `ca_root`.
pub(crate) fn connector(ca_root: Option<&str>) -> Result<MakeRustlsConnect, String> {
    let extra = ca_root.map(parse_ca_root).transpose()?.unwrap_or_default();
    Ok(MakeRustlsConnect::new(crate::tls::client_config(
        true, &extra, None,
    )?))
}
