//! Spin's `runtime-config.toml`: which backend serves each key-value store label and each
//! SQLite database label. Relative paths are resolved against the file's folder.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed runtime config.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    /// `[key_value_store.<label>]` entries.
    pub key_value_stores: BTreeMap<String, KeyValueBackendConfig>,
    /// `[sqlite_database.<label>]` entries.
    pub sqlite_databases: BTreeMap<String, SqliteDatabaseConfig>,
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
        let text = std::fs::read_to_string(path).map_err(|e| RuntimeConfigError {
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
        Ok(Self {
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
