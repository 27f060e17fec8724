//! `wisp up`: loads an app, compiles (or loads from cache) its components, and serves
//! its triggers (HTTP, Redis, cron, MQTT; or runs its commands) until Ctrl-C or SIGTERM.

use anyhow::{Context, bail};
use clap::Args;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use wisp_capabilities::RuntimeConfig;
use wisp_host::HostOptions;

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
    /// A value for the app's variables, over `SPIN_VARIABLE_*` (repeatable, as Spin's):
    /// `NAME=VALUE`, `NAME=@FILE` (the file's text), or `@FILE.json`/`@FILE.toml` (a
    /// map of names to values).
    #[arg(long = "variable", value_name = "NAME=VALUE|@FILE")]
    variables: Vec<String>,
    /// Folder for the app's local state (logs, staged files); default `.wisp` beside the
    /// manifest (in the current folder for an app from a registry).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Run `wisp build` first.
    #[arg(long)]
    build: bool,
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
    #[command(flatten)]
    host: super::host_flags::HostFlags,
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
    let mut variable_env: HashMap<String, String> = std::env::vars().collect();
    for (name, value) in super::variables::values(&args.variables)? {
        // The name the variable provider reads first, so the flag wins over the
        // environment, as in Spin.
        variable_env.insert(
            format!("WISP_VARIABLE_{}", name.to_ascii_uppercase()),
            value,
        );
    }
    Ok(HostOptions {
        listen: args.listen,
        listener: args.host.listener(),
        tls: args.host.tls()?,
        engine: args.host.engine(),
        limits: args.host.limits(),
        ceiling: None,
        app_instances: None,
        log_max_bytes: args.host.log_max_size,
        state_dir: args.state_dir.clone().unwrap_or(default_state_dir),
        extra_env: args.env.clone(),
        runtime_config,
        variable_env,
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
