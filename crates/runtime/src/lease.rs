//! A lease on one instance of a component: the slot it holds, its store (fresh, or kept
//! from an earlier event), and the instance to call. A trigger takes a lease, puts its
//! event into the store, calls its export under [`crate::run_guarded`], and releases the
//! lease; a clean instance may then serve the next event of its component.

use crate::reuse::ReusePool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};
use wisp_engine::HostState;

/// Why no instance could be leased.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Every slot of the component (or of the component a chain started at) is taken,
    /// and none freed within the queue's bounds: try again later.
    #[error("component `{0}` has no free instance")]
    Busy(String),
    /// The app as a whole holds as many instances as it may (its app-wide quota), and
    /// none freed within the queue's bounds: try again later.
    #[error("the app has no free instance (all {0} of its app-wide quota are in use)")]
    AppBusy(u32),
    /// The instance's store could not be set up.
    #[error("component `{component}`: cannot create an instance store: {source}")]
    Store {
        /// Component id.
        component: String,
        /// Why.
        #[source]
        source: anyhow::Error,
    },
}

/// One instance of a component, leased to one event.
pub struct Lease {
    pub(crate) component: Arc<str>,
    pub(crate) timeout: Duration,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) store: Store<HostState>,
    /// The kept instance, when reused; `None` until [`Lease::instance`] makes one.
    pub(crate) instance: Option<Instance>,
    /// Events the instance served before this one.
    pub(crate) served: u32,
    pub(crate) reuse: Option<Arc<ReusePool>>,
    /// Held as long as the instance lives, streaming included.
    pub(crate) _admission: Admission,
}

/// An event's admission to its component: the component's slot, the slot of the
/// component a chain started at, and the app-wide slot. Dropping it frees them.
pub struct Admission {
    pub(crate) _permits: (
        OwnedSemaphorePermit,
        Option<OwnedSemaphorePermit>,
        Option<OwnedSemaphorePermit>,
    ),
}

impl Lease {
    /// The component's id (shared: cloning it allocates nothing).
    pub fn component(&self) -> &Arc<str> {
        &self.component
    }

    /// The wall-clock budget of this event.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The instance's store, to put the event into.
    pub fn store(&mut self) -> &mut Store<HostState> {
        &mut self.store
    }

    /// The instance to call: the kept one, or a new one from the component's
    /// `InstancePre` (a pooling-allocator slot, copy-on-write memory).
    pub async fn instance(&mut self) -> wasmtime::Result<Instance> {
        if let Some(instance) = self.instance {
            return Ok(instance);
        }
        let instance = self.pre.instantiate_async(&mut self.store).await?;
        self.instance = Some(instance);
        Ok(instance)
    }

    /// Ends the lease. An instance whose call ended `clean`ly (and that the trigger may
    /// call again) is kept for the next event if the component reuses instances, it has
    /// served fewer than its limit and it holds no host resources; any other is dropped.
    pub fn release(self, clean: bool) {
        if let (true, Some(pool), Some(instance)) = (clean, self.reuse, self.instance) {
            pool.put(self.store, instance, self.served + 1);
        }
    }
}
