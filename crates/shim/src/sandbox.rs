//! One container's life: runwasi calls `run_wasi` in the container's init process, after
//! the namespaces and cgroups are set up. The app is loaded and served there until
//! SIGTERM (`ctr task kill`, a pod's deletion), which drains in-flight work within
//! `WISP_SHUTDOWN_GRACE` and exits 0. A load error goes to the task's stderr (what
//! `kubectl logs` shows) and exits 1; a command-trigger app exits with its guest's status.

use crate::settings::{self, RUNTIME_CONFIG_PATH};
use crate::source;
use anyhow::Context;
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::RuntimeContext;
use std::path::Path;

/// The exit status of a container whose app could not be loaded or run.
const FAILED: i32 = 1;

/// wisp's sandbox: one app per container.
#[derive(Default)]
pub struct WispSandbox;

impl Sandbox for WispSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> anyhow::Result<i32> {
        init_logging(ctx.envs());
        // runwasi's ambient runtime may have been built before this process was forked
        // from the shim, and lost its worker threads then: wisp gets a runtime of its own.
        let status = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .enable_all()
                        .build()
                        .context("cannot start the async runtime")?;
                    runtime.block_on(run(ctx))
                })
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the host panicked")))
        });
        Ok(match status {
            Ok(status) => status,
            Err(e) => {
                eprintln!("Error: {e:#}");
                FAILED
            }
        })
    }

    /// Everything is accepted here and checked in `run_wasi`, whose errors reach the
    /// task's stderr; a refusal here would only reach the shim's log.
    async fn can_handle(&self, _ctx: &impl RuntimeContext) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Loads the container's app and runs it until a signal; its exit status.
async fn run(ctx: &impl RuntimeContext) -> anyhow::Result<i32> {
    // Installed first: a SIGTERM while the app loads must still stop it cleanly.
    let signal = wisp_host::shutdown_signal()?;
    let mut settings = settings::from_env(ctx.envs(), Path::new(RUNTIME_CONFIG_PATH))?;
    // argv[0] is the image's entrypoint; what follows is for command-trigger guests.
    settings.host.guest_args = ctx.args().iter().skip(1).cloned().collect();
    let app = source::load_app(ctx, &settings)?;
    Ok(wisp_host::run_app(&app, &settings.host, signal).await?)
}

/// wisp's warnings and errors to the task's stderr, filtered by `WISP_LOG`.
fn init_logging(env: &[String]) {
    let filter = env
        .iter()
        .find_map(|kv| kv.strip_prefix("WISP_LOG="))
        .unwrap_or("warn");
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Already set (a forked process inherits nothing here, but be safe): keep that one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
