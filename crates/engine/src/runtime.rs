//! wisp's two wasmtime engines. A component that needs the component model's async ABI
//! (WASI 0.3, Spin 3's `async func` interfaces) runs on an engine with concurrency
//! support. Every other component runs on one without it. On that engine a guest's call
//! into the host skips component-model-async's task bookkeeping (a host task created,
//! made current and deleted on every call). That bookkeeping was about a tenth of a
//! WASI 0.2 request's CPU time, and instantiation pays for concurrent state too.

use crate::{EngineError, HostState};
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Dirty linear-memory bytes a pool slot may keep mapped between instances (with
/// PAGEMAP_SCAN): a hello-world Rust guest dirties a few hundred KiB; 2 MiB covers most
/// small guests and bounds what an idle slot holds.
const MEMORY_KEEP_RESIDENT: usize = 2 << 20;
/// The same for tables.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Which engine a component runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// Without component-model-async: WASI 0.2 and Spin's synchronous interfaces.
    Sync,
    /// With component-model-async: also WASI 0.3 and Spin 3's async interfaces.
    Async,
}

impl EngineKind {
    /// In the order a component is tried on them: the cheaper engine first.
    pub(crate) const PREFERENCE: [Self; 2] = [Self::Sync, Self::Async];

    /// How the CLI names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Sync => "WASI 0.2 engine",
            Self::Async => "component-model-async engine",
        }
    }

    /// Its tag in compile-cache keys.
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
        }
    }
}

/// One engine and the linker of everything the host provides on it.
pub(crate) struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
}

impl Runtime {
    /// An engine of `kind` whose pool holds `max_instances` component instances.
    pub(crate) fn new(kind: EngineKind, max_instances: u32) -> Result<Self, EngineError> {
        let engine = Engine::new(&config(kind, max_instances)).map_err(config_error)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
            .map_err(config_error)?;
        match kind {
            EngineKind::Sync => {
                wisp_capabilities::add_sync_to_linker(&mut linker, HostState::capabilities)
            }
            EngineKind::Async => wasmtime_wasi::p3::add_to_linker(&mut linker)
                .and_then(|()| wasmtime_wasi_http::p3::add_to_linker(&mut linker))
                .and_then(|()| {
                    wisp_capabilities::add_to_linker(&mut linker, HostState::capabilities)
                }),
        }
        .map_err(config_error)?;
        Ok(Self { engine, linker })
    }
}

fn config_error(e: wasmtime::Error) -> EngineError {
    EngineError::Config(format!("{e:#}"))
}

/// The configuration of an engine of `kind` whose pool holds `max_instances` instances.
fn config(kind: EngineKind, max_instances: u32) -> Config {
    let concurrent = kind == EngineKind::Async;
    let mut config = Config::new();
    config
        .concurrency_support(concurrent)
        .wasm_component_model_async(concurrent)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool(max_instances)));
    config
}

/// The fingerprint compile-cache entries are keyed under (see
/// [`CompileCache::fingerprint`](crate::CompileCache::fingerprint)), without building a
/// whole engine: a bare wasmtime engine of the same configuration, dropped at once.
pub fn compile_fingerprint() -> Result<String, EngineError> {
    let engine = Engine::new(&config(EngineKind::Sync, 1)).map_err(config_error)?;
    Ok(crate::CompileCache::new(std::path::PathBuf::new(), &engine)
        .fingerprint()
        .to_owned())
}

/// The pooling allocator's configuration for `max_instances` component instances.
fn pool(max_instances: u32) -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    let n = max_instances.max(1);
    // A Rust component has a handful of core instances, tables and memories (the
    // module, shims, adapters); sizing per component instance keeps the pool honest.
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(10))
        .total_memories(n.saturating_mul(4))
        .total_tables(n.saturating_mul(10))
        .total_stacks(n)
        // The same caps the store's limiter applies, so no one component can hold more
        // pool slots than that (a hostile one would define dozens of memories).
        .max_memories_per_component(crate::limiter::MAX_MEMORIES_PER_INSTANCE as u32)
        .max_tables_per_component(crate::limiter::MAX_TABLES_PER_INSTANCE as u32);
    // A slot keeps the pages its last instance dirtied, reset by copying instead of
    // `madvise`, so the next instance in it takes no page faults. PAGEMAP_SCAN (Linux
    // 6.7+) finds exactly the dirty pages; without it keep-resident would reset the
    // whole range with memset, which costs more than the faults it saves.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT);
    }
    pool
}
