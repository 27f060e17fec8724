//! wisp-runtime is the executor every trigger calls: a loaded app's components, each
//! pre-linked with its grants, limits, instance slots (and the bounded queue in front of
//! them) and, when reuse is on, its kept instances. A trigger asks for a [`Lease`] on an
//! instance of component X, calls the export it cares about (`wasi:http`'s handler, a
//! Redis or cron handler, `wasi:cli/run`, …) under [`run_guarded`], and releases it; the
//! limits, failure classification and reuse are the same for every trigger. It knows no
//! sockets, protocols or routes.

mod component;
mod event;
mod failure;
mod lease;
mod reuse;

pub use component::{LoadedComponent, MAX_QUEUED_PER_COMPONENT, QUEUE_TIMEOUT};
pub use event::EventError;
pub use failure::{GuestFailure, run_guarded};
pub use lease::{Admission, Lease, LeaseError};
pub use reuse::IDLE_TIMEOUT;

use std::sync::{Arc, Weak};
use std::time::Duration;
use wisp_engine::{
    ChainContext, ComponentSource, EngineError, GrantOptions, LoadReport, WispEngine,
};
use wisp_manifest::App;

/// Errors loading an app's components.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A component failed to load.
    // Not a `#[source]`: the message already says why, and `{:#}` would say it twice.
    #[error("component `{id}` ({path}): {error}")]
    Component {
        /// Component id.
        id: String,
        /// Its source path.
        path: String,
        /// Why.
        error: EngineError,
    },
    /// A trigger names a component the app does not have.
    #[error("no component `{0}` in the app")]
    UnknownComponent(String),
}

/// A loaded app's components, ready to lease instances of. Dropping the last `Arc`
/// drops every kept instance and stops the app's background work.
pub struct AppRuntime {
    /// Keeps the engines, and with them the epoch ticker, alive as long as the app.
    _engine: Arc<WispEngine>,
    components: Vec<LoadedComponent>,
    /// The app-wide instance quota, when it has one.
    app_slots: Option<AppSlots>,
}

/// Instances the whole app may hold at once, across its components and triggers.
struct AppSlots {
    quota: u32,
    slots: Arc<tokio::sync::Semaphore>,
    queue: component::SlotQueue,
}

impl AppRuntime {
    /// Loads the components `ids` names (in that order, each once), compiling each or
    /// taking it from the compile cache, and builds what its instances are granted.
    /// `on_loaded` hears how each went.
    pub fn load<'a>(
        engine: Arc<WispEngine>,
        app: &App,
        ids: impl IntoIterator<Item = &'a str>,
        options: &GrantOptions,
        mut on_loaded: impl FnMut(&str, &LoadReport),
    ) -> Result<Arc<Self>, LoadError> {
        let mut components: Vec<LoadedComponent> = Vec::new();
        for id in ids {
            if components.iter().any(|c| c.id() == id) {
                continue;
            }
            let spec = app
                .component(id)
                .ok_or_else(|| LoadError::UnknownComponent(id.to_owned()))?;
            let err = |error| LoadError::Component {
                id: spec.id.clone(),
                path: spec.source.display().to_string(),
                error,
            };
            let source = ComponentSource::read(&spec.source).map_err(err)?;
            let (pre, report) = engine.load_component(&source).map_err(err)?;
            on_loaded(&spec.id, &report);
            let grants = engine.grants(&app.root_dir, spec, options).map_err(err)?;
            components.push(LoadedComponent::new(spec.id.clone(), pre, grants));
        }
        let app_slots = options.app_instances.map(|quota| AppSlots {
            quota,
            slots: Arc::new(tokio::sync::Semaphore::new(quota as usize)),
            queue: component::SlotQueue::default(),
        });
        let runtime = Arc::new(Self {
            _engine: engine,
            components,
            app_slots,
        });
        runtime.sweep_idle_instances();
        Ok(runtime)
    }

    /// Every loaded component; a component's index here is how triggers name it.
    pub fn components(&self) -> &[LoadedComponent] {
        &self.components
    }

    /// The index of the component with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.components.iter().position(|c| c.id() == id)
    }

    /// The component at `index`.
    pub fn component(&self, index: usize) -> &LoadedComponent {
        &self.components[index]
    }

    /// Leases an instance of the component at `index` for one event at `chain`: waits,
    /// bounded, for one of its slots (and takes, without waiting, one of the slots of
    /// the component the chain started at, when that is another), then hands over a
    /// kept instance or a fresh store.
    pub async fn lease(&self, index: usize, chain: ChainContext) -> Result<Lease, LeaseError> {
        self.lease_with_args(index, chain, &[]).await
    }

    /// [`AppRuntime::lease`] for an event whose guest gets `args` as its argv (a
    /// command); a kept instance keeps the argv it was made with.
    pub async fn lease_with_args(
        &self,
        index: usize,
        chain: ChainContext,
        args: &[String],
    ) -> Result<Lease, LeaseError> {
        let admission = self.admit(index, &chain).await?;
        let component = &self.components[index];
        let (store, instance, served) = match component.reuse.as_ref().and_then(|r| r.take()) {
            Some(kept) => {
                let mut store = kept.store;
                store.data_mut().set_chain(chain);
                store.set_epoch_deadline(wisp_engine::EPOCH_SLICE_TICKS);
                (store, Some(kept.instance), kept.served)
            }
            None => (component.new_store(chain, args)?, None, 0),
        };
        Ok(Lease {
            component: component.id.clone(),
            timeout: component.limits().timeout,
            pre: component.pre.clone(),
            store,
            instance,
            served,
            reuse: component.reuse.clone(),
            _admission: admission,
        })
    }

    /// Admits one event at `chain` to the component at `index`: waits, bounded, for one
    /// of its slots (and takes, without waiting, one of the slots of the component the
    /// chain started at, when that is another). A trigger that runs the event on an
    /// instance it shares between events holds the admission for as long as the event
    /// runs; [`AppRuntime::lease`] takes one for its instance.
    pub async fn admit(&self, index: usize, chain: &ChainContext) -> Result<Admission, LeaseError> {
        let component = &self.components[index];
        let busy = || LeaseError::Busy(component.id.to_string());
        // An event from outside waits (bounded) for the app's quota; a chained call
        // does not, since its caller holds a slot of the quota while it waits, and
        // callers waiting on each other would never free one.
        let app = match &self.app_slots {
            None => None,
            Some(app) => {
                let permit = if chain.depth == 0 {
                    app.queue.acquire(&app.slots, "app").await
                } else {
                    app.slots.clone().try_acquire_owned().ok()
                };
                Some(permit.ok_or(LeaseError::AppBusy(app.quota))?)
            }
        };
        // Chained instances count against the component the chain started at too, so
        // fanning out cannot take more of the pool than that component may hold.
        let origin = match chain.budget.origin_slots_other_than(&component.slots) {
            None => None,
            Some(origin) => Some(origin.clone().try_acquire_owned().map_err(|_| busy())?),
        };
        let permit = component.acquire().await.ok_or_else(busy)?;
        Ok(Admission {
            _permits: (permit, origin, app),
        })
    }

    /// With instance reuse on, drops kept instances that sat unused past their idle
    /// timeout, once a second, for as long as the app lives.
    fn sweep_idle_instances(self: &Arc<Self>) {
        if self.components.iter().all(|c| c.reuse.is_none()) {
            return;
        }
        let Ok(tokio) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let app: Weak<Self> = Arc::downgrade(self);
        tokio.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { return };
                app.components
                    .iter()
                    .filter_map(|c| c.reuse.as_ref())
                    .for_each(|pool| pool.sweep());
            }
        });
    }
}
