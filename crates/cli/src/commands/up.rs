//! `wisp up`: loads an app, compiles (or loads from cache) its components, and serves
//! its triggers (HTTP, Redis, cron, MQTT; or runs its commands) until Ctrl-C or SIGTERM.

use super::events::{EventTriggers, RunningEvents};
use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wisp_capabilities::{AppCapabilities, CapabilityOptions, RuntimeConfig};
use wisp_engine::{CodeOrigin, EngineConfig, GrantOptions, InternalHttp, LoadReport, WispEngine};
use wisp_runtime::AppRuntime;
use wisp_trigger_command::{CommandTrigger, RunOutcome};
use wisp_trigger_cron::CronTrigger;
use wisp_trigger_http::{HttpApp, ListenerConfig};
use wisp_trigger_mqtt::MqttTrigger;
use wisp_trigger_redis::RedisTrigger;

/// Arguments of `wisp up`.
#[derive(Args)]
pub struct UpArgs {
    /// The app: a spin.toml, a folder holding one, a bare .wasm component, or a registry
    /// reference (`registry/repo:tag` or `…@sha256:…`).
    #[arg(short = 'f', long = "from", default_value = "spin.toml")]
    from: PathBuf,
    /// Run the app at this registry reference (as `-f` does for what reads as one).
    #[arg(long, value_name = "REFERENCE")]
    from_registry: Option<String>,
    #[command(flatten)]
    registry: super::registry::RegistryFlags,
    /// Run an app from a registry only if it carries a signature this PEM public key
    /// verifies (cosign's key-based format); checked before anything is downloaded or
    /// compiled.
    #[arg(long, value_name = "PUB.pem")]
    verify_key: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// An environment variable for every component (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    env: Vec<(String, String)>,
    /// Folder for the app's local state (logs, staged files); default `.wisp` beside the
    /// manifest (in the current folder for an app from a registry).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Run `wisp build` first.
    #[arg(long)]
    build: bool,
    /// Concurrent instances the engine's pooling allocator is sized for.
    #[arg(long, default_value_t = wisp_engine::DEFAULT_MAX_INSTANCES, env = "WISP_MAX_INSTANCES")]
    max_instances: u32,
    /// Folder for compiled components (default: the user cache folder).
    #[arg(long, env = "WISP_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time, with no on-disk cache.
    #[arg(long)]
    no_cache: bool,
    /// Maximum linear memory per instance (e.g. `64MiB`); a component's
    /// `[component.X.limits] memory` overrides it.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = wisp_manifest::parse_size)]
    memory_limit: u64,
    /// Guest memory all instances together may hold (e.g. `8GiB`); a request whose
    /// instance would take the host past it gets 503. Unlimited by default.
    #[arg(long, value_name = "SIZE", value_parser = wisp_manifest::parse_size)]
    max_total_memory: Option<u64>,
    /// Wall-clock budget per request (e.g. `30s`, `500ms`); past it the request gets 504.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = wisp_manifest::parse_duration)]
    timeout: std::time::Duration,
    /// Concurrent instances per component (default: half of `--max-instances`); excess
    /// requests wait up to 5 s, then get 503 with `Retry-After`.
    #[arg(long, value_name = "N")]
    max_instances_per_component: Option<u32>,
    /// Instances one request from the network may cause through service chaining, over
    /// its whole life; they also count against the first component's instance limit.
    #[arg(long, value_name = "N", default_value_t = wisp_engine::DEFAULT_MAX_FANOUT)]
    max_fanout: u32,
    /// Opt-in instance reuse: one instance (WASI 0.2 or 0.3) serves up to N requests of its
    /// component, one at a time, and is dropped after a trap, a timeout or 10 s idle
    /// (default 1: a fresh instance per request); `[component.X.limits]
    /// instance_reuse` overrides it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instance_reuse: u32,
    /// With instance reuse, a WASI 0.3 HTTP instance serves up to N requests at the same
    /// time (default 1: one at a time); a trap or timeout then fails every request that
    /// instance was serving. `[component.X.limits] instance_concurrency` overrides it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instance_concurrency: u32,
    /// Size cap of each guest log file (`<state-dir>/logs`); a full file is rotated to
    /// `.1`, so each stream keeps at most twice this.
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = wisp_manifest::parse_size)]
    log_max_size: u64,
    /// Spin runtime config (TOML) mapping key-value stores and SQLite databases to backends.
    #[arg(long, value_name = "PATH")]
    runtime_config_file: Option<PathBuf>,
    /// Set a key in the default key-value store before serving (repeatable).
    #[arg(long = "key-value", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
    key_values: Vec<(String, String)>,
    /// Run SQL against the default SQLite database before serving; `@FILE` reads it from a
    /// file (repeatable, in order).
    #[arg(long = "sqlite", value_name = "STATEMENT|@FILE")]
    sqlite: Vec<String>,
    /// Time a client has to send its request headers (also closes idle keep-alive
    /// connections); a slower client is dropped.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = wisp_manifest::parse_duration)]
    header_read_timeout: std::time::Duration,
    /// A connection that starts no new request for this long is closed gracefully
    /// (HTTP/2 gets GOAWAY; a response still streaming finishes).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = wisp_manifest::parse_duration)]
    idle_timeout: std::time::Duration,
    /// Largest request head (request line + headers); larger gets 431.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = wisp_manifest::parse_size)]
    max_header_size: u64,
    /// Largest request body (off by default); larger gets 413.
    #[arg(long, value_name = "SIZE", value_parser = wisp_manifest::parse_size)]
    max_body_size: Option<u64>,
    /// Open connections at once; further clients wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_connections: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    shutdown_grace: u64,
    /// Arguments after `--`: the argv of a `[[trigger.command]]` guest (after its
    /// component id, which is argv[0]).
    #[arg(last = true, value_name = "GUEST_ARGS")]
    guest_args: Vec<String>,
}

