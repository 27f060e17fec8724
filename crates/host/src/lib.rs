//! wisp-host runs one loaded app: it opens the app's capabilities, builds the engine,
//! loads every trigger's components, starts the triggers (HTTP, command, Redis, cron,
//! MQTT) and runs them until a shutdown signal, then drains in-flight work within the
//! grace period. `wisp up` and the containerd shim are both thin fronts over
//! [`run_app`]; what differs between them is only where the app and its settings come
//! from. This is the host crate of the design map: platform mode (many apps in one
//! process) is to grow here, beside the one-app runner.

mod events;
mod foreground;
pub mod platform;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use events::{EventTriggers, RunningEvents};
use wisp_capabilities::{AppCapabilities, CapabilityError, CapabilityOptions, RuntimeConfig};
use wisp_engine::{
    CodeOrigin, EngineConfig, EngineError, GrantOptions, InstanceLimits, InternalHttp, LoadReport,
    WispEngine,
};
use wisp_manifest::App;
use wisp_runtime::AppRuntime;
use wisp_trigger_command::CommandTrigger;
use wisp_trigger_cron::CronTrigger;
use wisp_trigger_http::{HttpApp, ListenerConfig, ServerTls};
use wisp_trigger_mqtt::MqttTrigger;
use wisp_trigger_redis::RedisTrigger;

/// Why an app could not be run.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The app declares no trigger at all.
    #[error(
        "{0}: the app has no triggers (`[[trigger.http]]`, `redis`, `cron`, `mqtt` or \
         `command`): nothing to run"
    )]
    NoTriggers(PathBuf),
    /// The manifest names something that is not there (a component's source).
    #[error(transparent)]
    Manifest(#[from] wisp_manifest::ManifestError),
    /// A store, database, variable or other capability could not be set up.
    #[error(transparent)]
    Capabilities(#[from] CapabilityError),
    /// The engine could not be built.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A component or a trigger could not be loaded or started.
    #[error(transparent)]
    Trigger(Box<dyn std::error::Error + Send + Sync>),
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr} (is another server using it? pick another with `--listen`)")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        #[source]
        source: std::io::Error,
    },
    /// A shutdown signal handler could not be installed.
    #[error("cannot handle {signal}")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// Why installing the handler failed.
        #[source]
        source: std::io::Error,
    },
    /// Platform mode could not open its state or serve.
    #[error(transparent)]
    Platform(#[from] platform::PlatformError),
    /// The banner could not be written.
    #[error("cannot write to standard output")]
    Output(#[source] std::io::Error),
}

impl HostError {
    fn trigger(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Trigger(Box::new(e))
    }
}

/// Everything the host needs besides the app itself.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// Where the HTTP trigger listens.
    pub listen: SocketAddr,
    /// The limits and accept-loop settings of the HTTP listener (including the grace
    /// period every trigger gets at shutdown).
    pub listener: ListenerConfig,
    /// The identity the HTTP listener serves TLS with; none: plain HTTP (and h2c).
    pub tls: Option<ServerTls>,
    /// The engine: instance pool size, compile cache, host memory budget.
    pub engine: EngineConfig,
    /// Limits every instance runs under unless the manifest overrides them.
    pub limits: InstanceLimits,
    /// Limits the manifest cannot override upwards (platform mode); none: it may.
    pub ceiling: Option<InstanceLimits>,
    /// Instances the whole app may hold at once (platform mode); none: no app-wide bound.
    pub app_instances: Option<u32>,
    /// Size cap of each guest log file.
    pub log_max_bytes: u64,
    /// The app's local state (default stores, logs, staged files).
    pub state_dir: PathBuf,
    /// Environment variables given to every component.
    pub extra_env: Vec<(String, String)>,
    /// Spin runtime config: stores, databases, variable providers.
    pub runtime_config: RuntimeConfig,
    /// Where variable values come from (`SPIN_VARIABLE_*` and the like).
    pub variable_env: HashMap<String, String>,
    /// Keys set in the default key-value store before anything runs.
    pub seed_key_values: Vec<(String, String)>,
    /// SQL run against the default SQLite database before anything runs, in order.
    pub seed_sql: Vec<String>,
    /// The argv of command-trigger guests after their component id.
    pub guest_args: Vec<String>,
}

/// Checks what can be checked before anything is built or compiled: the app has
/// triggers, and every cron schedule parses.
pub fn check_app(app: &App) -> Result<(), HostError> {
    if app.triggers.is_empty() {
        return Err(HostError::NoTriggers(app.manifest_path.clone()));
    }
    CronTrigger::check(app).map_err(HostError::trigger)
}

/// An app loaded onto an engine: its components compiled and granted, its triggers built
/// but not yet started.
pub struct LoadedApp {
    /// The app's stores, databases and variables.
    pub capabilities: Arc<AppCapabilities>,
    /// Its components.
    pub runtime: Arc<AppRuntime>,
    /// Its HTTP routes, when it has HTTP triggers.
    pub http: Option<Arc<HttpApp>>,
    /// Its command triggers, when it has any.
    pub commands: Option<CommandTrigger>,
    /// Its Redis, cron and MQTT triggers.
    pub events: EventTriggers,
}

