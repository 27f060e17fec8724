//! The TLS connector for PostgreSQL: the component's `[[client_tls]]` settings for the
//! server (the webpki roots by default), plus one extra CA root when a guest supplies it
//! through version 4's `connection-builder`.

use crate::tls::TlsSettings;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Parses the PEM certificates in `pem`; an error when there are none or one is damaged.
pub(crate) fn parse_ca_root(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    crate::tls::parse_certificates(pem.as_bytes()).map_err(|e| format!("CA root {e}"))
}

/// A connector with `settings` and, when given, `ca_root` trusted besides.
pub(crate) fn connector(
    settings: &TlsSettings,
    ca_root: Option<&str>,
) -> Result<MakeRustlsConnect, String> {
    let Some(ca_root) = ca_root else {
        return Ok(MakeRustlsConnect::new((*settings.config).clone()));
    };
    let mut roots = parse_ca_root(ca_root)?;
    if let Some(pem) = &settings.ca_roots_pem {
        roots.extend(crate::tls::parse_certificates(pem)?);
    }
    let identity = match &settings.identity_pem {
        Some((cert, key)) => Some((
            crate::tls::parse_certificates(cert)?,
            PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("client key: {e}"))?,
        )),
        None => None,
    };
    Ok(MakeRustlsConnect::new(crate::tls::client_config(
        settings.use_webpki_roots,
        &roots,
        identity,
    )?))
}
