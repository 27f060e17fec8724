//! Spin's `runtime-config.toml`: which backend serves each key-value store label and each
//! SQLite database label, client TLS per component and host (`[[client_tls]]`), the
//! outbound HTTP client's pooling (`[outbound_http]`), and the networks no component may
//! reach (`[outbound_networking] block_networks`). Relative paths are resolved against
//! the file's folder.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wisp_manifest::outbound::BlockedNetworks;

/// A parsed runtime config.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// `[key_value_store.<label>]` entries.
    pub key_value_stores: BTreeMap<String, KeyValueBackendConfig>,
    /// `[sqlite_database.<label>]` entries.
    pub sqlite_databases: BTreeMap<String, SqliteDatabaseConfig>,
    /// `[[client_tls]]` entries, in file order (the first that matches a host wins).
    pub client_tls: Vec<ClientTlsConfig>,
    /// `[outbound_http]`.
    pub outbound_http: OutboundHttpConfig,
    /// `[outbound_networking] block_networks`: refused for every component and client.
    pub block_networks: BlockedNetworks,
}

/// One `[[client_tls]]` entry: how some components verify, and identify themselves to,
/// some hosts over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsConfig {
    /// The components it applies to.
    pub component_ids: Vec<String>,
    /// `host` (any port) or `host:port` names it applies to.
    pub hosts: Vec<String>,
    /// Whether the webpki roots stay trusted (default: only when no `ca_roots_file`).
    pub ca_use_webpki_roots: bool,
    /// Extra CA roots (PEM).
    pub ca_roots_file: Option<PathBuf>,
    /// The client certificate chain (PEM) and its private key (PEM), for mutual TLS.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// `[outbound_http]`: the outbound HTTP client's knobs (Spin's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundHttpConfig {
    /// Whether connections are kept and reused between requests (default true).
    pub connection_pooling: bool,
    /// Requests the whole app may have in flight at once; further ones wait.
    pub max_concurrent_requests: Option<usize>,
}

impl Default for OutboundHttpConfig {
    fn default() -> Self {
        Self {
            connection_pooling: true,
            max_concurrent_requests: None,
        }
    }
}

/// Where one key-value label lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValueBackendConfig {
    /// `type = "spin"`: a SQLite file (`path`), or in memory when no path is given.
    Sqlite {
        /// The database file; `None` keeps the data in memory.
        path: Option<PathBuf>,
    },
    /// `type = "redis"`.
    Redis {
        /// `redis://…` URL.
        url: String,
    },
    /// `type = "memory"`: a map in the process, gone at exit (for tests).
    Memory,
}

/// Where one SQLite database label lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteDatabaseConfig {
    /// The file; `None` keeps the database in memory.
    pub path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawKv>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawSqlite>,
    #[serde(default)]
    client_tls: Vec<RawClientTls>,
    #[serde(default)]
    outbound_http: Option<RawOutboundHttp>,
    #[serde(default)]
    outbound_networking: Option<RawOutboundNetworking>,
}

