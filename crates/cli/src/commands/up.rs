//! `wisp up`: loads an app, compiles (or loads from cache) its components, and serves
//! its triggers (HTTP, Redis, cron, MQTT; or runs its commands) until Ctrl-C or SIGTERM.

use anyhow::{Context, bail};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use wisp_capabilities::RuntimeConfig;
use wisp_engine::EngineConfig;
use wisp_host::HostOptions;
use wisp_trigger_http::ListenerConfig;

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
    /// Run only this component and the triggers that run it (repeatable; Spin's
    /// `--component-id`); default: every component.
    #[arg(short = 'c', long = "component-id", value_name = "ID")]
    component_ids: Vec<String>,
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
    let (mut app, default_state_dir) = locate_app(&args).await?;
    if !args.component_ids.is_empty() {
        let ids: Vec<&str> = args.component_ids.iter().map(String::as_str).collect();
        app.retain_components(&ids)?;
    }
    // A schedule that does not parse fails before anything is built or compiled.
    wisp_host::check_app(&app)?;
    if args.build {
        super::build_app(&app)?;
    }
    let options = host_options(&args, default_state_dir)?;
    // Before anything is printed or run: a signal right after must stop us cleanly.
    let signal = wisp_host::shutdown_signal()?;
    Ok(wisp_host::run_app(&app, &options, signal).await?)
}

/// What the host needs from the command line and the environment.
fn host_options(args: &UpArgs, default_state_dir: PathBuf) -> anyhow::Result<HostOptions> {
    let runtime_config = match &args.runtime_config_file {
        Some(path) => RuntimeConfig::load(path)?,
        None => RuntimeConfig::default(),
    };
    let mut seed_sql = Vec::with_capacity(args.sqlite.len());
    for sql in &args.sqlite {
        seed_sql.push(match sql.strip_prefix('@') {
            Some(file) => wisp_manifest::read::read_text_capped(std::path::Path::new(file))
                .with_context(|| format!("--sqlite @{file}: cannot read the file"))?,
            None => sql.clone(),
        });
    }
    Ok(HostOptions {
        listen: args.listen,
        listener: ListenerConfig {
            header_read_timeout: args.header_read_timeout,
            idle_timeout: args.idle_timeout,
            max_header_bytes: usize::try_from(args.max_header_size).unwrap_or(usize::MAX),
            max_body_bytes: args.max_body_size,
            max_connections: args.max_connections,
            shutdown_grace: Duration::from_secs(args.shutdown_grace),
        },
        engine: EngineConfig {
            max_instances: args.max_instances,
            cache_dir: cache_dir(args),
            max_total_memory: args.max_total_memory,
        },
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
        state_dir: args.state_dir.clone().unwrap_or(default_state_dir),
        extra_env: args.env.clone(),
        runtime_config,
        variable_env: std::env::vars().collect(),
        seed_key_values: args.key_values.clone(),
        seed_sql,
        guest_args: args.guest_args.clone(),
    })
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

/// The compile cache folder, unless `--no-cache`.
fn cache_dir(args: &UpArgs) -> Option<PathBuf> {
    if args.no_cache {
        return None;
    }
    args.cache_dir
        .clone()
        .or_else(wisp_engine::CompileCache::default_dir)
}