/// Runs `wisp up`; the exit status is a command trigger's, else 0.
pub fn run(args: UpArgs) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(up(args))
}

async fn up(args: UpArgs) -> anyhow::Result<i32> {
    let (app, default_state_dir) = locate_app(&args).await?;
    if app.triggers.is_empty() {
        bail!(
            "{}: the app has no triggers (`[[trigger.http]]`, `redis`, `cron`, `mqtt` or \
             `command`): nothing to run",
            app.manifest_path.display()
        );
    }
    // A schedule that does not parse fails before anything is compiled.
    CronTrigger::check(&app)?;
    if args.build {
        super::build_app(&app)?;
    }
    app.check_sources()?;

    let state_dir = args.state_dir.clone().unwrap_or(default_state_dir);
    let capabilities = Arc::new(load_capabilities(&app, &args, &state_dir).await?);
    let engine = Arc::new(WispEngine::new(&EngineConfig {
        max_instances: args.max_instances,
        cache_dir: cache_dir(&args),
        max_total_memory: args.max_total_memory,
    })?);
    let options = grant_options(&args, capabilities.clone(), state_dir);
    let component_ids = HttpApp::component_ids(&app)
        .chain(CommandTrigger::component_ids(&app))
        .chain(RedisTrigger::component_ids(&app))
        .chain(CronTrigger::component_ids(&app))
        .chain(MqttTrigger::component_ids(&app));
    let runtime = AppRuntime::load(engine, &app, component_ids, &options, print_load_report)?;
    let http = match app.http_triggers().next() {
        None => None,
        Some(_) => {
            let (http, warnings) = HttpApp::new(runtime.clone(), &app)?;
            for w in warnings {
                eprintln!("Warning: {w}");
            }
            Some(http)
        }
    };
    let commands = CommandTrigger::new(runtime.clone(), &app)?;
    let render = |text: &str| capabilities.render(text);
    let events = EventTriggers {
        redis: RedisTrigger::new(runtime.clone(), &app, render, |component, address| {
            capabilities.redis_client(component, address)
        })?,
        cron: CronTrigger::new(runtime.clone(), &app)?,
        mqtt: MqttTrigger::new(runtime, &app, render, |component, host, port| {
            capabilities.client_tls(component, host, port)
        })?,
    };
    // Before anything is printed or run: a signal right after must stop us cleanly.
    let signal = shutdown_signal()?;
    let internal = http.clone().map(|h| h as Arc<dyn InternalHttp>);
    let running = events.start(internal).await?;
    let status = run_in_foreground(http, commands, &args, signal, &running).await;
    running.stop();
    let grace = Duration::from_secs(args.shutdown_grace);
    if !running.drain(grace).await {
        eprintln!(
            "Warning: some event handlers were still running after {}s; stopped anyway",
            args.shutdown_grace
        );
    }
    status
}

