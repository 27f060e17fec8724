//! wisp-engine owns everything wasmtime: the process's engines (one without and, built
//! when first needed, one with component-model-async; see [`EngineKind`]) with the pooling
//! allocator, copy-on-write memory images and an epoch ticker; compiling components once
//! and caching them on disk; adapting core modules into components; an `InstancePre`
//! per component; and a fresh [`Store`] per request holding only what the component was
//! granted. It knows nothing of HTTP listeners or routes.

mod adapt;
mod busy;
mod cache;
mod files;
mod guest_output;
mod http_client;
mod limiter;
mod outbound;
mod runtime;
mod source;
mod state;

pub use adapt::{WasmKind, classify};
pub use cache::CompileCache;
pub use files::{stage_app_files, stage_files};
pub use guest_output::{GuestOutput, Stream};
pub use http_client::{ComponentHttpClient, MAX_REQUESTS_PER_INSTANCE};
pub use limiter::{
    HostMemoryBudget, HostMemoryExhausted, MAX_MEMORIES_PER_INSTANCE, MAX_TABLES_PER_INSTANCE,
};
pub use outbound::{
    ChainContext, FanOutBudget, InternalHttp, InternalResponse, InternalTarget, MAX_CHAIN_DEPTH,
    OutboundHttp,
};
pub use runtime::{EngineKind, compile_fingerprint};
pub use source::{ComponentSource, SourceOrigin};
pub use state::HostState;

pub use busy::BusyLane;
use limiter::InstanceLimiter;
use runtime::Runtime;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, InstancePre, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpCtx;

/// How often the epoch advances: a busy guest runs at most this long before yielding its
/// thread, and a timeout fires at most this late. Short, because every other request on
/// the same worker waits out a busy guest's slice (with 10 ms, four looping guests cut a
/// good component's throughput on one core to ~8% of idle); the ticker's cost is one
/// thread wake-up per tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks a guest runs before it yields: two, so it yields only after running one to two
/// ticks. With one, any guest that happened to run across a tick boundary yielded, and
/// under load its request went to the back of the run queue for nothing (about 1% of
/// hello-world requests, most of the 64-connection p99).
pub const EPOCH_SLICE_TICKS: u64 = 2;

/// Default for [`EngineConfig::max_instances`].
pub const DEFAULT_MAX_INSTANCES: u32 = 512;

/// Default for [`InstanceLimits::max_fanout`].
pub const DEFAULT_MAX_FANOUT: u32 = 64;

/// A component's default share of a pool of `pool` instances: half, so that no one
/// component (a runaway, or one fanning out through service chaining) can take every
/// slot from the others.
pub const fn default_instances_per_component(pool: u32) -> u32 {
    if pool > 1 { pool / 2 } else { 1 }
}

/// Limits every instance of a component runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceLimits {
    /// Maximum linear memory per instance, in bytes; growth past it fails in the guest.
    pub memory: u64,
    /// Wall-clock budget per request.
    pub timeout: Duration,
    /// Concurrent instances of one component.
    pub max_instances: u32,
    /// Requests one instance may serve before it is dropped
    /// (1: a fresh instance for every request, the default).
    pub instance_reuse: u32,
    /// Requests one reused WASI 0.3 HTTP instance may serve at the same time
    /// (1, the default: one at a time).
    pub instance_concurrency: u32,
    /// Instances one request to this component may cause through service chaining,
    /// over its whole life (the first instance not counted).
    pub max_fanout: u32,
}

impl InstanceLimits {
    /// The defaults: 256 MiB, 30 s, half the pool's instances, 64 chained instances.
    pub const DEFAULT: Self = Self {
        memory: 256 << 20,
        timeout: Duration::from_secs(30),
        max_instances: default_instances_per_component(DEFAULT_MAX_INSTANCES),
        instance_reuse: 1,
        instance_concurrency: 1,
        max_fanout: DEFAULT_MAX_FANOUT,
    };

    /// These limits with a component's `[component.X.limits]` applied on top.
    pub fn with_overrides(self, overrides: &wisp_manifest::Limits) -> Self {
        Self {
            memory: overrides.memory.unwrap_or(self.memory),
            timeout: overrides.timeout.unwrap_or(self.timeout),
            max_instances: overrides.max_instances.unwrap_or(self.max_instances),
            instance_reuse: overrides.instance_reuse.unwrap_or(self.instance_reuse),
            instance_concurrency: overrides
                .instance_concurrency
                .unwrap_or(self.instance_concurrency),
            max_fanout: self.max_fanout,
        }
    }

