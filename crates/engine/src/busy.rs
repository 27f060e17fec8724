//! The busy lane: guests that keep the CPU for long share fewer threads than the host
//! has, so short requests always find a free one.
//!
//! Every guest yields to the async runtime at each epoch slice (2 ms of running). That
//! alone lets a busy guest share its thread, but a flood of busy guests — an app whose
//! every request loops until the timeout — still fills every worker, and every other
//! app's requests wait in run queues behind 2 ms slices. So once a store has run for
//! [`BUSY_AFTER_SLICES`] slices in a row it may continue only while holding a permit of
//! the host-wide busy lane, which has one permit fewer than the machine has CPUs (at
//! least one). Permits are held for [`QUANTUM_SLICES`] slices, then handed on in FIFO
//! order, so busy guests take turns; a guest waiting for one is parked, using no CPU,
//! and while a component has busy guests its other guests are busy from their first
//! slice (a flood of looping requests gets no free start each),
//! while their wall-clock timeouts keep running. Slices are counted per event: a fresh
//! store starts at zero, and a kept instance is reset when it takes its next event. (Not
//! by pauses in wall time: under contention a busy guest's slices are far apart because
//! it waits its turn, which is exactly when it must count.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::UpdateDeadline;

/// Slices in one event (about 2 ms each) after which a guest is busy.
pub const BUSY_AFTER_SLICES: u32 = 10;
/// Slices a busy guest runs on one permit before it queues again.
pub const QUANTUM_SLICES: u32 = 100;
/// Epoch ticks (1 ms each) in a busy guest's slices.
pub const BUSY_SLICE_TICKS: u64 = 1;

/// The host-wide lane busy guests run in.
#[derive(Clone)]
pub struct BusyLane(Arc<Semaphore>);

impl BusyLane {
    /// A lane of one permit fewer than this machine has CPUs (at least one).
    pub fn for_this_machine() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_permits(cpus.saturating_sub(1).max(1))
    }

    /// A lane of `permits` permits.
    pub fn with_permits(permits: usize) -> Self {
        Self(Arc::new(Semaphore::new(permits)))
    }
}

/// The permit the lane handed over, once it has.
type Granted = Arc<Mutex<Option<OwnedSemaphorePermit>>>;

/// One store's slices in this event, and its permit while busy.
pub(crate) struct SliceTracker {
    lane: BusyLane,
    /// How many guests of this store's component are busy now.
    component_busy: Arc<AtomicUsize>,
    /// Whether this store counts among them.
    busy: bool,
    run: u32,
    held: u32,
    granted: Granted,
}

impl Drop for SliceTracker {
    fn drop(&mut self) {
        self.reset();
    }
}

impl SliceTracker {
    /// A tracker drawing on `lane`, for a store of the component whose busy guests
    /// `component_busy` counts.
    pub fn new(lane: BusyLane, component_busy: Arc<AtomicUsize>) -> Self {
        Self {
            lane,
            component_busy,
            busy: false,
            run: 0,
            held: 0,
            granted: Granted::default(),
        }
    }

    /// A new event on a kept instance: whatever it did before does not count.
    pub fn reset(&mut self) {
        self.run = 0;
        self.held = 0;
        if std::mem::take(&mut self.busy) {
            self.component_busy.fetch_sub(1, Ordering::Relaxed);
        }
        *self.granted.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// What the store does at the end of a slice, as wasmtime takes it.
    pub fn deadline(&mut self, slice_ticks: u64) -> UpdateDeadline {
        match self.on_slice(slice_ticks) {
            SliceEnd::Run(ticks) => yield_for(ticks),
            SliceEnd::Queue => {
                UpdateDeadline::YieldCustom(BUSY_SLICE_TICKS, Box::pin(self.queue()))
            }
        }
    }

    /// Counts the slice; whether the guest runs on (after a yield) or queues for a permit.
    fn on_slice(&mut self, slice_ticks: u64) -> SliceEnd {
        let granted = self
            .granted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        self.run = self.run.saturating_add(1);
        if !self.busy {
            if self.run < BUSY_AFTER_SLICES && self.component_busy.load(Ordering::Relaxed) == 0 {
                return SliceEnd::Run(slice_ticks);
            }
            self.busy = true;
            self.component_busy.fetch_add(1, Ordering::Relaxed);
        }
        // A busy guest runs in slices of one tick, so what shares its thread waits less.
        if granted && self.held < QUANTUM_SLICES {
            self.held += 1;
            return SliceEnd::Run(BUSY_SLICE_TICKS);
        }
        SliceEnd::Queue
    }

    /// Hands back the permit held, if any, and waits for the next.
    fn queue(&mut self) -> impl Future<Output = ()> + Send + 'static {
        self.held = 0;
        let granted = self.granted.clone();
        granted.lock().unwrap_or_else(|e| e.into_inner()).take();
        let lane = self.lane.0.clone();
        async move {
            if let Ok(permit) = lane.acquire_owned().await {
                *granted.lock().unwrap_or_else(|e| e.into_inner()) = Some(permit);
            }
            tokio::task::yield_now().await;
        }
    }
}