/// The app `-f`/`--from-registry` names, and its default state folder: `.wisp` beside
/// a local manifest, `.wisp` in the current folder for an app pulled from a registry (its
/// files live in the cache, which is no place for its data).
async fn locate_app(args: &UpArgs) -> anyhow::Result<(wisp_manifest::App, PathBuf)> {
    let from_text = args.from.to_str().unwrap_or_default();
    let reference = match &args.from_registry {
        Some(r) => Some(r.as_str()),
        None if !args.from.exists() && wisp_oci::looks_like_reference(from_text) => Some(from_text),
        None => None,
    };
    let Some(reference) = reference else {
        if args.verify_key.is_some() {
            bail!(
                "--verify-key checks apps from a registry; {} is a local app",
                args.from.display()
            );
        }
        let app = super::load_app(&args.from)?;
        let state_dir = app.root_dir.join(".wisp");
        return Ok((app, state_dir));
    };
    if args.build {
        bail!("--build needs a local app; {reference} comes from a registry");
    }
    let options = args.registry.options()?;
    let verify_key = args
        .verify_key
        .as_deref()
        .map(wisp_oci::VerifyingKey::from_pem_file)
        .transpose()?;
    let started = std::time::Instant::now();
    let (runnable, pulled) = wisp_oci::pull_runnable(reference, &options, verify_key.as_ref())
        .await
        .with_context(|| format!("cannot run {reference}"))?;
    let source = if pulled.from_network {
        "from the registry"
    } else {
        "from the cache"
    };
    println!(
        "Pulled {reference}@{} {source} in {:.1?}",
        pulled.digest,
        started.elapsed()
    );
    if let Some(key) = &verify_key {
        println!("Signature verified with {}", key.path);
    }
    let app = match runnable {
        wisp_oci::Runnable::App(manifest) => wisp_manifest::load(&manifest)?,
        wisp_oci::Runnable::Component(wasm) => {
            let repository = wisp_oci::parse_reference(reference)?
                .repository()
                .to_owned();
            let name = repository.rsplit('/').next().unwrap_or("main");
            wisp_manifest::bare_component_named(&wasm, name)
        }
    };
    let state_dir = std::env::current_dir()
        .context("cannot read the current folder")?
        .join(".wisp");
    Ok((app, state_dir))
}

/// Serves HTTP and runs the commands, whichever the app has, until a signal (or, with
/// commands, until they end); the event triggers run beside and are told to stop then.
/// Returns the exit status.
async fn run_in_foreground(
    http: Option<Arc<HttpApp>>,
    commands: Option<CommandTrigger>,
    args: &UpArgs,
    signal: impl Future<Output = ()>,
    running: &RunningEvents,
) -> anyhow::Result<i32> {
    match (http, commands) {
        (Some(http), None) => {
            let stop = async {
                signal.await;
                running.stop();
            };
            serve(http, args, stop).await.map(|()| 0)
        }
        (None, Some(commands)) => {
            println!("No HTTP triggers: not listening");
            tokio::select! {
                outcome = commands.run(&args.guest_args, None) => Ok(report(outcome)),
                () = signal => Ok(130),
            }
        }
        // Both: HTTP is served while the commands run, and stops when they end.
        (Some(http), Some(commands)) => {
            let guest_args = args.guest_args.clone();
            let internal = Some(http.clone() as Arc<dyn InternalHttp>);
            let (ended, commands_ended) = tokio::sync::oneshot::channel();
            let run = tokio::spawn(async move {
                let _ = ended.send(commands.run(&guest_args, internal).await);
            });
            // The commands' outcome, once they end; none if a signal came first.
            let outcome = std::sync::Mutex::new(None);
            let stop = async {
                tokio::select! {
                    () = signal => {}
                    ended = commands_ended => {
                        *outcome.lock().expect("outcome lock") = ended.ok();
                    }
                }
                running.stop();
            };
            serve(http, args, stop).await?;
            let outcome = outcome.lock().expect("outcome lock").take();
            match outcome {
                Some(outcome) => Ok(report(outcome)),
                None => {
                    run.abort();
                    Ok(130)
                }
            }
        }
        // Event triggers only: they run until a signal.
        (None, None) => {
            println!("No HTTP triggers: not listening");
            signal.await;
            Ok(0)
        }
    }
}

