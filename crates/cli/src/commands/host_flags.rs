//! The engine, listener and per-instance limit flags `wisp up` and `wisp serve` share.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use wisp_engine::{EngineConfig, InstanceLimits};
use wisp_trigger_http::{ListenerConfig, ServerTls};

/// Limits and sizing of the engine, the listener and every instance.
#[derive(Args)]
pub struct HostFlags {
    /// Concurrent instances the engine's pooling allocator is sized for.
    #[arg(long, default_value_t = wisp_engine::DEFAULT_MAX_INSTANCES, env = "WISP_MAX_INSTANCES")]
    max_instances: u32,
    /// Folder for compiled components (default: the user cache folder).
    #[arg(long, env = "WISP_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time, with no on-disk cache.
    #[arg(long)]
    no_cache: bool,
    /// Maximum linear memory per instance (e.g. `64MiB`); a component's
    /// `[component.X.limits] memory` overrides it.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = wisp_manifest::parse_size)]
    memory_limit: u64,
    /// Guest memory all instances together may hold (e.g. `8GiB`); a request whose
    /// instance would take the host past it gets 503. Unlimited by default.
    #[arg(long, value_name = "SIZE", value_parser = wisp_manifest::parse_size)]
    max_total_memory: Option<u64>,
    /// Wall-clock budget per request (e.g. `30s`, `500ms`); past it the request gets 504.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = wisp_manifest::parse_duration)]
    timeout: std::time::Duration,
    /// Concurrent instances per component (default: half of `--max-instances`); excess
    /// requests wait up to 5 s, then get 503 with `Retry-After`.
    #[arg(long, value_name = "N")]
    max_instances_per_component: Option<u32>,
    /// Instances one request from the network may cause through service chaining, over
    /// its whole life; they also count against the first component's instance limit.
    #[arg(long, value_name = "N", default_value_t = wisp_engine::DEFAULT_MAX_FANOUT)]
    max_fanout: u32,
    /// Opt-in instance reuse: one instance (WASI 0.2 or 0.3) serves up to N requests of its
    /// component, one at a time, and is dropped after a trap, a timeout or 10 s idle
    /// (default 1: a fresh instance per request); `[component.X.limits]
    /// instance_reuse` overrides it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instance_reuse: u32,
    /// With instance reuse, a WASI 0.3 HTTP instance serves up to N requests at the same
    /// time (default 1: one at a time); a trap or timeout then fails every request that
    /// instance was serving. `[component.X.limits] instance_concurrency` overrides it.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    instance_concurrency: u32,
    /// Size cap of each guest log file (`<state-dir>/logs`); a full file is rotated to
    /// `.1`, so each stream keeps at most twice this.
    #[arg(long, value_name = "SIZE", default_value = "10MiB", value_parser = wisp_manifest::parse_size)]
    pub log_max_size: u64,
    /// Time a client has to send its request headers (also closes idle keep-alive
    /// connections); a slower client is dropped.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = wisp_manifest::parse_duration)]
    header_read_timeout: std::time::Duration,
    /// A connection that starts no new request for this long is closed gracefully
    /// (HTTP/2 gets GOAWAY; a response still streaming finishes).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = wisp_manifest::parse_duration)]
    idle_timeout: std::time::Duration,
    /// Largest request head (request line + headers); larger gets 431.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = wisp_manifest::parse_size)]
    max_header_size: u64,
    /// Largest request body (off by default); larger gets 413.
    #[arg(long, value_name = "SIZE", value_parser = wisp_manifest::parse_size)]
    max_body_size: Option<u64>,
    /// Open connections at once; further clients wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_connections: usize,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs `--tls-key`.
    #[arg(long, value_name = "PATH", env = "WISP_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PATH", env = "WISP_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long in-flight requests may take to finish after a shutdown signal.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    shutdown_grace: u64,
}

impl HostFlags {
    /// The listener's limits.
    pub fn listener(&self) -> ListenerConfig {
        ListenerConfig {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_header_bytes: usize::try_from(self.max_header_size).unwrap_or(usize::MAX),
            max_body_bytes: self.max_body_size,
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
        }
    }

    /// The listener's TLS identity, read now so a bad file fails before anything loads.
    pub fn tls(&self) -> Result<Option<ServerTls>, wisp_trigger_http::TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => ServerTls::from_pem_files(cert, key).map(Some),
            _ => Ok(None),
        }
    }

    /// The engine's sizing and compile cache.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            max_instances: self.max_instances,
            cache_dir: self.cache_dir(),
            max_total_memory: self.max_total_memory,
        }
    }

    /// What every instance runs under unless its manifest says otherwise.
    pub fn limits(&self) -> InstanceLimits {
        InstanceLimits {
            memory: self.memory_limit,
            timeout: self.timeout,
            max_instances: self.max_instances_per_component.unwrap_or(
                wisp_engine::default_instances_per_component(self.max_instances),
            ),
            instance_reuse: self.instance_reuse,
            instance_concurrency: self.instance_concurrency,
            max_fanout: self.max_fanout,
        }
    }

    /// The compile cache folder, unless `--no-cache`.
    fn cache_dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir
            .clone()
            .or_else(wisp_engine::CompileCache::default_dir)
    }
}
