//! wisp-trigger-cron serves `[[trigger.cron]]`: each trigger's schedule (the Spin cron
//! trigger's syntax, seconds first: `"1/2 * * * * *"` is every odd second, in UTC) fires
//! the component's `fermyon:spin-cron/spin-cron@2.0.0` `handle-cron-event` through the
//! runtime's executor. A tick that comes while the trigger's previous run is still going
//! is skipped and logged, never run twice at once.

use chrono::{DateTime, Timelike, Utc};
use croner::Cron;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use wasmtime::Store;
use wasmtime::component::Instance;
use wisp_engine::{HostState, InternalHttp};
use wisp_manifest::{App, TriggerConfig, TriggerKind};
use wisp_runtime::{AppRuntime, EventError, LoadedComponent};

mod guest {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "fermyon:spin-cron/spin-cron@2.0.0",
        exports: { default: async | store },
    });
}

use guest::fermyon::spin_cron::cron_types::Metadata;

/// Errors setting an app's cron triggers up.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The schedule does not parse.
    #[error(
        "cron trigger `{trigger}`: `cron_expression` {expression:?} is not a cron schedule: \
         {reason} (six fields, seconds first: `sec min hour day-of-month month day-of-week`, \
         e.g. \"0 */5 * * * *\")"
    )]
    Expression {
        /// Trigger id.
        trigger: String,
        /// The expression as written.
        expression: String,
        /// Why.
        reason: String,
    },
    /// The component does not export the cron handler.
    #[error(
        "component `{id}` does not export `fermyon:spin-cron/spin-cron@2.0.0`'s \
         `handle-cron-event`, which `[[trigger.cron]]` calls"
    )]
    NotCronHandler {
        /// Component id.
        id: String,
    },
    /// A trigger names a component the runtime did not load.
    #[error("cron trigger `{0}`: its component was not loaded")]
    NotLoaded(String),
}

/// One schedule and what it runs.
struct Schedule {
    trigger: String,
    expression: String,
    cron: Cron,
    component: usize,
    export: guest::SpinCronIndices,
    /// Whether a run of this trigger is going now.
    running: AtomicBool,
}

/// The app's cron triggers.
pub struct CronTrigger {
    runtime: Arc<AppRuntime>,
    schedules: Vec<Arc<Schedule>>,
}

impl CronTrigger {
    /// The components the cron triggers of `app` name: what the runtime must load.
    pub fn component_ids(app: &App) -> impl Iterator<Item = &str> {
        app.trigger_components(TriggerKind::Cron)
    }

    /// Checks every schedule of `app` (without loading anything).
    pub fn check(app: &App) -> Result<(), LoadError> {
        for trigger in &app.triggers {
            if let TriggerConfig::Cron(config) = &trigger.config {
                parse(&trigger.id, &config.cron_expression)?;
            }
        }
        Ok(())
    }

    /// The app's cron triggers, their schedules parsed and their components checked
    /// against what `runtime` loaded; `None` when the app has none.
    pub fn new(runtime: Arc<AppRuntime>, app: &App) -> Result<Option<Self>, LoadError> {
        let mut schedules = Vec::new();
        for trigger in &app.triggers {
            let TriggerConfig::Cron(config) = &trigger.config else {
                continue;
            };
            let cron = parse(&trigger.id, &config.cron_expression)?;
            let component = runtime
                .index_of(&trigger.component)
                .ok_or_else(|| LoadError::NotLoaded(trigger.id.clone()))?;
            let export = find_export(runtime.component(component)).ok_or_else(|| {
                LoadError::NotCronHandler {
                    id: trigger.component.clone(),
                }
            })?;
            schedules.push(Arc::new(Schedule {
                trigger: trigger.id.clone(),
                expression: config.cron_expression.clone(),
                cron,
                component,
                export,
                running: AtomicBool::new(false),
            }));
        }
        Ok((!schedules.is_empty()).then_some(Self { runtime, schedules }))
    }

    /// Each schedule, as `(trigger id, expression)`, for the banner.
    pub fn schedules(&self) -> impl Iterator<Item = (&str, &str)> {
        self.schedules
            .iter()
            .map(|s| (s.trigger.as_str(), s.expression.as_str()))
    }

    /// Starts every schedule in the background until `shutdown` is cancelled; runs are
    /// spawned on `tasks`, so a caller can wait for them to finish.
    pub fn start(
        self,
        internal: Option<Arc<dyn InternalHttp>>,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) {
        for schedule in self.schedules {
            let ticker = Ticker {
                runtime: self.runtime.clone(),
                internal: internal.clone(),
                schedule,
                tasks: tasks.clone(),
            };
            tasks.spawn(ticker.run(shutdown.clone()));
        }
    }
}

/// Parses a schedule the way the Spin cron trigger reads it (seconds first; a
/// five-field schedule starts at minutes).
/// A schedule that parses but never fires (the 31st of February) is refused too.
fn parse(trigger: &str, expression: &str) -> Result<Cron, LoadError> {
    let refused = |reason: String| LoadError::Expression {
        trigger: trigger.to_owned(),
        expression: expression.to_owned(),
        reason,
    };
    let cron = croner::parser::CronParser::new()
        .parse(expression)
        .map_err(|e| refused(e.to_string()))?;
    next_tick(&cron, Utc::now()).map_err(|e| refused(format!("it never fires ({e})")))?;
    Ok(cron)
}

