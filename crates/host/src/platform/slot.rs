//! Scale to zero: an app's HTTP side is held in a slot that an idle app empties —
//! dropping its instances, pools, connections and compiled code — and that its next
//! request fills again from the on-disk compile cache. Apps with event triggers keep
//! theirs (they must stay subscribed).

use super::PlatformError;
use crate::{HostError, HostOptions, LoadedApp, RunningEvents};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};
use wisp_engine::{InternalHttp, LoadReport, WispEngine};
use wisp_manifest::App;
use wisp_trigger_http::HttpApp;

/// What (re)loading an app needs: its model, its options, the shared engine.
pub(crate) struct AppLoader {
    pub name: String,
    pub app: App,
    pub options: HostOptions,
    pub engine: Arc<WispEngine>,
}

/// An app just loaded: its HTTP side and, when asked for, its started event triggers.
pub(crate) struct Loaded {
    pub http: Option<Arc<HttpApp>>,
    pub events: Option<RunningEvents>,
    pub has_events: bool,
}

impl AppLoader {
    /// Loads the app onto the engine (compiling, or from the compile cache) on a thread
    /// of its own, off the serving workers; with `start_events`, starts its event
    /// triggers too.
    pub async fn load(self: &Arc<Self>, start_events: bool) -> Result<Loaded, PlatformError> {
        let loader = self.clone();
        let handle = tokio::runtime::Handle::current();
        let loaded = tokio::task::spawn_blocking(move || {
            handle.block_on(async {
                let name = &loader.name;
                let report = |id: &str, report: &LoadReport| {
                    tracing::info!(app = %name, component = id, elapsed = ?report.elapsed, origin = ?report.origin, "component loaded");
                };
                let warn = |w: &str| tracing::warn!(app = %name, "{w}");
                let loaded = LoadedApp::load(
                    &loader.app,
                    &loader.options,
                    loader.engine.clone(),
                    report,
                    warn,
                )
                .await?;
                let events = &loaded.events;
                let has_events =
                    events.redis.is_some() || events.cron.is_some() || events.mqtt.is_some();
                let running = if start_events {
                    let internal = loaded.http.clone().map(|h| h as Arc<dyn InternalHttp>);
                    Some(loaded.events.start(internal).await?)
                } else {
                    None
                };
                Ok::<_, HostError>(Loaded {
                    http: loaded.http,
                    events: running,
                    has_events,
                })
            })
        })
        .await
        .map_err(|e| PlatformError::State(format!("loading stopped: {e}")))?;
        loaded.map_err(PlatformError::unloadable)
    }
}

/// Milliseconds since the first call: a clock for idle times.
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// An app's HTTP side, loaded or not.
pub(crate) struct HttpSlot {
    loader: Arc<AppLoader>,
    /// Apps with event triggers are never unloaded.
    may_unload: bool,
    current: RwLock<Option<Arc<HttpApp>>>,
    /// One reload at a time; requests arriving meanwhile wait for it.
    loading: tokio::sync::Mutex<()>,
    last_used_ms: AtomicU64,
}

impl HttpSlot {
    /// A slot holding `http`, just loaded by `loader`.
    pub fn new(loader: Arc<AppLoader>, http: Arc<HttpApp>, may_unload: bool) -> Self {
        Self {
            loader,
            may_unload,
            current: RwLock::new(Some(http)),
            loading: tokio::sync::Mutex::new(()),
            last_used_ms: AtomicU64::new(now_ms()),
        }
    }

    /// The app's HTTP side, loaded first if the app was scaled to zero.
    pub async fn get(&self) -> Result<Arc<HttpApp>, PlatformError> {
        // Written at most every 10 ms: a hot app's requests on every thread would
        // otherwise all write this one cache line.
        let now = now_ms();
        if now.saturating_sub(self.last_used_ms.load(Ordering::Relaxed)) >= 10 {
            self.last_used_ms.store(now, Ordering::Relaxed);
        }
        if let Some(http) = self.loaded() {
            return Ok(http);
        }
        let _loading = self.loading.lock().await;
        if let Some(http) = self.loaded() {
            return Ok(http);
        }
        let started = Instant::now();
        let http = self.loader.load(false).await?.http.ok_or_else(|| {
            PlatformError::State("the app lost its HTTP triggers on reload".into())
        })?;
        tracing::info!(app = %self.loader.name, elapsed = ?started.elapsed(), "loaded again after idling");
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(http.clone());
        Ok(http)
    }

    /// The HTTP side if loaded now.
    pub fn loaded(&self) -> Option<Arc<HttpApp>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Drops the HTTP side if the app may unload and has not been used for `idle`;
    /// whether it did. Requests still running keep the version they hold.
    pub fn unload_if_idle(&self, idle: Duration) -> bool {
        if !self.may_unload {
            return false;
        }
        let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        if now_ms().saturating_sub(self.last_used_ms.load(Ordering::Relaxed)) < idle_ms {
            return false;
        }
        let Ok(_loading) = self.loading.try_lock() else {
            return false;
        };
        self.current
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .is_some()
    }
}
