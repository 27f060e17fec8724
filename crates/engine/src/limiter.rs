//! What one instance may take of the host's memory, counted over the whole instance: every
//! linear memory and every table of every core instance inside the component, not each
//! memory on its own (a component with four memories would otherwise get four times its
//! limit). Each instance also draws on a host-wide budget (`--max-total-memory`), so the
//! sum over all instances is bounded too; past that a request gets 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Linear memories one component instance may define: Rust and SDK-built components use
/// one to three (the module, an adapter, a shim).
pub const MAX_MEMORIES_PER_INSTANCE: usize = 16;

/// Tables one component instance may define.
pub const MAX_TABLES_PER_INSTANCE: usize = 64;

/// Host bytes counted per table element (a function reference and its type).
const TABLE_ELEMENT_BYTES: usize = 16;

/// The host-wide budget of guest memory, shared by every store.
#[derive(Debug)]
pub struct HostMemoryBudget {
    max: u64,
    used: AtomicU64,
}

impl HostMemoryBudget {
    /// A budget of `max` bytes.
    pub fn new(max: u64) -> Self {
        Self {
            max,
            used: AtomicU64::new(0),
        }
    }

    /// Bytes of guest memory and tables alive now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn try_charge(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.max)
            })
            .is_ok()
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// The host-wide budget could not cover an instance's memory: the request gets 503.
#[derive(Debug, thiserror::Error)]
#[error("the host's guest-memory budget ({max} bytes) is spent")]
pub struct HostMemoryExhausted {
    /// The budget, in bytes.
    pub max: u64,
}

/// A store's limiter: the instance's own limit over all its memories and tables, and its
/// share of the host budget, returned when the store is dropped.
pub struct InstanceLimiter {
    limit: usize,
    used: usize,
    host: Option<Arc<HostMemoryBudget>>,
}

impl InstanceLimiter {
    /// A limiter allowing `limit` bytes in all, drawn from `host` when given.
    pub fn new(limit: usize, host: Option<Arc<HostMemoryBudget>>) -> Self {
        Self {
            limit,
            used: 0,
            host,
        }
    }

    /// Grows the instance's total by `bytes`: `Ok(false)` past its own limit (the guest's
    /// `memory.grow` returns -1), an error when the host budget is spent.
    fn grow(&mut self, bytes: usize) -> wasmtime::Result<bool> {
        let Some(total) = self.used.checked_add(bytes).filter(|t| *t <= self.limit) else {
            return Ok(false);
        };
        if let Some(host) = &self.host
            && !host.try_charge(bytes as u64)
        {
            return Err(HostMemoryExhausted { max: host.max }.into());
        }
        self.used = total;
        Ok(true)
    }
}

impl wasmtime::ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if past(desired, maximum) {
            return Ok(false);
        }
        self.grow(desired.saturating_sub(current))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.grow(
            desired
                .saturating_sub(current)
                .saturating_mul(TABLE_ELEMENT_BYTES),
        )
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES_PER_INSTANCE
    }

    fn tables(&self) -> usize {
        MAX_TABLES_PER_INSTANCE
    }
}

/// Whether `desired` is past the memory's or table's own declared maximum.
fn past(desired: usize, maximum: Option<usize>) -> bool {
    maximum.is_some_and(|max| desired > max)
}

impl Drop for InstanceLimiter {
    fn drop(&mut self) {
        if let Some(host) = &self.host {
            host.release(self.used as u64);
        }
    }
}

#[cfg(test)]
mod tests;
