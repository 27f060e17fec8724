//! wisp-capabilities owns the host side of the capability interfaces a component may
//! import: key-value (`fermyon:spin/key-value@2.0.0`, `spin:key-value@3.0.0`,
//! `wasi:keyvalue@0.2.0-draft2`),
//! SQLite (`fermyon:spin/sqlite@2.0.0`) and variables (`fermyon:spin/variables@2.0.0`,
//! `spin:variables@3.0.0`,
//! `wasi:config/store@0.2.0-draft-2024-09-27`), outbound Redis, PostgreSQL, MySQL and MQTT
//! (`fermyon:spin/redis@2.0.0`, `postgres@2.0.0`, `mysql@2.0.0`, `mqtt@2.0.0`),
//! each component's resolved outbound grant (`allowed_outbound_hosts`), which every
//! outbound interface and the engine's HTTP and socket hooks enforce, and its client TLS
//! settings (`[[client_tls]]`).
//!
//! Each follows one shape: configuration (manifest + runtime config) → [`AppCapabilities`],
//! built and validated once when the app loads → [`ComponentGrants`], what one component
//! may use → [`InstanceCapabilities`], a cheap per-instance handle on those grants →
//! [`add_to_linker`] for every interface version, all backed by one implementation.
//! Nothing here knows about triggers.

mod abandon;
mod bindings;

/// Most bytes of rows one database statement may hand a guest (SQLite, PostgreSQL,
/// MySQL). The rows are held by the host and then copied into the guest's memory, so a
/// result this size is already more than most guests' memory limit; past it the
/// statement fails instead of growing the host.
pub const MAX_RESULT_BYTES: usize = 64 << 20;
pub mod key_value;
mod macros;
pub mod mqtt;
pub mod mysql;
pub mod outbound;
pub mod postgres;
mod redis_client;
pub mod redis_outbound;
pub mod runtime_config;
mod shared_sqlite;
pub mod sqlite;
mod sync_subset;
pub mod tls;
pub mod variables;

pub use runtime_config::RuntimeConfig;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wisp_manifest::App;
use wisp_manifest::outbound::OutboundPolicy;