impl LoadedApp {
    /// Opens `app`'s capabilities and loads its components onto `engine`, reporting each
    /// to `on_loaded`; warnings (e.g. duplicate routes) go to `on_warning`.
    pub async fn load(
        app: &App,
        options: &HostOptions,
        engine: Arc<WispEngine>,
        on_loaded: impl FnMut(&str, &LoadReport),
        mut on_warning: impl FnMut(&str),
    ) -> Result<Self, HostError> {
        check_app(app)?;
        app.check_sources()?;
        let capabilities = Arc::new(load_capabilities(app, options).await?);
        let grants = GrantOptions {
            limits: options.limits,
            log_max_bytes: options.log_max_bytes,
            capabilities: capabilities.clone(),
            state_dir: options.state_dir.clone(),
            extra_env: options.extra_env.clone(),
            ceiling: options.ceiling,
            app_instances: options.app_instances,
        };
        let component_ids = HttpApp::component_ids(app)
            .chain(CommandTrigger::component_ids(app))
            .chain(RedisTrigger::component_ids(app))
            .chain(CronTrigger::component_ids(app))
            .chain(MqttTrigger::component_ids(app));
        let runtime = AppRuntime::load(engine, app, component_ids, &grants, on_loaded)
            .map_err(HostError::trigger)?;
        let http = match app.http_triggers().next() {
            None => None,
            Some(_) => {
                let (http, warnings) =
                    HttpApp::new(runtime.clone(), app).map_err(HostError::trigger)?;
                for w in warnings {
                    on_warning(&w);
                }
                Some(http)
            }
        };
        let commands = CommandTrigger::new(runtime.clone(), app).map_err(HostError::trigger)?;
        let render = |text: &str| capabilities.render(text);
        let events = EventTriggers {
            redis: RedisTrigger::new(runtime.clone(), app, render, |component, address| {
                capabilities.redis_client(component, address)
            })
            .map_err(HostError::trigger)?,
            cron: CronTrigger::new(runtime.clone(), app).map_err(HostError::trigger)?,
            mqtt: MqttTrigger::new(runtime.clone(), app, render, |component, host, port| {
                capabilities.client_tls(component, host, port)
            })
            .map_err(HostError::trigger)?,
        };
        Ok(Self {
            capabilities,
            runtime,
            http,
            commands,
            events,
        })
    }
}

/// Runs `app` until `signal` resolves (or, for an app with command triggers, until they
/// end); returns the exit status: a command trigger's, 130 when a signal cut commands
/// short, else 0.
pub async fn run_app(
    app: &App,
    options: &HostOptions,
    signal: impl Future<Output = ()>,
) -> Result<i32, HostError> {
    check_app(app)?;
    app.check_sources()?;
    let engine = Arc::new(WispEngine::new(&options.engine)?);
    let loaded = LoadedApp::load(app, options, engine, print_load_report, |w| {
        eprintln!("Warning: {w}")
    })
    .await?;
    let internal = loaded.http.clone().map(|h| h as Arc<dyn InternalHttp>);
    let running = loaded.events.start(internal).await?;
    let status = foreground::run(loaded.http, loaded.commands, options, signal, &running).await;
    running.stop();
    let grace = options.listener.shutdown_grace;
    if !running.drain(grace).await {
        eprintln!(
            "Warning: some event handlers were still running after {}s; stopped anyway",
            grace.as_secs()
        );
    }
    status
}

/// Opens the app's stores and databases, resolves variables, and applies the seeds.
async fn load_capabilities(app: &App, options: &HostOptions) -> Result<AppCapabilities, HostError> {
    let capability_options = CapabilityOptions {
        state_dir: options.state_dir.clone(),
        runtime_config: options.runtime_config.clone(),
        variable_env: options.variable_env.clone(),
    };
    let mut caps = AppCapabilities::load(app, &capability_options).await?;
    if !options.seed_key_values.is_empty() {
        caps.seed_default_store(&capability_options, &options.seed_key_values)
            .await?;
    }
    for sql in &options.seed_sql {
        caps.run_default_sql(&capability_options, sql)?;
    }
    Ok(caps)
}

/// Prints how a component was loaded.
fn print_load_report(id: &str, report: &LoadReport) {
    let how = match report.origin {
        CodeOrigin::Compiled => "compiled",
        CodeOrigin::Cache => "loaded from compile cache",
    };
    let adapted = if report.adapted {
        " (core module adapted to a component)"
    } else {
        ""
    };
    println!(
        "{id}: {how} in {:.1?}{adapted}, runs on the {}",
        report.elapsed,
        report.engine.describe()
    );
}

/// Installs the SIGINT and SIGTERM handlers now; the future resolves at the first signal.
/// Install them before printing anything a supervisor waits for: whoever reads it may
/// signal at once, and a SIGTERM with no handler installed kills the process instead of
/// stopping it.
pub fn shutdown_signal() -> Result<impl Future<Output = ()>, HostError> {
    use tokio::signal::unix::{SignalKind, signal};
    let handler = |kind, name| {
        signal(kind).map_err(|source| HostError::Signal {
            signal: name,
            source,
        })
    };
    let mut interrupt = handler(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = handler(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        println!("Shutting down: waiting for in-flight requests");
    })
}
