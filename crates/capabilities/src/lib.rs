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
//! Each is one module implementing the `Capability` trait (`capability.rs`): it reads
//! its configuration (manifest + runtime config) and builds its part of
//! [`AppCapabilities`] once when the app loads, validating it → its part of
//! [`ComponentGrants`], what one component may use → its part of
//! [`InstanceCapabilities`], per-instance state beside a handle on those grants → its
//! interfaces, every version, added to a linker for each engine kind, all backed by one
//! implementation. The `capabilities!` list below is the one place they are registered.
//! Nothing here knows about triggers.

mod abandon;
mod bindings;
mod capability;

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
mod redis_reply_cap;
pub mod runtime_config;
mod shared_sqlite;
pub mod sqlite;
mod sync_subset;
pub mod tls;
pub mod variables;

pub use capability::{LinkerKind, ViewGetter};
pub use runtime_config::RuntimeConfig;

use capability::{Capability, LoadContext};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wisp_manifest::App;

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

capability::capabilities! {
    /// The app's resolved variables (`fermyon:spin/variables`, `spin:variables`,
    /// `wasi:config/store`).
    variables: Arc<variables::AppVariables>,
    /// Each component's `[[client_tls]]` settings.
    tls: tls::AppTls,
    /// Each component's `allowed_outbound_hosts`, with the runtime config's
    /// `block_networks`.
    outbound: outbound::OutboundPolicies,
    /// The app's `[outbound_http]` client settings.
    outbound_http: OutboundHttpGrant,
    /// Key-value stores by label.
    stores: key_value::KeyValueStores,
    /// SQLite databases by label.
    databases: sqlite::SqliteDatabases,
    /// Outbound Redis connections.
    redis: Arc<redis_client::RedisPool>,
    /// Outbound PostgreSQL pools.
    postgres: Arc<postgres::PgPools>,
    /// Outbound MySQL pools.
    mysql: Arc<mysql::MysqlPools>,
    /// Outbound MQTT sessions.
    mqtt: mqtt::Mqtt,
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

impl Capability for OutboundHttpGrant {
    type Grant = Self;
    type Instance = ();

    async fn load(ctx: &LoadContext<'_>) -> Result<Self, CapabilityError> {
        let http = ctx.options.runtime_config.outbound_http;
        Ok(Self {
            connection_pooling: http.connection_pooling,
            in_flight: http
                .max_concurrent_requests
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n))),
        })
    }

    fn grant(&self, _: &wisp_manifest::Component) -> Self {
        self.clone()
    }

    // No `add_to_linker`: `wasi:http` itself is the engine's, linked with its own hooks.
}

/// How many connections of one kind an instance holds open (outbound Redis, MQTT), so
/// one instance cannot open without bound.
#[derive(Debug, Default)]
pub struct OpenConnections {
    /// Connections open now.
    pub(crate) count: usize,
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

    /// Resolves the app's variables, then builds every capability's state: opens every
    /// backend the app's components are granted. A label granted to a component but
    /// served by nothing is an error naming it.
    pub async fn load(app: &App, options: &CapabilityOptions) -> Result<Self, CapabilityError> {
        let variables = Arc::new(variables::AppVariables::resolve(
            app,
            &options.variable_env,
        )?);
        let ctx = LoadContext {
            app,
            options,
            variables: &variables,
        };
        Self::load_each(&ctx).await
    }

    /// Sets `pairs` in the default key-value store before serving (`--key-value`).
    pub async fn seed_default_store(
        &mut self,
        options: &CapabilityOptions,
        pairs: &[(String, String)],
    ) -> Result<(), CapabilityError> {
        self.stores.seed_default(options, pairs).await
    }

    /// Runs SQL against the default database before serving (`--sqlite`).
    pub fn run_default_sql(
        &mut self,
        options: &CapabilityOptions,
        sql: &str,
    ) -> Result<(), CapabilityError> {
        self.databases.run_default_sql(options, sql)
    }
}

/// The entries of `by_label` that `labels` (a component's grant) name: all a component
/// of a labelled capability (stores, databases) may open.
pub(crate) fn granted_labels<T>(
    by_label: &HashMap<String, Arc<T>>,
    labels: &[String],
) -> HashMap<String, Arc<T>> {
    labels
        .iter()
        .filter_map(|l| by_label.get(l).map(|v| (l.clone(), v.clone())))
        .collect()
}

/// The load error for a component granted a `label` of `kind` that nothing serves
/// (`table` is the runtime config table that would serve it).
pub(crate) fn unserved(
    component: &wisp_manifest::Component,
    kind: &str,
    table: &str,
    label: &str,
) -> CapabilityError {
    CapabilityError::Config(format!(
        "component `{}` uses {kind} `{label}`, which no backend serves: \
         add `[{table}.{label}]` to a runtime config file (`--runtime-config-file`)",
        component.id
    ))
}

/// The default key-value store's file in a state directory (Spin's name).
pub fn default_kv_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sqlite_key_value.db")
}

/// The default SQLite database's file in a state directory (Spin's name).
pub fn default_sqlite_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sqlite_db.db")
}

impl ComponentGrants {
    /// Where this component may connect (`allowed_outbound_hosts`, resolved).
    pub fn outbound(&self) -> &Arc<wisp_manifest::outbound::OutboundPolicy> {
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
    get: ViewGetter<T>,
) -> wasmtime::Result<()> {
    add_capabilities_to_linker(linker, get, LinkerKind::Concurrent)
}

/// Adds the capability functions an engine without concurrency support can call:
/// `fermyon:spin@2.0.0`, `spin:postgres@3.0.0`, the `wasi:keyvalue` and `wasi:config`
/// drafts, and the non-`async` functions of `spin:postgres@4.2.0` and `spin:sqlite@3.1.0`
/// (all that spin-sdk 5 imports of them). A guest that imports an `async func` needs
/// component-model-async.
pub fn add_sync_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: ViewGetter<T>,
) -> wasmtime::Result<()> {
    add_capabilities_to_linker(linker, get, LinkerKind::Sync)
}
