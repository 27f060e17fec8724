//! The deployed apps, kept in SQLite in the host's state folder so a restart brings
//! them back. A deploy writes its row in one statement after the new version has
//! loaded, and the snapshot it names was laid out (and renamed into place) before
//! that: a crash at any point leaves either the old row or the new one, each naming a
//! complete snapshot.

use super::PlatformError;
use super::settings::{AppSettings, DeploySource};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// One deployed app as stored.
#[derive(Debug, Clone)]
pub struct DeploymentRecord {
    /// The app's name.
    pub name: String,
    /// Where its code came from.
    pub source: DeploySource,
    /// Its hosts, prefix, environment and variables.
    pub settings: AppSettings,
    /// The artifact digest of the deployed version.
    pub digest: String,
    /// The generated manifest of its snapshot.
    pub manifest: PathBuf,
    /// When it was deployed (seconds since the Unix epoch).
    pub deployed_at: u64,
}

/// The SQLite file of deployments.
pub struct DeploymentStore {
    db: Connection,
}

fn db_error(path: &Path) -> impl FnOnce(rusqlite::Error) -> PlatformError + '_ {
    move |e| PlatformError::State(format!("{}: {e}", path.display()))
}

fn json_error(e: serde_json::Error) -> PlatformError {
    PlatformError::State(format!("a stored deployment does not parse: {e}"))
}

impl DeploymentStore {
    /// Opens (creating) `path`.
    pub fn open(path: &Path) -> Result<Self, PlatformError> {
        let db = Connection::open(path).map_err(db_error(path))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS deployments (
                 name TEXT PRIMARY KEY,
                 source TEXT NOT NULL,
                 settings TEXT NOT NULL,
                 digest TEXT NOT NULL,
                 manifest TEXT NOT NULL,
                 deployed_at INTEGER NOT NULL
             );",
        )
        .map_err(db_error(path))?;
        Ok(Self { db })
    }

    /// Every deployment, by name.
    pub fn all(&self) -> Result<Vec<DeploymentRecord>, PlatformError> {
        let path = PathBuf::from(self.db.path().unwrap_or("deployments"));
        let mut statement = self
            .db
            .prepare(
                "SELECT name, source, settings, digest, manifest, deployed_at
                 FROM deployments ORDER BY name",
            )
            .map_err(db_error(&path))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .map_err(db_error(&path))?;
        let mut records = Vec::new();
        for row in rows {
            let (name, source, settings, digest, manifest, deployed_at) =
                row.map_err(db_error(&path))?;
            records.push(DeploymentRecord {
                name,
                source: serde_json::from_str(&source).map_err(json_error)?,
                settings: serde_json::from_str(&settings).map_err(json_error)?,
                digest,
                manifest: PathBuf::from(manifest),
                deployed_at: u64::try_from(deployed_at).unwrap_or(0),
            });
        }
        Ok(records)
    }

    /// Writes `record`, replacing the app's earlier row, in one statement.
    pub fn put(&self, record: &DeploymentRecord) -> Result<(), PlatformError> {
        let path = PathBuf::from(self.db.path().unwrap_or("deployments"));
        let source = serde_json::to_string(&record.source).map_err(json_error)?;
        let settings = serde_json::to_string(&record.settings).map_err(json_error)?;
        self.db
            .execute(
                "INSERT OR REPLACE INTO deployments
                 (name, source, settings, digest, manifest, deployed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    record.name,
                    source,
                    settings,
                    record.digest,
                    record.manifest.to_string_lossy(),
                    i64::try_from(record.deployed_at).unwrap_or(i64::MAX),
                ],
            )
            .map_err(db_error(&path))?;
        Ok(())
    }

    /// Removes the app's row; whether there was one.
    pub fn remove(&self, name: &str) -> Result<bool, PlatformError> {
        let path = PathBuf::from(self.db.path().unwrap_or("deployments"));
        let removed = self
            .db
            .execute("DELETE FROM deployments WHERE name = ?1", params![name])
            .map_err(db_error(&path))?;
        Ok(removed > 0)
    }

    /// Whether an app of this name is stored.
    pub fn contains(&self, name: &str) -> Result<bool, PlatformError> {
        let path = PathBuf::from(self.db.path().unwrap_or("deployments"));
        self.db
            .query_row(
                "SELECT 1 FROM deployments WHERE name = ?1",
                params![name],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(db_error(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, digest: &str) -> DeploymentRecord {
        DeploymentRecord {
            name: name.to_owned(),
            source: DeploySource::Path("/apps/shop".into()),
            settings: AppSettings {
                hosts: vec!["shop.test".into()],
                route_prefix: Some("/v1".into()),
                env: [("K".to_owned(), "V".to_owned())].into(),
                variables: Default::default(),
                limits: Default::default(),
                runtime_config: Some("[key_value_store.cache]\ntype = \"spin\"\n".into()),
            },
            digest: digest.to_owned(),
            manifest: "/state/apps/x/spin.toml".into(),
            deployed_at: 1_700_000_000,
        }
    }

    #[test]
    fn records_survive_reopening_and_replace_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployments.db");
        {
            let store = DeploymentStore::open(&path).unwrap();
            store.put(&record("shop", "sha256:1")).unwrap();
            store.put(&record("blog", "sha256:2")).unwrap();
            store.put(&record("shop", "sha256:3")).unwrap();
        }
        let store = DeploymentStore::open(&path).unwrap();
        let all = store.all().unwrap();
        let names: Vec<_> = all
            .iter()
            .map(|r| (r.name.as_str(), r.digest.as_str()))
            .collect();
        assert_eq!(names, [("blog", "sha256:2"), ("shop", "sha256:3")]);
        assert_eq!(all[1].settings, record("shop", "").settings);
        assert_eq!(all[1].source, DeploySource::Path("/apps/shop".into()));
        assert!(store.contains("shop").unwrap());
        assert!(store.remove("shop").unwrap());
        assert!(!store.remove("shop").unwrap());
        assert!(!store.contains("shop").unwrap());
    }
}
