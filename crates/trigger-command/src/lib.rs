//! wisp-trigger-command runs `[[trigger.command]]` components: each one's `wasi:cli/run`
//! once, in manifest order, through the runtime's executor (the component's limits,
//! grants and logs, like any other event), with the guest's argv from the command line.
//! It reports the status the run ended with; it knows no sockets.

use std::sync::Arc;
use wasmtime_wasi::p2::bindings::CommandIndices;
use wisp_engine::InternalHttp;
use wisp_manifest::{App, TriggerKind};
use wisp_runtime::{AppRuntime, EventError, GuestFailure};

/// Errors setting an app's command triggers up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A command trigger names a component that does not export `wasi:cli/run`.
    #[error(
        "component `{id}` does not export `wasi:cli/run` (0.2.x), which `[[trigger.command]]` \
         runs; build it as a command (a Rust `fn main` for `wasm32-wasip2`)"
    )]
    NotCommand {
        /// Component id.
        id: String,
    },
    /// A trigger names a component the runtime did not load.
    #[error("command trigger for component `{0}`: the component was not loaded")]
    NotLoaded(String),
}

/// How one command's run ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// It returned or exited with this status: 0 for success, 1 for `run` returning
    /// `err` or `exit(err)` (WASI 0.2's `exit` carries only ok or err, so a Rust guest's
    /// `std::process::exit(3)` arrives as 1).
    Exited(i32),
    /// It did not get to finish: a trap, a timeout, no free instance.
    Failed(String),
}

impl RunOutcome {
    /// The process exit status this outcome stands for (1 for a failure).
    pub fn status(&self) -> i32 {
        match self {
            Self::Exited(status) => *status,
            Self::Failed(_) => 1,
        }
    }
}

/// One command trigger: its component and where `wasi:cli/run` sits among its exports.
struct Command {
    component: usize,
    exports: CommandIndices,
}

/// An app's command triggers, over the components of an [`AppRuntime`].
pub struct CommandTrigger {
    runtime: Arc<AppRuntime>,
    commands: Vec<Command>,
}

impl CommandTrigger {
    /// The components the command triggers of `app` name: what the runtime must load.
    pub fn component_ids(app: &App) -> impl Iterator<Item = &str> {
        app.trigger_components(TriggerKind::Command)
    }

    /// The app's command triggers, checked against what `runtime` loaded; `None` when
    /// the app has none.
    pub fn new(runtime: Arc<AppRuntime>, app: &App) -> Result<Option<Self>, LoadError> {
        let mut commands = Vec::new();
        for id in Self::component_ids(app) {
            let component = runtime
                .index_of(id)
                .ok_or_else(|| LoadError::NotLoaded(id.to_owned()))?;
            let pre = runtime.component(component).instance_pre();
            let exports = CommandIndices::new(pre)
                .map_err(|_| LoadError::NotCommand { id: id.to_owned() })?;
            commands.push(Command { component, exports });
        }
        Ok((!commands.is_empty()).then_some(Self { runtime, commands }))
    }

    /// Runs every command in manifest order, each with argv `[component id, args…]`,
    /// stopping at the first that does not end with status 0. `internal` serves the
    /// guests' in-process requests (`http://self`, `*.spin.internal`) when the app has
    /// HTTP triggers too. Returns the last outcome.
    pub async fn run(
        &self,
        args: &[String],
        internal: Option<Arc<dyn InternalHttp>>,
    ) -> RunOutcome {
        let mut outcome = RunOutcome::Exited(0);
        for command in &self.commands {
            outcome = self.run_one(command, args, internal.clone()).await;
            if outcome.status() != 0 {
                break;
            }
        }
        outcome
    }

    async fn run_one(
        &self,
        command: &Command,
        args: &[String],
        internal: Option<Arc<dyn InternalHttp>>,
    ) -> RunOutcome {
        let id = self.runtime.component(command.component).id().to_owned();
        let argv: Vec<String> = std::iter::once(id.clone())
            .chain(args.iter().cloned())
            .collect();
        let exports = command.exports.clone();
        let run = self
            .runtime
            .run_event(
                command.component,
                internal,
                &argv,
                move |store, instance| {
                    Box::pin(async move {
                        let guest = exports.load(&mut *store, &instance)?;
                        guest.wasi_cli_run().call_run(&mut *store).await
                    })
                },
            )
            .await;
        match run {
            Ok(Ok(())) => RunOutcome::Exited(0),
            Ok(Err(())) => RunOutcome::Exited(1),
            Err(EventError::Guest(GuestFailure::Exited(status))) => RunOutcome::Exited(status),
            Err(EventError::Guest(failure)) => {
                RunOutcome::Failed(format!("component `{id}` {}", describe(&failure)))
            }
            Err(EventError::Lease(e)) => RunOutcome::Failed(e.to_string()),
        }
    }
}

/// A failure as the end of a sentence that starts with the component.
fn describe(failure: &GuestFailure) -> String {
    match failure {
        GuestFailure::Failed(e) => format!("failed: {}", e.root_cause()),
        other => other.to_string(),
    }
}