/// The schedule's first time strictly after `after`, on a whole second (croner keeps
/// the sub-second part of the time it starts from, which would make every run late by
/// it).
fn next_tick(
    cron: &Cron,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, croner::errors::CronError> {
    let whole = after.with_nanosecond(0).unwrap_or(after);
    cron.find_next_occurrence(&whole, false)
}

/// The component's `handle-cron-event`, if it exports it as the `async func` the
/// interface declares.
fn find_export(component: &LoadedComponent) -> Option<guest::SpinCronIndices> {
    if component.root_func_is_async("handle-cron-event") != Some(true) {
        return None;
    }
    guest::SpinCronIndices::new(component.instance_pre()).ok()
}

/// One schedule's clock.
struct Ticker {
    runtime: Arc<AppRuntime>,
    internal: Option<Arc<dyn InternalHttp>>,
    schedule: Arc<Schedule>,
    tasks: TaskTracker,
}

impl Ticker {
    /// Sleeps to each scheduled time and starts a run, until `shutdown`.
    async fn run(self, shutdown: CancellationToken) {
        let span = tracing::info_span!("cron", trigger = %self.schedule.trigger);
        let mut after = Utc::now();
        loop {
            let next = match next_tick(&self.schedule.cron, after) {
                Ok(next) => next,
                Err(e) => {
                    span.in_scope(|| tracing::warn!("schedule has no next time: {e}"));
                    return;
                }
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            after = next;
            if self.schedule.running.swap(true, Ordering::AcqRel) {
                span.in_scope(
                    || tracing::warn!(scheduled = %next, "previous run still going: tick skipped"),
                );
                continue;
            }
            let run = fire(
                self.runtime.clone(),
                self.internal.clone(),
                self.schedule.clone(),
                next,
            );
            self.tasks.spawn(run.instrument(span.clone()));
        }
    }
}

/// Runs one tick on the schedule's component and logs how it went.
async fn fire(
    runtime: Arc<AppRuntime>,
    internal: Option<Arc<dyn InternalHttp>>,
    schedule: Arc<Schedule>,
    scheduled: DateTime<Utc>,
) {
    let metadata = Metadata {
        timestamp: u64::try_from(scheduled.timestamp()).unwrap_or_default(),
    };
    let late = Utc::now() - scheduled;
    tracing::debug!(late_us = late.num_microseconds(), "tick");
    let called = schedule.clone();
    let outcome = runtime
        .run_event(schedule.component, internal, &[], move |store, instance| {
            Box::pin(async move { call(&called.export, store, instance, metadata).await })
        })
        .await;
    schedule.running.store(false, Ordering::Release);
    let component = runtime.component(schedule.component).id();
    match outcome {
        Ok(Ok(())) => tracing::debug!(component, "cron event handled"),
        Ok(Err(e)) => tracing::warn!(component, "handler returned an error: {e}"),
        Err(EventError::Lease(e)) => tracing::error!(component, "tick dropped: {e}"),
        // The executor has logged the guest's failure.
        Err(EventError::Guest(_)) => {}
    }
}

/// Calls `handle-cron-event`; `Ok(Err(why))` when the guest returned an error.
async fn call(
    export: &guest::SpinCronIndices,
    store: &mut Store<HostState>,
    instance: Instance,
    metadata: Metadata,
) -> wasmtime::Result<Result<(), String>> {
    let guest = export.load(&mut *store, &instance)?;
    let answer = store
        .run_concurrent(async move |accessor| {
            guest.call_handle_cron_event(accessor, metadata).await
        })
        .await??;
    Ok(answer.map_err(|e| format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, m, s).unwrap()
            + chrono::Duration::milliseconds(i64::from(ms))
    }

    #[test]
    fn ticks_fall_on_whole_seconds_whatever_the_start() {
        let every_second = parse("t", "* * * * * *").unwrap();
        assert_eq!(
            next_tick(&every_second, at(12, 0, 0, 705)).unwrap(),
            at(12, 0, 1, 0)
        );
        assert_eq!(
            next_tick(&every_second, at(12, 0, 1, 0)).unwrap(),
            at(12, 0, 2, 0)
        );
        let odd = parse("t", "1/2 * * * * *").unwrap();
        assert_eq!(next_tick(&odd, at(12, 0, 0, 999)).unwrap(), at(12, 0, 1, 0));
        assert_eq!(next_tick(&odd, at(12, 0, 1, 0)).unwrap(), at(12, 0, 3, 0));
    }

    #[test]
    fn five_fields_start_at_minutes_and_garbage_is_refused() {
        let hourly = parse("t", "0 * * * *").unwrap();
        assert_eq!(
            next_tick(&hourly, at(12, 0, 30, 0)).unwrap(),
            at(13, 0, 0, 0)
        );
        let err = parse("cron-trigger-1", "every minute")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cron trigger `cron-trigger-1`: `cron_expression`"),
            "{err}"
        );
    }
}