/// `[outbound_networking]`. Spin's connection caps (`max_socket_connections`,
/// `max_total_connections`) are not read: an unknown field is an error, not a silently
/// ignored limit.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutboundNetworking {
    #[serde(default)]
    block_networks: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClientTls {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    ca_use_webpki_roots: Option<bool>,
    ca_roots_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_private_key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutboundHttp {
    connection_pooling: Option<bool>,
    max_concurrent_requests: Option<usize>,
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RawKv {
    #[serde(rename = "spin")]
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    #[serde(rename = "redis")]
    Redis { url: String },
    #[serde(rename = "memory")]
    Memory,
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RawSqlite {
    #[serde(rename = "spin")]
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
}

/// A runtime-config problem, with the file and line.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RuntimeConfigError {
    /// The runtime-config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl RuntimeConfig {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, RuntimeConfigError> {
        let text = wisp_manifest::read::read_text_capped(path).map_err(|e| RuntimeConfigError {
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read the runtime config: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses runtime-config `text` as if read from `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Self, RuntimeConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| {
                text.as_bytes()[..s.start.min(text.len())]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1
            });
            let message = e.message().trim().replace('\n', " ");
            RuntimeConfigError {
                file: path.to_path_buf(),
                line,
                message,
            }
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        let bad = |message: String| RuntimeConfigError {
            file: path.to_path_buf(),
            line: None,
            message,
        };
        let client_tls = raw
            .client_tls
            .into_iter()
            .enumerate()
            .map(|(i, entry)| {
                client_tls_entry(entry, &resolve)
                    .map_err(|why| bad(format!("[[client_tls]] entry {}: {why}", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let outbound_http = match raw.outbound_http {
            None => OutboundHttpConfig::default(),
            Some(RawOutboundHttp {
                connection_pooling,
                max_concurrent_requests,
            }) => {
                if max_concurrent_requests == Some(0) {
                    return Err(bad(
                        "[outbound_http] max_concurrent_requests must be at least 1".into(),
                    ));
                }
                OutboundHttpConfig {
                    connection_pooling: connection_pooling.unwrap_or(true),
                    max_concurrent_requests,
                }
            }
        };
        let block_networks = match raw.outbound_networking {
            None => BlockedNetworks::default(),
            Some(n) => BlockedNetworks::parse(&n.block_networks)
                .map_err(|why| bad(format!("[outbound_networking] block_networks: {why}")))?,
        };
        Ok(Self {
            client_tls,
            outbound_http,
            block_networks,
            key_value_stores: raw
                .key_value_store
                .into_iter()
                .map(|(label, kv)| {
                    let backend = match kv {
                        RawKv::Spin { path } => KeyValueBackendConfig::Sqlite {
                            path: path.map(resolve),
                        },
                        RawKv::Redis { url } => KeyValueBackendConfig::Redis { url },
                        RawKv::Memory => KeyValueBackendConfig::Memory,
                    };
                    (label, backend)
                })
                .collect(),
            sqlite_databases: raw
                .sqlite_database
                .into_iter()
                .map(|(label, RawSqlite::Spin { path })| {
                    (
                        label,
                        SqliteDatabaseConfig {
                            path: path.map(resolve),
                        },
                    )
                })
                .collect(),
        })
    }
}

/// Validates one `[[client_tls]]` entry and resolves its paths (Spin's rules).
fn client_tls_entry(
    raw: RawClientTls,
    resolve: &impl Fn(PathBuf) -> PathBuf,
) -> Result<ClientTlsConfig, String> {
    if raw.component_ids.is_empty() {
        return Err("`component_ids` may not be empty".into());
    }
    if raw.hosts.is_empty() {
        return Err("`hosts` may not be empty".into());
    }
    for host in &raw.hosts {
        crate::tls::TlsHost::parse(host)?;
    }
    let client_identity = match (raw.client_cert_file, raw.client_private_key_file) {
        (Some(cert), Some(key)) => Some((resolve(cert), resolve(key))),
        (None, None) => None,
        (Some(_), None) => return Err("`client_cert_file` needs `client_private_key_file`".into()),
        (None, Some(_)) => return Err("`client_private_key_file` needs `client_cert_file`".into()),
    };
    Ok(ClientTlsConfig {
        component_ids: raw.component_ids,
        hosts: raw.hosts,
        // As in Spin: the webpki roots stay trusted unless the entry brings its own.
        ca_use_webpki_roots: raw
            .ca_use_webpki_roots
            .unwrap_or(raw.ca_roots_file.is_none()),
        ca_roots_file: raw.ca_roots_file.map(resolve),
        client_identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_runtime_config_maps_labels_to_backends() {
        let rc = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379"

[key_value_store.local]
type = "spin"
path = "data/kv.db"

[key_value_store.scratch]
type = "memory"

[sqlite_database.reports]
type = "spin"
path = "/abs/reports.db"
"#,
            Path::new("/app/runtime-config.toml"),
        )
        .unwrap();
        assert_eq!(
            rc.key_value_stores["default"],
            KeyValueBackendConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            rc.key_value_stores["local"],
            KeyValueBackendConfig::Sqlite {
                path: Some("/app/data/kv.db".into())
            }
        );
        assert_eq!(
            rc.key_value_stores["scratch"],
            KeyValueBackendConfig::Memory
        );
        assert_eq!(
            rc.sqlite_databases["reports"].path.as_deref(),
            Some(Path::new("/abs/reports.db"))
        );
    }

    #[test]
    fn client_tls_and_outbound_http_follow_spins_shape() {
        let rc = RuntimeConfig::parse(
            r#"
[outbound_http]
connection_pooling = false
max_concurrent_requests = 8

[[client_tls]]
component_ids = ["api"]
hosts = ["example.com", "10.0.0.1:8443"]
ca_roots_file = "certs/ca.pem"
client_cert_file = "certs/client.pem"
client_private_key_file = "/keys/client.key"

[[client_tls]]
component_ids = ["api", "worker"]
hosts = ["other.example.com"]
"#,
            Path::new("/app/runtime-config.toml"),
        )
        .unwrap();
        assert_eq!(
            rc.outbound_http,
            OutboundHttpConfig {
                connection_pooling: false,
                max_concurrent_requests: Some(8)
            }
        );
        assert_eq!(rc.client_tls.len(), 2);
        let first = &rc.client_tls[0];
        assert_eq!(first.hosts, ["example.com", "10.0.0.1:8443"]);
        assert!(
            !first.ca_use_webpki_roots,
            "own roots replace webpki by default"
        );
        assert_eq!(
            first.ca_roots_file.as_deref(),
            Some(Path::new("/app/certs/ca.pem"))
        );
        assert_eq!(
            first.client_identity,
            Some(("/app/certs/client.pem".into(), "/keys/client.key".into()))
        );
        assert!(rc.client_tls[1].ca_use_webpki_roots);
        assert_eq!(rc.client_tls[1].client_identity, None);
        assert_eq!(
            RuntimeConfig::default().outbound_http,
            OutboundHttpConfig {
                connection_pooling: true,
                max_concurrent_requests: None
            }
        );
    }

    #[test]
    fn bad_client_tls_entries_are_named() {
        let p = Path::new("/app/rc.toml");
        let cases = [
            (
                "component_ids = []\nhosts = [\"a.com\"]",
                "entry 1: `component_ids` may not be empty",
            ),
            (
                "component_ids = [\"a\"]\nhosts = []",
                "`hosts` may not be empty",
            ),
            (
                "component_ids = [\"a\"]\nhosts = [\"https://a.com\"]",
                "`https://a.com`",
            ),
            (
                "component_ids = [\"a\"]\nhosts = [\"a.com:x\"]",
                "`a.com:x`",
            ),
            (
                "component_ids = [\"a\"]\nhosts = [\"a.com\"]\nclient_cert_file = \"c.pem\"",
                "`client_cert_file` needs `client_private_key_file`",
            ),
            (
                "component_ids = [\"a\"]\nhosts = [\"a.com\"]\nca_file = \"x\"",
                "unknown field `ca_file`",
            ),
        ];
        for (entry, expected) in cases {
            let e = RuntimeConfig::parse(&format!("[[client_tls]]\n{entry}\n"), p)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{entry}: {e}");
        }
        let e = RuntimeConfig::parse("[outbound_http]\nmax_concurrent_requests = 0\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 1"), "{e}");
    }

    #[test]
    fn bad_configs_are_located() {
        let p = Path::new("/app/rc.toml");
        let e = RuntimeConfig::parse("[key_value_store.x]\ntype = \"dynamo\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/app/rc.toml:2:")
                && e.contains("unknown variant `dynamo`, expected one of"),
            "{e}"
        );
        let e = RuntimeConfig::parse("[key_value_store.x]\ntype = \"redis\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `url`"), "{e}");
        let e = RuntimeConfig::parse("[llm_compute]\ntype = \"x\"\n", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `llm_compute`"), "{e}");
        let e = RuntimeConfig::parse("not = = toml", p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("rc.toml:1:"), "{e}");
    }
}
