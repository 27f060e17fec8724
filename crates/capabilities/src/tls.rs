//! Client TLS for a component's outbound connections (HTTPS, `rediss://`, MySQL with
//! `require_ssl`, `mqtts://`): the webpki roots by default, and what Spin's
//! `[[client_tls]]` runtime config adds for some components and hosts — extra CA roots,
//! dropping the webpki roots, a client certificate for mutual TLS. Every setting is
//! built once at load into a rustls `ClientConfig` (ring provider) and kept with the PEM
//! it came from, for client crates that take PEM.

use crate::runtime_config::ClientTlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

/// A `[[client_tls]]` host: a name or IP, and optionally the one port it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsHost {
    host: String,
    port: Option<u16>,
}

impl TlsHost {
    /// Parses `host`, `host:port` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("host `{text}` is not `host` or `host:port`");
        if text.is_empty() || text.contains(['/', '@', '?', '#', ' ']) {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = text.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else if text.matches(':').count() > 1 {
            (text, None) // a bare IPv6 address
        } else {
            match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        };
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| bad()))
            .transpose()?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether this entry covers a connection to `host:port`.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.host.eq_ignore_ascii_case(host) && self.port.is_none_or(|p| p == port)
    }
}

/// One TLS client setting, ready for any client crate.
#[derive(Debug)]
pub struct TlsSettings {
    /// Which setting this is: 0 for the default, else the `[[client_tls]]` entry's
    /// 1-based position. Pools key connections by it, so connections made with one
    /// identity are never handed to a component using another.
    pub id: usize,
    /// The rustls configuration (roots, client certificate).
    pub config: Arc<rustls::ClientConfig>,
    /// Whether the webpki roots are trusted.
    pub use_webpki_roots: bool,
    /// The extra CA roots, as PEM.
    pub ca_roots_pem: Option<Vec<u8>>,
    /// The client certificate chain and private key, as PEM.
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsSettings {
    /// Whether this is the setting used where no `[[client_tls]]` entry applies.
    pub fn is_default(&self) -> bool {
        self.id == 0
    }
}

/// The setting used where no `[[client_tls]]` entry applies: the webpki roots.
pub fn default_settings() -> Arc<TlsSettings> {
    static DEFAULT: LazyLock<Arc<TlsSettings>> = LazyLock::new(|| {
        Arc::new(TlsSettings {
            id: 0,
            config: Arc::new(
                client_config(true, &[], None).expect("the webpki roots make a valid config"),
            ),
            use_webpki_roots: true,
            ca_roots_pem: None,
            identity_pem: None,
        })
    });
    DEFAULT.clone()
}

/// A rustls client configuration trusting the webpki roots (when `webpki`) and
/// `extra_roots`, presenting `identity` when the server asks for a client certificate.
pub fn client_config(
    webpki: bool,
    extra_roots: &[CertificateDer<'static>],
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if webpki {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| format!("CA root is not usable: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate and key do not fit together: {e}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// Parses the PEM certificates in `pem`; an error when there are none or one is damaged.
pub fn parse_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    if certs.is_empty() {
        return Err("holds no `-----BEGIN CERTIFICATE-----` block".into());
    }
    Ok(certs)
}

/// The TLS settings of one component: its `[[client_tls]]` entries in file order.
#[derive(Debug, Default)]
pub struct ComponentTls {
    entries: Vec<(TlsHost, Arc<TlsSettings>)>,
}

impl ComponentTls {
    /// The setting for a connection to `host:port`: the first entry naming it, else the
    /// default.
    pub fn for_host(&self, host: &str, port: u16) -> Arc<TlsSettings> {
        self.entries
            .iter()
            .find(|(h, _)| h.matches(host, port))
            .map(|(_, s)| s.clone())
            .unwrap_or_else(default_settings)
    }
}

/// Every component's TLS settings, built from the runtime config at load.
#[derive(Debug, Default)]
pub struct AppTls {
    by_component: HashMap<String, Arc<ComponentTls>>,
}

impl AppTls {
    /// Reads every file `[[client_tls]]` names and builds its configuration; a missing
    /// or damaged file is an error naming the entry and the file.
    pub fn load(entries: &[ClientTlsConfig]) -> Result<Self, String> {
        let mut by_component: HashMap<String, ComponentTls> = HashMap::new();
        for (index, entry) in entries.iter().enumerate() {
            let settings = Arc::new(
                settings(index + 1, entry)
                    .map_err(|why| format!("[[client_tls]] entry {}: {why}", index + 1))?,
            );
            for id in &entry.component_ids {
                let tls = by_component.entry(id.clone()).or_default();
                for host in &entry.hosts {
                    let host = TlsHost::parse(host)?;
                    tls.entries.push((host, settings.clone()));
                }
            }
        }
        Ok(Self {
            by_component: by_component
                .into_iter()
                .map(|(id, tls)| (id, Arc::new(tls)))
                .collect(),
        })
    }

    /// The component ids the entries name.
    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.by_component.keys().map(String::as_str)
    }

    /// `component`'s settings (empty: the default everywhere).
    pub fn for_component(&self, component: &str) -> Arc<ComponentTls> {
        self.by_component
            .get(component)
            .cloned()
            .unwrap_or_default()
    }
}

impl crate::capability::Capability for AppTls {
    type Grant = Arc<ComponentTls>;
    type Instance = ();

    async fn load(
        ctx: &crate::capability::LoadContext<'_>,
    ) -> Result<Self, crate::CapabilityError> {
        let tls = Self::load(&ctx.options.runtime_config.client_tls)
            .map_err(crate::CapabilityError::Config)?;
        for id in tls.component_ids() {
            if !ctx.app.components.iter().any(|c| c.id == id) {
                tracing::warn!(
                    "[[client_tls]] names component `{id}`, which the app does not have"
                );
            }
        }
        Ok(tls)
    }

    fn grant(&self, component: &wisp_manifest::Component) -> Self::Grant {
        self.for_component(&component.id)
    }

    // No `add_to_linker`: settings, not interfaces; the clients that connect use them.
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    wisp_manifest::read::read_capped(path, wisp_manifest::read::MAX_TEXT_FILE)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// A certificate chain and its private key, read from PEM files, with the PEM itself.
pub struct PemIdentity {
    /// The certificates, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// The certificate file's bytes.
    pub cert_pem: Vec<u8>,
    /// The key file's bytes.
    pub key_pem: Vec<u8>,
}

/// Reads a certificate chain and its key (a client identity, or a listener's); a missing,
/// oversized or damaged file is an error naming it.
pub fn read_identity(cert_path: &Path, key_path: &Path) -> Result<PemIdentity, String> {
    let cert_pem = read(cert_path)?;
    let key_pem = read(key_path)?;
    let chain =
        parse_certificates(&cert_pem).map_err(|e| format!("`{}` {e}", cert_path.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("`{}` is not a PEM private key: {e}", key_path.display()))?;
    Ok(PemIdentity {
        chain,
        key,
        cert_pem,
        key_pem,
    })
}

fn settings(id: usize, entry: &ClientTlsConfig) -> Result<TlsSettings, String> {
    let ca_roots_pem = entry.ca_roots_file.as_deref().map(read).transpose()?;
    let roots = match (&ca_roots_pem, &entry.ca_roots_file) {
        (Some(pem), Some(path)) => {
            parse_certificates(pem).map_err(|e| format!("`{}` {e}", path.display()))?
        }
        _ => Vec::new(),
    };
    let (identity, identity_pem) = match &entry.client_identity {
        Some((cert_path, key_path)) => {
            let identity = read_identity(cert_path, key_path)?;
            (
                Some((identity.chain, identity.key)),
                Some((identity.cert_pem, identity.key_pem)),
            )
        }
        None => (None, None),
    };
    Ok(TlsSettings {
        id,
        config: Arc::new(client_config(entry.ca_use_webpki_roots, &roots, identity)?),
        use_webpki_roots: entry.ca_use_webpki_roots,
        ca_roots_pem,
        identity_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_by_name_and_optional_port() {
        let any_port = TlsHost::parse("Example.com").unwrap();
        assert!(any_port.matches("example.com", 443));
        assert!(any_port.matches("EXAMPLE.com", 8443));
        assert!(!any_port.matches("api.example.com", 443));
        let one_port = TlsHost::parse("10.0.0.1:8443").unwrap();
        assert!(one_port.matches("10.0.0.1", 8443));
        assert!(!one_port.matches("10.0.0.1", 443));
        let v6 = TlsHost::parse("[::1]:8443").unwrap();
        assert!(v6.matches("[::1]", 8443));
        assert!(v6.matches("::1", 8443));
        assert!(TlsHost::parse("::1").unwrap().matches("::1", 1));
        for bad in [
            "",
            "https://a.com",
            "a.com/x",
            "a.com:",
            "a.com:99999",
            "[::1",
            ":80",
        ] {
            assert!(TlsHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_apply_to_their_components_first_match_wins() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let ca_path = dir.path().join("ca.pem");
        std::fs::write(&ca_path, ca.cert.pem()).unwrap();
        let entry = |hosts: &[&str], roots: Option<&Path>| ClientTlsConfig {
            component_ids: vec!["api".into()],
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ca_use_webpki_roots: roots.is_none(),
            ca_roots_file: roots.map(Path::to_path_buf),
            client_identity: None,
        };
        let tls = AppTls::load(&[
            entry(&["localhost:8443"], Some(&ca_path)),
            entry(&["localhost"], None),
        ])
        .unwrap();
        let api = tls.for_component("api");
        assert_eq!(api.for_host("localhost", 8443).id, 1);
        assert!(api.for_host("localhost", 8443).ca_roots_pem.is_some());
        assert_eq!(api.for_host("localhost", 443).id, 2);
        assert_eq!(api.for_host("example.com", 443).id, 0);
        assert_eq!(tls.for_component("other").for_host("localhost", 8443).id, 0);

        let missing =
            AppTls::load(&[entry(&["a"], Some(&dir.path().join("nope.pem")))]).unwrap_err();
        assert!(missing.contains("entry 1: cannot read") && missing.contains("nope.pem"));
        let not_pem = dir.path().join("junk.pem");
        std::fs::write(&not_pem, "junk").unwrap();
        let junk = AppTls::load(&[entry(&["a"], Some(&not_pem))]).unwrap_err();
        assert!(junk.contains("junk.pem` holds no"), "{junk}");
    }
}