/// How a slice ends.
#[derive(Debug, PartialEq, Eq)]
enum SliceEnd {
    /// Yield, then run this many ticks.
    Run(u64),
    /// Wait for a permit of the busy lane.
    Queue,
}

/// Yields to the other tasks, then runs `ticks` more. Through tokio's `yield_now`, as
/// wasmtime advises: its plain `Yield` wakes the task from inside its own poll, and
/// tokio runs a task woken that way again next, ahead of everything queued on the thread.
fn yield_for(ticks: u64) -> UpdateDeadline {
    UpdateDeadline::YieldCustom(ticks, Box::pin(tokio::task::yield_now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(tracker: &mut SliceTracker, slices: u32) -> Vec<&'static str> {
        (0..slices)
            .map(|_| match tracker.on_slice(2) {
                SliceEnd::Run(_) => "yield",
                SliceEnd::Queue => "queue",
            })
            .collect()
    }

    #[tokio::test]
    async fn a_guest_queues_only_once_busy_and_each_event_counts_afresh() {
        let lane = BusyLane::with_permits(1);
        let component = Arc::new(AtomicUsize::new(0));
        let mut tracker = SliceTracker::new(lane.clone(), component.clone());
        let run = kinds(&mut tracker, BUSY_AFTER_SLICES);
        assert!(run[..run.len() - 1].iter().all(|k| *k == "yield"));
        assert_eq!(run.last(), Some(&"queue"));
        assert_eq!(component.load(Ordering::Relaxed), 1);
        // While one guest of the component is busy, another is busy from its first slice.
        let mut sibling = SliceTracker::new(lane.clone(), component.clone());
        assert_eq!(kinds(&mut sibling, 1), ["queue"]);
        drop(sibling);
        assert_eq!(component.load(Ordering::Relaxed), 1);
        for _ in 0..10 {
            tracker.reset();
            assert_eq!(component.load(Ordering::Relaxed), 0);
            let short = kinds(&mut tracker, BUSY_AFTER_SLICES - 1);
            assert!(short.iter().all(|k| *k == "yield"));
        }
    }

    #[tokio::test]
    async fn a_permit_lasts_one_quantum_and_is_handed_back() {
        let lane = BusyLane::with_permits(1);
        let mut tracker = SliceTracker::new(lane.clone(), Arc::default());
        kinds(&mut tracker, BUSY_AFTER_SLICES - 1);
        assert_eq!(tracker.on_slice(2), SliceEnd::Queue);
        tracker.queue().await;
        assert_eq!(lane.0.available_permits(), 0);
        let quantum = kinds(&mut tracker, QUANTUM_SLICES + 1);
        assert!(
            quantum[..QUANTUM_SLICES as usize]
                .iter()
                .all(|k| *k == "yield")
        );
        assert_eq!(quantum.last(), Some(&"queue"));
        let next = tracker.queue();
        assert_eq!(
            lane.0.available_permits(),
            1,
            "the permit went back to the lane"
        );
        next.await;
        assert_eq!(lane.0.available_permits(), 0);
        tracker.reset();
        assert_eq!(lane.0.available_permits(), 1);
    }
}
