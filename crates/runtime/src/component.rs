//! One loaded component as the executor holds it: its pre-linked instance, what its
//! instances are granted, its instance slots and the queue in front of them, and its
//! kept instances when reuse is on.

use crate::reuse::ReusePool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::InstancePre;
use wisp_engine::{HostState, InstanceGrants, InstanceLimits};

/// How long an event may wait for a free instance of its component before it is refused.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many events may wait for one component at once; more are refused at once.
pub const MAX_QUEUED_PER_COMPONENT: usize = 1024;

/// A component ready to instantiate, with its limits and slots.
pub struct LoadedComponent {
    pub(crate) id: Arc<str>,
    pub(crate) pre: InstancePre<HostState>,
    pub(crate) grants: InstanceGrants,
    /// Free instance slots (`max_instances`).
    pub(crate) slots: Arc<Semaphore>,
    /// Events waiting for a slot now.
    queue: SlotQueue,
    /// Kept instances, when `instance_reuse` is over 1.
    pub(crate) reuse: Option<Arc<ReusePool>>,
}

impl LoadedComponent {
    pub(crate) fn new(id: String, pre: InstancePre<HostState>, grants: InstanceGrants) -> Self {
        let limits = grants.limits();
        Self {
            id: id.into(),
            pre,
            slots: Arc::new(Semaphore::new(limits.max_instances as usize)),
            queue: SlotQueue::default(),
            reuse: ReusePool::new(limits.instance_reuse, limits.max_instances).map(Arc::new),
            grants,
        }
    }

    /// The component's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its pre-linked instance, for a trigger to find the export it calls.
    pub fn instance_pre(&self) -> &InstancePre<HostState> {
        &self.pre
    }

    /// Whether the component exports a function `name` at its root, and if so whether
    /// it is an `async func` (two versions of a trigger's interface may export the same
    /// name, one async and one not, and the bindings' export lookup does not tell them
    /// apart).
    pub fn root_func_is_async(&self, name: &str) -> Option<bool> {
        let ty = self.pre.component().component_type();
        match ty.get_export(self.pre.engine(), name)?.ty {
            wasmtime::component::types::ComponentItem::ComponentFunc(f) => Some(f.async_()),
            _ => None,
        }
    }

    /// A new store for one of its instances, for an event at `chain` whose guest gets
    /// `args` as its argv.
    pub fn new_store(
        &self,
        chain: wisp_engine::ChainContext,
        args: &[String],
    ) -> Result<wasmtime::Store<HostState>, crate::LeaseError> {
        wisp_engine::WispEngine::new_store(self.pre.engine(), &self.grants, chain, args).map_err(
            |source| crate::LeaseError::Store {
                component: self.id.to_string(),
                source,
            },
        )
    }

    /// The limits its instances run under.
    pub fn limits(&self) -> InstanceLimits {
        self.grants.limits()
    }

    /// Its instance slots: the budget a chain of in-process calls started here draws on.
    pub fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    /// Waits, bounded in count and time, for a free instance slot.
    pub(crate) async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.queue.acquire(&self.slots, &self.id).await
    }
}

/// The bounded wait in front of a set of slots: at most [`MAX_QUEUED_PER_COMPONENT`]
/// waiters, each for at most [`QUEUE_TIMEOUT`].
#[derive(Default)]
pub(crate) struct SlotQueue {
    queued: AtomicUsize,
}

impl SlotQueue {
    /// Waits, bounded in count and time, for one of `slots`; `what` names them in logs.
    pub(crate) async fn acquire(
        &self,
        slots: &Arc<Semaphore>,
        what: &str,
    ) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Some(permit);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUED_PER_COMPONENT {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(slots = %what, "instance queue full");
            return None;
        }
        let waited = tokio::time::timeout(QUEUE_TIMEOUT, slots.clone().acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Some(permit),
            _ => {
                tracing::warn!(slots = %what, "no free instance within {QUEUE_TIMEOUT:?}");
                None
            }
        }
    }
}
