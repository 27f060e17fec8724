//! The SQLite capability: every labelled database the app's components are granted,
//! opened once at load from the runtime config (or the state directory's default file).

use super::Database;
use crate::bindings::fermyon::spin::sqlite as v2;
use crate::bindings::spin::sqlite::sqlite as v3;
use crate::capability::{Capability, LoadContext};
use crate::{CapabilitiesData, CapabilityError, CapabilityOptions, LinkerKind, ViewGetter};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::Linker;
use wisp_manifest::Component;

/// The app's SQLite databases by label.
#[derive(Default)]
pub struct SqliteDatabases {
    by_label: HashMap<String, Arc<Database>>,
}

impl SqliteDatabases {
    /// The database `label`, opened on first use; `None` when nothing serves that label.
    fn open(
        &mut self,
        label: &str,
        options: &CapabilityOptions,
    ) -> Result<Option<Arc<Database>>, CapabilityError> {
        if let Some(db) = self.by_label.get(label) {
            return Ok(Some(db.clone()));
        }
        let path = match options.runtime_config.sqlite_databases.get(label) {
            Some(config) => config.path.clone(),
            None if label == "default" => Some(crate::default_sqlite_path(&options.state_dir)),
            None => return Ok(None),
        };
        let db = Database::open(label, path.as_deref())
            .map_err(|e| CapabilityError::Config(format!("SQLite database `{label}`: {e:#}")))?;
        let db = Arc::new(db);
        self.by_label.insert(label.to_owned(), db.clone());
        Ok(Some(db))
    }

    /// Runs SQL against the default database (`--sqlite`).
    pub(crate) fn run_default_sql(
        &mut self,
        options: &CapabilityOptions,
        sql: &str,
    ) -> Result<(), CapabilityError> {
        let db = self
            .open("default", options)?
            .expect("`default` is always served");
        db.execute_batch_now(sql)
            .map_err(|e| CapabilityError::Config(format!("--sqlite on database `default`: {e}")))
    }
}

impl Capability for SqliteDatabases {
    type Grant = HashMap<String, Arc<Database>>;
    type Instance = ();

    async fn load(ctx: &LoadContext<'_>) -> Result<Self, CapabilityError> {
        let mut databases = Self::default();
        for component in &ctx.app.components {
            for label in &component.sqlite_databases {
                if databases.open(label, ctx.options)?.is_none() {
                    return Err(crate::unserved(
                        component,
                        "SQLite database",
                        "sqlite_database",
                        label,
                    ));
                }
            }
        }
        Ok(databases)
    }

    fn grant(&self, component: &Component) -> Self::Grant {
        crate::granted_labels(&self.by_label, &component.sqlite_databases)
    }

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        get: ViewGetter<T>,
        kind: LinkerKind,
    ) -> wasmtime::Result<()> {
        v2::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        match kind {
            LinkerKind::Concurrent => v3::add_to_linker::<T, CapabilitiesData>(linker, get),
            LinkerKind::Sync => crate::sync_subset::add_sqlite3(linker, get),
        }
    }
}