    /// These limits, none above `ceiling`'s memory, timeout, instances and fan-out.
    pub fn at_most(self, ceiling: &Self) -> Self {
        Self {
            memory: self.memory.min(ceiling.memory),
            timeout: self.timeout.min(ceiling.timeout),
            max_instances: self.max_instances.min(ceiling.max_instances),
            max_fanout: self.max_fanout.min(ceiling.max_fanout),
            ..self
        }
    }
}

/// Errors from preparing components.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The file is not Wasm at all.
    #[error("not a WebAssembly component or module: {0}")]
    NotWasm(String),
    /// A core module that `wit-component` could not turn into a component.
    #[error("cannot turn this core module into a component: {0}")]
    Adapt(String),
    /// wasmtime rejected the component.
    #[error("cannot compile: {0}")]
    Compile(String),
    /// The component needs imports the host does not provide.
    #[error("cannot link: {0}")]
    Link(String),
    /// Reading the file, staging files or opening logs failed.
    #[error("{0}")]
    Io(String),
    /// The engine could not be configured (e.g. the pooling allocator's reservation).
    #[error("cannot configure the engine: {0}")]
    Config(String),
}

/// Process-wide engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Concurrent component instances each engine's pooling allocator is sized for.
    pub max_instances: u32,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Guest memory and tables all instances together may hold; `None`: no host-wide cap.
    pub max_total_memory: Option<u64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_instances: DEFAULT_MAX_INSTANCES,
            cache_dir: CompileCache::default_dir(),
            max_total_memory: None,
        }
    }
}

/// Where a component's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    /// Compiled now (and stored in the cache, if enabled).
    Compiled,
    /// Loaded from the compile cache.
    Cache,
}

/// How loading one component went.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Compiled or cached.
    pub origin: CodeOrigin,
    /// The engine it runs on.
    pub engine: EngineKind,
    /// Whether the source was a core module adapted into a component.
    pub adapted: bool,
    /// Time spent reading, adapting and compiling or deserializing.
    pub elapsed: Duration,
}

/// The engine: one per process.
pub struct WispEngine {
    max_instances: u32,
    sync: Runtime,
    /// Built when a component first needs it: its pool is a second reservation that most
    /// apps never use. Shared with the epoch ticker.
    concurrent: Arc<OnceLock<Runtime>>,
    cache: Option<CompileCache>,
    ticker_stop: Arc<AtomicBool>,
    host_memory: Option<Arc<HostMemoryBudget>>,
    /// Where guests that keep the CPU for long take turns.
    busy_lane: BusyLane,
}