/// A capability configuration problem found while loading the app.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    /// The runtime config file is wrong.
    #[error(transparent)]
    RuntimeConfig(#[from] runtime_config::RuntimeConfigError),
    /// A component was granted a label nothing serves, or a backend failed to open.
    #[error("{0}")]
    Config(String),
    /// A variable could not be resolved.
    #[error(transparent)]
    Variables(#[from] variables::VariablesError),
}

/// Everything the capabilities need from the app's surroundings.
#[derive(Debug, Clone)]
pub struct CapabilityOptions {
    /// The app's state directory (default key-value store and SQLite database live here).
    pub state_dir: PathBuf,
    /// The parsed `--runtime-config-file`, if any.
    pub runtime_config: RuntimeConfig,
    /// Where variable values come from (environment, defaults).
    pub variable_env: HashMap<String, String>,
}

/// App-wide capability state: every store, database and resolved variable, built once.
pub struct AppCapabilities {
    stores: HashMap<String, Arc<key_value::Store>>,
    databases: HashMap<String, Arc<sqlite::Database>>,
    variables: variables::AppVariables,
    outbound: HashMap<String, Arc<OutboundPolicy>>,
    redis: Arc<redis_client::RedisPool>,
    postgres: Arc<postgres::PgPools>,
    mysql: Arc<mysql::MysqlPools>,
    tls: tls::AppTls,
    outbound_http: OutboundHttpGrant,
}

/// The app's outbound HTTP client settings (`[outbound_http]`) and the app-wide
/// in-flight limit they set.
#[derive(Clone, Debug, Default)]
pub struct OutboundHttpGrant {
    /// Whether connections are pooled between requests.
    pub connection_pooling: bool,
    /// Shared by every component of the app when `max_concurrent_requests` is set.
    pub in_flight: Option<Arc<tokio::sync::Semaphore>>,
}

impl AppCapabilities {
    /// The TLS client configuration `component` connects to `host:port` with: its
    /// `[[client_tls]]` entry for that host, else the default (webpki roots). Triggers
    /// connect to their brokers with their component's settings.
    pub fn client_tls(&self, component: &str, host: &str, port: u16) -> Arc<rustls::ClientConfig> {
        self.tls
            .for_component(component)
            .for_host(host, port)
            .config
            .clone()
    }

    /// A Redis client for `url` with `component`'s `[[client_tls]]` settings for its
    /// host (CA roots, client certificate) when it is a `rediss://` URL. Triggers
    /// subscribe with their component's settings.
    pub fn redis_client(&self, component: &str, url: &str) -> redis::RedisResult<redis::Client> {
        let plain = redis::Client::open(url)?;
        match plain.get_connection_info().addr() {
            redis::ConnectionAddr::TcpTls { host, port, .. } => {
                let tls = self.tls.for_component(component).for_host(host, *port);
                redis_client::client(url, &tls)
            }
            _ => Ok(plain),
        }
    }

    /// Renders an app-level template (a trigger's address or channel, say) with the
    /// app's variables; the error names the first variable without a value.
    pub fn render(&self, template: &str) -> Result<String, wisp_manifest::template::RenderError> {
        self.variables.render(template)
    }

    /// Opens every backend the app's components are granted and resolves variables.
    /// A label granted to a component but served by nothing is an error naming it.
    pub async fn load(app: &App, options: &CapabilityOptions) -> Result<Self, CapabilityError> {
        let variables = variables::AppVariables::resolve(app, &options.variable_env)?;
        let tls = tls::AppTls::load(&options.runtime_config.client_tls)
            .map_err(CapabilityError::Config)?;
        for id in tls.component_ids() {
            if !app.components.iter().any(|c| c.id == id) {
                tracing::warn!(
                    "[[client_tls]] names component `{id}`, which the app does not have"
                );
            }
        }
        let http = options.runtime_config.outbound_http;
        let mut caps = Self {
            tls,
            outbound_http: OutboundHttpGrant {
                connection_pooling: http.connection_pooling,
                in_flight: http
                    .max_concurrent_requests
                    .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
            },
            stores: HashMap::new(),
            databases: HashMap::new(),
            variables,
            outbound: HashMap::new(),
            redis: Arc::default(),
            postgres: Arc::default(),
            mysql: Arc::default(),
        };
        let blocked = Arc::new(options.runtime_config.block_networks.clone());
        for component in &app.components {
            let policy =
                outbound::resolve_policy(component, &caps.variables)?.with_blocked(blocked.clone());
            caps.outbound.insert(component.id.clone(), Arc::new(policy));
            let unserved = |kind: &str, table: &str, label: &str| {
                CapabilityError::Config(format!(
                    "component `{}` uses {kind} `{label}`, which no backend serves: \
                     add `[{table}.{label}]` to a runtime config file (`--runtime-config-file`)",
                    component.id
                ))
            };
            for label in &component.key_value_stores {
                if caps.open_store(label, options).await?.is_none() {
                    return Err(unserved("key-value store", "key_value_store", label));
                }
            }
            for label in &component.sqlite_databases {
                if caps.open_database(label, options)?.is_none() {
                    return Err(unserved("SQLite database", "sqlite_database", label));
                }
            }
        }
        Ok(caps)
    }

    /// The store `label`, opened on first use; `None` when nothing serves that label.
    async fn open_store(
        &mut self,
        label: &str,
        options: &CapabilityOptions,
    ) -> Result<Option<Arc<key_value::Store>>, CapabilityError> {
        if let Some(store) = self.stores.get(label) {
            return Ok(Some(store.clone()));
        }
        let backend = match options.runtime_config.key_value_stores.get(label) {
            Some(config) => key_value::Backend::open(label, config).await,
            None if label == "default" => {
                key_value::Backend::default_sqlite(&default_kv_path(&options.state_dir))
            }
            None => return Ok(None),
        }
        .map_err(|e| CapabilityError::Config(format!("key-value store `{label}`: {e:#}")))?;
        let store = Arc::new(key_value::Store {
            label: label.to_owned(),
            backend,
        });
        self.stores.insert(label.to_owned(), store.clone());
        Ok(Some(store))
    }

    /// The database `label`, opened on first use; `None` when nothing serves that label.
    fn open_database(
        &mut self,
        label: &str,
        options: &CapabilityOptions,
    ) -> Result<Option<Arc<sqlite::Database>>, CapabilityError> {
        if let Some(db) = self.databases.get(label) {
            return Ok(Some(db.clone()));
        }
        let path = match options.runtime_config.sqlite_databases.get(label) {
            Some(config) => config.path.clone(),
            None if label == "default" => Some(default_sqlite_path(&options.state_dir)),
            None => return Ok(None),
        };
        let db = sqlite::Database::open(label, path.as_deref())
            .map_err(|e| CapabilityError::Config(format!("SQLite database `{label}`: {e:#}")))?;
        let db = Arc::new(db);
        self.databases.insert(label.to_owned(), db.clone());
        Ok(Some(db))
    }

    /// Sets `pairs` in the default key-value store before serving (`--key-value`).
    pub async fn seed_default_store(
        &mut self,
        options: &CapabilityOptions,
        pairs: &[(String, String)],
    ) -> Result<(), CapabilityError> {
        let store = self
            .open_store("default", options)
            .await?
            .expect("`default` is always served");
        for (key, value) in pairs {
            store
                .backend
                .set(key, value.as_bytes())
                .await
                .map_err(|e| CapabilityError::Config(format!("--key-value {key}: {e}")))?;
        }
        Ok(())
    }

    /// Runs SQL against the default database before serving (`--sqlite`).
    pub fn run_default_sql(
        &mut self,
        options: &CapabilityOptions,
        sql: &str,
    ) -> Result<(), CapabilityError> {
        let db = self
            .open_database("default", options)?
            .expect("`default` is always served");
        db.execute_batch_now(sql)
            .map_err(|e| CapabilityError::Config(format!("--sqlite on database `default`: {e}")))
    }

    /// What `component` may use: only its own labels and variables.
    pub fn grants_for(&self, component: &wisp_manifest::Component) -> ComponentGrants {
        ComponentGrants {
            stores: component
                .key_value_stores
                .iter()
                .filter_map(|l| self.stores.get(l).map(|s| (l.clone(), s.clone())))
                .collect(),
            databases: component
                .sqlite_databases
                .iter()
                .filter_map(|l| self.databases.get(l).map(|d| (l.clone(), d.clone())))
                .collect(),
            variables: self.variables.for_component(&component.id),
            outbound: self
                .outbound
                .get(&component.id)
                .cloned()
                .unwrap_or_default(),
            redis: self.redis.clone(),
            postgres: self.postgres.clone(),
            mysql: self.mysql.clone(),
            tls: self.tls.for_component(&component.id),
            outbound_http: self.outbound_http.clone(),
        }
    }
}

/// The default key-value store's file in a state directory (Spin's name).
pub fn default_kv_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sqlite_key_value.db")
}

