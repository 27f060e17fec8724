//! Opt-in instance reuse (`instance_reuse = N`): an instance that answered cleanly is
//! kept and serves the next event of the same component, up to N in all. An instance is
//! only ever leased to one event at a time, never crosses components, and is dropped
//! after a trap or timeout (it is simply not given back), when it still holds host
//! resources after its call returns (for a WASI 0.3 guest, background work that still
//! holds a stream or a future), or after [`IDLE_TIMEOUT`] unused. Whether a call ended
//! cleanly enough to keep its instance is the trigger's call.

use std::sync::Mutex;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::Instance;
use wisp_engine::HostState;

/// How long an unused instance is kept before it is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A kept instance: its store, the instance in it, and how many events it has served.
pub(crate) struct IdleInstance {
    pub store: Store<HostState>,
    pub instance: Instance,
    pub served: u32,
    since: Instant,
}

/// One component's kept instances.
pub(crate) struct ReusePool {
    max_requests: u32,
    /// At most this many kept at once (the component's concurrency limit).
    max_idle: usize,
    idle: Mutex<Vec<IdleInstance>>,
}

impl ReusePool {
    /// A pool for instances serving up to `max_requests` each; `None` when that is 1
    /// (a fresh instance per event).
    pub(crate) fn new(max_requests: u32, max_idle: u32) -> Option<Self> {
        (max_requests > 1).then(|| Self {
            max_requests,
            max_idle: max_idle as usize,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The most recently used kept instance that has not expired, if any.
    pub(crate) fn take(&self) -> Option<IdleInstance> {
        let mut expired = Vec::new();
        let found = {
            let mut idle = self.idle.lock().expect("reuse pool lock");
            loop {
                match idle.pop() {
                    Some(i) if i.since.elapsed() > IDLE_TIMEOUT => expired.push(i),
                    other => break other,
                }
            }
        };
        // Instances are dropped outside the lock: tearing one down is not free.
        drop(expired);
        found
    }

    /// Keeps an instance that has served `served` events, if it may serve another.
    pub(crate) fn put(&self, store: Store<HostState>, instance: Instance, served: u32) {
        if served >= self.max_requests || !store.data().holds_no_resources() {
            return;
        }
        let mut idle = self.idle.lock().expect("reuse pool lock");
        if idle.len() < self.max_idle {
            idle.push(IdleInstance {
                store,
                instance,
                served,
                since: Instant::now(),
            });
        }
    }

    /// Drops instances unused for longer than [`IDLE_TIMEOUT`].
    pub(crate) fn sweep(&self) {
        let expired: Vec<IdleInstance> = {
            let mut idle = self.idle.lock().expect("reuse pool lock");
            let (old, fresh) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| i.since.elapsed() > IDLE_TIMEOUT);
            *idle = fresh;
            old
        };
        drop(expired);
    }
}