impl WispEngine {
    /// Builds the engine without component-model-async and starts the epoch ticker.
    pub fn new(config: &EngineConfig) -> Result<Self, EngineError> {
        let sync = Runtime::new(EngineKind::Sync, config.max_instances)?;
        let concurrent: Arc<OnceLock<Runtime>> = Arc::default();
        let ticker_stop = Arc::new(AtomicBool::new(false));
        {
            let sync = sync.engine.clone();
            let concurrent = concurrent.clone();
            let stop = ticker_stop.clone();
            std::thread::Builder::new()
                .name("wisp-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        sync.increment_epoch();
                        if let Some(runtime) = concurrent.get() {
                            runtime.engine.increment_epoch();
                        }
                    }
                })
                .map_err(|e| EngineError::Config(e.to_string()))?;
        }
        let cache = config
            .cache_dir
            .clone()
            .map(|dir| CompileCache::new(dir, &sync.engine));
        Ok(Self {
            max_instances: config.max_instances,
            sync,
            concurrent,
            cache,
            ticker_stop,
            host_memory: config
                .max_total_memory
                .map(|max| Arc::new(HostMemoryBudget::new(max))),
            busy_lane: BusyLane::for_this_machine(),
        })
    }

    /// The engine of `kind`, built now if this is its first use.
    fn runtime(&self, kind: EngineKind) -> Result<&Runtime, EngineError> {
        match kind {
            EngineKind::Sync => Ok(&self.sync),
            EngineKind::Async => {
                if let Some(runtime) = self.concurrent.get() {
                    return Ok(runtime);
                }
                let built = Runtime::new(EngineKind::Async, self.max_instances)?;
                // Loads run one at a time; if two ever raced, the loser's engine is dropped.
                Ok(self.concurrent.get_or_init(|| built))
            }
        }
    }

    /// The compile cache, if enabled.
    pub fn cache(&self) -> Option<&CompileCache> {
        self.cache.as_ref()
    }

    /// Adapts a core module into a component, compiles `source` (or loads it from the
    /// cache, by its digest) and pre-links it, on the first engine it links on: the one
    /// without component-model-async unless the component needs it.
    pub fn load_component(
        &self,
        source: &ComponentSource,
    ) -> Result<(InstancePre<HostState>, LoadReport), EngineError> {
        let start = Instant::now();
        let bytes = source.bytes();
        let kind = classify(bytes)?;
        let adapted = kind == WasmKind::CoreModule;
        let report = |origin, engine| LoadReport {
            origin,
            engine,
            adapted,
            elapsed: start.elapsed(),
        };
        let cached = self
            .cache
            .as_ref()
            .map(|cache| (cache, cache.keys(source.digest())));
        if let Some((cache, keys)) = &cached {
            for (engine, key) in keys {
                if !cache.contains(key) {
                    continue;
                }
                let runtime = self.runtime(*engine)?;
                if let Some(component) = cache.load(&runtime.engine, key)
                    && let Ok(pre) = runtime.linker.instantiate_pre(&component)
                {
                    return Ok((pre, report(CodeOrigin::Cache, *engine)));
                }
            }
        }
        let component_bytes = match kind {
            WasmKind::Component => bytes,
            WasmKind::CoreModule => &adapt::module_to_component(bytes)?,
        };
        let compile_on = |engine| {
            let runtime = self.runtime(engine)?;
            let component = Component::new(&runtime.engine, component_bytes)
                .map_err(|e| EngineError::Compile(one_line(&format!("{e:#}"))))?;
            runtime
                .linker
                .instantiate_pre(&component)
                .map_err(|e| link_error(&format!("{e:#}")))
        };
        // A component that needs component-model-async fails validation on the engine
        // without it, before any code is generated: it gets the other engine. One that
        // compiles but does not link gets the other engine only if it imports WASI 0.3
        // (what only that linker has); anything else missing is missing from both, so it
        // is reported at once rather than after compiling a second time.
        let (pre, engine) = match compile_on(EngineKind::Sync) {
            Ok(pre) => (pre, EngineKind::Sync),
            Err(EngineError::Link(why)) if !adapt::imports_wasi_p3(component_bytes) => {
                return Err(EngineError::Link(why));
            }
            Err(_) => (compile_on(EngineKind::Async)?, EngineKind::Async),
        };
        if let Some((cache, keys)) = &cached
            && let Some((_, key)) = keys.iter().find(|(kind, _)| *kind == engine)
        {
            cache.store(key, pre.component());
        }
        Ok((pre, report(CodeOrigin::Compiled, engine)))
    }

    /// Everything a component needs per instance, built once at load: its granted
    /// environment, staged files and output streams.
    pub fn grants(
        &self,
        app_root: &Path,
        component: &wisp_manifest::Component,
        options: &GrantOptions,
    ) -> Result<InstanceGrants, EngineError> {
        let io = |e: anyhow::Error| EngineError::Io(format!("component `{}`: {e:#}", component.id));
        let files_root = files::stage_files(
            app_root,
            &component.files,
            &component.exclude_files,
            &options.state_dir,
            &options.state_dir.join("files").join(&component.id),
        )
        .map_err(io)?;
        let log_dir = options.state_dir.join("logs");
        let out = |s| {
            GuestOutput::new(&component.id, s, Some(&log_dir), options.log_max_bytes)
                .map_err(|e| io(e.into()))
        };
        // `--env` overrides the manifest's `environment` for the same name.
        let mut env: Vec<(String, String)> = component
            .environment
            .iter()
            .filter(|(k, _)| !options.extra_env.iter().any(|(name, _)| name == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(options.extra_env.iter().cloned());
        let caps = Arc::new(options.capabilities.grants_for(component));
        let outbound = caps.outbound();
        let http_client = Arc::new(ComponentHttpClient::new(
            outbound.clone(),
            caps.tls().clone(),
            caps.outbound_http(),
        ));
        Ok(InstanceGrants {
            http_client,
            tcp: outbound.allows_any_with_scheme("tcp"),
            udp: outbound.allows_any_with_scheme("udp"),
            env,
            files_root,
            limits: {
                let limits = options.limits.with_overrides(&component.limits);
                options
                    .ceiling
                    .as_ref()
                    .map_or(limits, |c| limits.at_most(c))
            },
            caps,
            host_memory: self.host_memory.clone(),
            busy_lane: self.busy_lane.clone(),
            busy_guests: Arc::default(),
            stdout: out(Stream::Stdout)?,
            stderr: out(Stream::Stderr)?,
        })
    }

    /// A fresh store on `engine` (the one the component was loaded on) for one instance
    /// of a component with `grants`, serving an event at `chain` (its place in a chain
    /// of in-process requests), with `args` as the guest's argv.
    pub fn new_store(
        engine: &Engine,
        grants: &InstanceGrants,
        chain: ChainContext,
        args: &[String],
    ) -> anyhow::Result<Store<HostState>> {
        let mut wasi = WasiCtxBuilder::new();
        let (tcp, udp) = (grants.tcp, grants.udp);
        wasi.args(args)
            .envs(&grants.env)
            .stdout(grants.stdout.clone())
            .stderr(grants.stderr.clone())
            .allow_tcp(tcp)
            .allow_udp(udp)
            .allow_ip_name_lookup(tcp || udp);
        if tcp || udp {
            let policy = grants.caps.outbound().clone();
            wasi.socket_addr_check(move |addr, use_| {
                let allowed = outbound::socket_allowed(&policy, addr, use_);
                Box::pin(async move { allowed })
            });
        }
        if let Some(root) = &grants.files_root {
            wasi.preopened_dir(root, "/", FsPerms::ReadOnly)?;
        }
        let state = HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            http_hooks: OutboundHttp {
                chain,
                client: grants.http_client.clone(),
                in_flight: None,
            },
            caps: wisp_capabilities::InstanceCapabilities::new(grants.caps.clone()),
            // Growth past the instance's limit fails inside the guest (its allocator sees
            // out-of-memory); past the host's budget, the request fails with 503.
            limits: InstanceLimiter::new(
                usize::try_from(grants.limits.memory).unwrap_or(usize::MAX),
                grants.host_memory.clone(),
            ),
            slices: busy::SliceTracker::new(grants.busy_lane.clone(), grants.busy_guests.clone()),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        // Yield to the async runtime at every epoch slice so a busy guest cannot starve
        // other requests on its thread, and past a run of slices take turns in the busy
        // lane so busy guests cannot take every thread (`busy.rs`).
        store.set_epoch_deadline(EPOCH_SLICE_TICKS);
        store.epoch_deadline_callback(|mut ctx| {
            Ok(ctx.data_mut().slices.deadline(EPOCH_SLICE_TICKS))
        });
        Ok(store)
    }
}

impl Drop for WispEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

/// Options that apply to every component of an app.
#[derive(Clone)]
pub struct GrantOptions {
    /// The app's capabilities (stores, databases, variables), loaded once.
    pub capabilities: Arc<wisp_capabilities::AppCapabilities>,
    /// The app's state directory (logs, staged files).
    pub state_dir: PathBuf,
    /// Limits for components that do not set their own.
    pub limits: InstanceLimits,
    /// Size cap of each guest log file before it is rotated.
    pub log_max_bytes: u64,
    /// `--env` pairs, given to every component; they override its own `environment`.
    pub extra_env: Vec<(String, String)>,
    /// Limits no component may exceed, whatever its `[component.X.limits]` say (in
    /// platform mode the manifest is a tenant's, and a tenant must not raise its own).
    pub ceiling: Option<InstanceLimits>,
    /// Instances the whole app may hold at once, across its components and triggers
    /// (platform mode: one tenant's share of the shared pool); none: no app-wide bound.
    pub app_instances: Option<u32>,
}

/// What one component's instances are granted; cheap to reuse per request.
pub struct InstanceGrants {
    limits: InstanceLimits,
    env: Vec<(String, String)>,
    files_root: Option<PathBuf>,
    caps: Arc<wisp_capabilities::ComponentGrants>,
    /// The component's outbound HTTP client and its connection pool.
    http_client: Arc<ComponentHttpClient>,
    /// Whether any outbound entry can match `tcp://` / `udp://`: decided once, since
    /// sockets are off for every instance unless one does.
    tcp: bool,
    udp: bool,
    stdout: GuestOutput,
    stderr: GuestOutput,
    /// The host-wide guest-memory budget every instance draws on, if any.
    host_memory: Option<Arc<HostMemoryBudget>>,
    /// The host-wide lane busy guests take turns in.
    busy_lane: BusyLane,
    /// How many of this component's guests are busy now.
    busy_guests: Arc<std::sync::atomic::AtomicUsize>,
}

impl InstanceGrants {
    /// The limits this component's instances run under.
    pub fn limits(&self) -> InstanceLimits {
        self.limits
    }
}

/// A link failure in one line, naming the missing import and, for imports Spin SDKs are
/// known to make, which SDKs make them.
fn link_error(wasmtime_error: &str) -> EngineError {
    let text = one_line(wasmtime_error);
    let missing = text
        .split_once("imports instance `")
        .or_else(|| text.split_once("imports function `"))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_owned());
    let Some(missing) = missing else {
        return EngineError::Link(text);
    };
    let hint = if missing.starts_with("fermyon:spin/llm") || missing.starts_with("spin:llm") {
        " (the Spin Python SDK imports it in every app; wisp does not serve Spin's llm interface yet)"
    } else if missing.contains("@0.3.0-rc-") {
        " (a WASI 0.3 release candidate, as spin-sdk 6.0.0 and the Python SDK 4.x–5.0 import; wisp serves the released WASI 0.3.0)"
    } else {
        ""
    };
    EngineError::Link(format!("the host does not provide `{missing}`{hint}"))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