/// The default SQLite database's file in a state directory (Spin's name).
pub fn default_sqlite_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sqlite_db.db")
}

/// What one component is granted; shared by all its instances.
#[derive(Clone, Default)]
pub struct ComponentGrants {
    stores: HashMap<String, Arc<key_value::Store>>,
    databases: HashMap<String, Arc<sqlite::Database>>,
    variables: Arc<variables::ComponentVariables>,
    outbound: Arc<OutboundPolicy>,
    redis: Arc<redis_client::RedisPool>,
    postgres: Arc<postgres::PgPools>,
    mysql: Arc<mysql::MysqlPools>,
    tls: Arc<tls::ComponentTls>,
    outbound_http: OutboundHttpGrant,
}

impl ComponentGrants {
    /// Where this component may connect (`allowed_outbound_hosts`, resolved).
    pub fn outbound(&self) -> &Arc<OutboundPolicy> {
        &self.outbound
    }

    /// How this component's TLS connections verify servers and identify themselves.
    pub fn tls(&self) -> &Arc<tls::ComponentTls> {
        &self.tls
    }

    /// The app's outbound HTTP client settings.
    pub fn outbound_http(&self) -> &OutboundHttpGrant {
        &self.outbound_http
    }
}

/// Per-instance capability state: a handle on the component's grants.
#[derive(Default)]
pub struct InstanceCapabilities {
    grants: Arc<ComponentGrants>,
    /// Outbound Redis connections this instance holds open.
    redis_connections: usize,
    /// MQTT sessions this instance holds open.
    mqtt_connections: usize,
}

impl InstanceCapabilities {
    /// State for one instance of a component with `grants`.
    pub fn new(grants: Arc<ComponentGrants>) -> Self {
        Self {
            grants,
            redis_connections: 0,
            mqtt_connections: 0,
        }
    }
}

/// What host implementations see: the instance's capabilities and its resource table.
pub struct CapabilitiesView<'a> {
    /// The store's resource table (shared with WASI).
    pub table: &'a mut ResourceTable,
    /// This instance's grants.
    pub caps: &'a mut InstanceCapabilities,
}

/// The `HasData` marker the generated bindings are added to the linker with.
pub(crate) struct CapabilitiesData;

impl HasData for CapabilitiesData {
    type Data<'a> = CapabilitiesView<'a>;
}

/// Adds every capability interface, all versions, to `linker` (whose engine must have
/// concurrency support: Spin 3's interfaces have `async` functions).
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CapabilitiesView<'_>,
) -> wasmtime::Result<()> {
    bindings::Capabilities::add_to_linker::<T, CapabilitiesData>(linker, get)
}

/// Adds the capability functions an engine without concurrency support can call:
/// `fermyon:spin@2.0.0`, `spin:postgres@3.0.0`, the `wasi:keyvalue` and `wasi:config`
/// drafts, and the non-`async` functions of `spin:postgres@4.2.0` and `spin:sqlite@3.1.0`
/// (all that spin-sdk 5 imports of them). A guest that imports an `async func` needs
/// component-model-async.
pub fn add_sync_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CapabilitiesView<'_>,
) -> wasmtime::Result<()> {
    use bindings::fermyon::spin as v2;
    use bindings::wasi::{config, keyvalue};
    v2::key_value::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    v2::sqlite::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    v2::variables::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    v2::redis::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    v2::rdbms_types::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    v2::postgres::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    v2::mqtt::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    v2::mysql::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    bindings::spin::postgres3_0_0::postgres::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    keyvalue::store::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    keyvalue::atomics::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    keyvalue::batch::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    config::store::add_to_linker::<T, CapabilitiesData>(linker, get)?;
    sync_subset::add_to_linker(linker, get)
}