/// The compile cache folder, unless `--no-cache`.
fn cache_dir(args: &UpArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    args.cache_dir
        .clone()
        .or_else(wisp_engine::CompileCache::default_dir)
}

/// What every component is granted from the command line, beside its manifest.
fn grant_options(
    args: &UpArgs,
    capabilities: Arc<AppCapabilities>,
    state_dir: PathBuf,
) -> GrantOptions {
    GrantOptions {
        limits: wisp_engine::InstanceLimits {
            memory: args.memory_limit,
            timeout: args.timeout,
            max_instances: args.max_instances_per_component.unwrap_or(
                wisp_engine::default_instances_per_component(args.max_instances),
            ),
            instance_reuse: args.instance_reuse,
            instance_concurrency: args.instance_concurrency,
            max_fanout: args.max_fanout,
        },
        log_max_bytes: args.log_max_size,
        capabilities,
        state_dir,
        extra_env: args.env.clone(),
    }
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

/// Prints why a command failed, if it did; its exit status.
fn report(outcome: RunOutcome) -> i32 {
    if let RunOutcome::Failed(why) = &outcome {
        eprintln!("Error: {why}");
    }
    outcome.status()
}

/// Opens the app's stores and databases, resolves variables, and applies `--key-value`
/// and `--sqlite`.
async fn load_capabilities(
    app: &wisp_manifest::App,
    args: &UpArgs,
    state_dir: &std::path::Path,
) -> anyhow::Result<AppCapabilities> {
    let runtime_config = match &args.runtime_config_file {
        Some(path) => RuntimeConfig::load(path)?,
        None => RuntimeConfig::default(),
    };
    let options = CapabilityOptions {
        state_dir: state_dir.to_path_buf(),
        runtime_config,
        variable_env: std::env::vars().collect(),
    };
    let mut caps = AppCapabilities::load(app, &options).await?;
    if !args.key_values.is_empty() {
        caps.seed_default_store(&options, &args.key_values).await?;
    }
    for sql in &args.sqlite {
        let text = match sql.strip_prefix('@') {
            Some(file) => wisp_manifest::read::read_text_capped(std::path::Path::new(file))
                .with_context(|| format!("--sqlite @{file}: cannot read the file"))?,
            None => sql.clone(),
        };
        caps.run_default_sql(&options, &text)?;
    }
    Ok(caps)
}

async fn serve(
    app: Arc<HttpApp>,
    args: &UpArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server using it? pick another with `--listen`)",
                args.listen
            )
        })?;
    let addr = listener.local_addr()?;
    // One write, so a reader of the pipe sees the whole banner at once.
    let mut banner = format!("Serving http://{addr}\nAvailable Routes:\n");
    for (id, route) in app.routes() {
        banner.push_str(&format!("  {id}: http://{addr}{route}\n"));
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(banner.as_bytes())?;
        out.flush()?;
    }
    let config = ListenerConfig {
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        max_header_bytes: usize::try_from(args.max_header_size).unwrap_or(usize::MAX),
        max_body_bytes: args.max_body_size,
        max_connections: args.max_connections,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
    };
    let finished = wisp_trigger_http::serve(app, listener, shutdown, config).await;
    if finished {
        println!("Stopped");
    } else {
        eprintln!(
            "Warning: some requests were still running after {}s; stopped anyway",
            args.shutdown_grace
        );
    }
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers now; the future resolves at the first signal.
/// They go in before the banner: whoever reads it may signal at once, and a SIGTERM with
/// no handler installed kills the process instead of stopping it.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        println!("Shutting down: waiting for in-flight requests");
    })
}
