//! `wisp serve`: platform mode, many apps in one process behind one listener, deployed
//! and replaced through the admin API while it serves.

use anyhow::Context;
use clap::Args;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use wisp_capabilities::RuntimeConfig;
use wisp_host::HostOptions;
use wisp_host::platform::PlatformOptions;

/// Arguments of `wisp serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// The public listener every app is reached through (by `Host` header).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// The admin API's listener (JSON over HTTP, bearer token).
    #[arg(long, default_value = "127.0.0.1:9000")]
    admin_listen: SocketAddr,
    /// Let the admin API listen on a non-loopback address though it speaks plain HTTP
    /// (put a TLS proxy in front of it).
    #[arg(long)]
    admin_allow_remote: bool,
    /// Serve the admin API on this unix socket (mode 0600: only this user may connect)
    /// instead of `--admin-listen`; clients use `--admin unix:PATH`. Calls still need
    /// the token. No dashboard there: browsers cannot open sockets.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["admin_listen", "admin_allow_remote"])]
    admin_socket: Option<PathBuf>,
    /// The host's state: deployed apps (SQLite), their snapshots and data, the token.
    #[arg(long, default_value = ".wisp-host")]
    state_dir: PathBuf,
    /// The admin API's bearer token (default: generated into the state folder, file
    /// `admin-token`, mode 0600).
    #[arg(long, env = "WISP_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Pull apps from registries over plain HTTP or with certificates that do not verify.
    #[arg(short = 'k', long)]
    insecure: bool,
    /// Scale an app to zero after this many seconds without a request: its instances,
    /// connections and compiled code are released, and its next request loads it again
    /// from the compile cache (apps with Redis, cron or MQTT triggers stay loaded).
    /// 0: never.
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    idle_unload: f64,
    /// Instances one app may hold at once, across all its components and triggers: its
    /// share of the shared instance pool, so one flooded tenant cannot take the pool
    /// from the others (default: the per-component limit, half the pool). Requests over
    /// it wait up to 5 s, then get 503 with `Retry-After: 1`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    app_instances: Option<u32>,
    #[command(flatten)]
    host: super::host_flags::HostFlags,
}

/// Runs `wisp serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let signal = wisp_host::shutdown_signal()?;
        let options = PlatformOptions {
            listen: args.listen,
            admin_listen: args.admin_listen,
            admin_allow_remote: args.admin_allow_remote,
            admin_socket: args.admin_socket.clone(),
            state_dir: args.state_dir.clone(),
            token: args.token.clone(),
            registry_insecure: args.insecure,
            idle_unload: (args.idle_unload > 0.0)
                .then(|| std::time::Duration::try_from_secs_f64(args.idle_unload))
                .transpose()
                .context("--idle-unload: give a number of seconds")?,
            host: HostOptions {
                listen: args.listen,
                listener: args.host.listener(),
                tls: args.host.tls()?,
                engine: args.host.engine(),
                limits: args.host.limits(),
                // Apps are tenants': their manifests may lower these, never raise them.
                ceiling: Some(args.host.limits()),
                app_instances: Some(
                    args.app_instances
                        .unwrap_or(args.host.limits().max_instances),
                ),
                log_max_bytes: args.host.log_max_size,
                // Each app gets its own folder, environment and variables.
                state_dir: args.state_dir.clone(),
                extra_env: Vec::new(),
                runtime_config: RuntimeConfig::default(),
                variable_env: HashMap::new(),
                seed_key_values: Vec::new(),
                seed_sql: Vec::new(),
                guest_args: Vec::new(),
            },
        };
        wisp_host::platform::run_platform(options, signal).await?;
        Ok(())
    })
}
