//! Platform mode: many apps in one process on one engine, behind one public listener
//! that routes by `Host` (and path prefix), deployed, replaced and removed while it
//! serves. A deployment freezes its app into a snapshot in the host's blob cache (a
//! folder is packed as `wisp registry push` would pack it; a registry reference is
//! pulled), loads the snapshot while the old version keeps serving, writes it to the
//! SQLite store, and only then swaps the routing table. Requests already in flight hold
//! the old version and finish on it.

mod admin;
mod admin_listener;
mod dashboard;
mod loading;
mod routing;
mod serve;
mod settings;
mod slot;
mod stats;
mod store;

pub use admin::{AdminToken, load_or_create_token};
pub use serve::{PlatformOptions, run_platform};
pub use settings::{AppLimits, AppSettings, DeploySource, SettingsPatch, check_name};
pub use stats::{AppStats, LatencyHistogram};
pub use store::{DeploymentRecord, DeploymentStore};

use crate::{HostError, HostOptions, RunningEvents};
use routing::{HostTable, Target};
use serde::Serialize;
use slot::HttpSlot;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use wisp_engine::WispEngine;
use wisp_oci::{BlobCache, RegistryOptions};

/// Why a platform operation failed; each maps to an HTTP status on the admin API.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The request itself is wrong (a bad name, host, prefix or body).
    #[error("{0}")]
    BadRequest(String),
    /// No app of that name.
    #[error("no app named `{0}` is deployed")]
    NotFound(String),
    /// Another app already answers on that host and prefix.
    #[error("{0}")]
    Conflict(String),
    /// The app could not be read, packed, pulled or loaded; nothing changed.
    #[error("{0}")]
    Unloadable(String),
    /// An upload over the size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The host's own state (its SQLite file, its folders) failed.
    #[error("host state: {0}")]
    State(String),
}

impl PlatformError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::TooLarge(_) => 413,
            Self::Unloadable(_) => 422,
            Self::State(_) => 500,
        }
    }

    fn unloadable(e: impl std::fmt::Display) -> Self {
        Self::Unloadable(e.to_string())
    }
}

/// One deployed app as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// Its name.
    pub name: String,
    /// `running`; `idle` when scaled to zero (it loads at its next request); `failed`
    /// when it could not be brought back at a restart.
    pub status: &'static str,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Artifact digest of the deployed version.
    pub digest: String,
    /// Where it was deployed from.
    pub source: String,
    /// Hosts it answers.
    pub hosts: Vec<String>,
    /// Its path prefix, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_prefix: Option<String>,
    /// Names of the environment variables it was given (values stay on the host).
    pub env: Vec<String>,
    /// Names of the variables it was given.
    pub variables: Vec<String>,
    /// Its own limits, where it has any.
    #[serde(skip_serializing_if = "AppLimits::is_empty")]
    pub limits: AppLimits,
    /// Whether it was deployed with a runtime config of its own (its text, which may
    /// hold credentials, stays on the host).
    pub runtime_config: bool,
    /// Its HTTP routes (with prefix and base); empty while idle.
    pub routes: Vec<String>,
    /// When this version was deployed (seconds since the Unix epoch).
    pub deployed_at: u64,
    /// Requests answered since the host started.
    pub requests: u64,
    /// Of those, 5xx answers.
    pub errors: u64,
    /// Requests in flight.
    pub active: i64,
}

/// What a deployed app is running with.
struct Live {
    http: Option<Arc<HttpSlot>>,
    running: RunningEvents,
}

/// One app in the table.
struct Deployment {
    record: DeploymentRecord,
    stats: Arc<AppStats>,
    /// `Err` when it could not be brought back at a restart.
    live: Result<Live, String>,
}

impl Deployment {
    fn info(&self) -> AppInfo {
        use std::sync::atomic::Ordering::Relaxed;
        let settings = &self.record.settings;
        let http = self.live.as_ref().ok().and_then(|live| live.http.as_ref());
        let loaded = http.and_then(|slot| slot.loaded());
        let routes = match &loaded {
            Some(http) => http
                .routes()
                .into_iter()
                .map(|(_, route)| route.to_owned())
                .collect(),
            None => Vec::new(),
        };
        AppInfo {
            name: self.record.name.clone(),
            status: self.status(),
            error: self.live.as_ref().err().cloned(),
            digest: self.record.digest.clone(),
            source: self.record.source.to_string(),
            hosts: settings.hosts.clone(),
            route_prefix: settings.route_prefix.clone(),
            env: settings.env.keys().cloned().collect(),
            variables: settings.variables.keys().cloned().collect(),
            limits: settings.limits,
            runtime_config: settings.runtime_config.is_some(),
            routes,
            deployed_at: self.record.deployed_at,
            requests: self.stats.requests.load(Relaxed),
            errors: self.stats.errors.load(Relaxed),
            active: self.stats.active.load(Relaxed),
        }
    }

    /// `running`, `idle` or `failed` (see [`AppInfo::status`]).
    fn status(&self) -> &'static str {
        match &self.live {
            Err(_) => "failed",
            Ok(Live {
                http: Some(slot), ..
            }) if slot.loaded().is_none() => "idle",
            Ok(_) => "running",
        }
    }

    /// Stops its event triggers and lets their handlers finish in the background.
    fn retire(self: Arc<Self>, grace: Duration) {
        if let Ok(live) = &self.live {
            live.running.stop();
            tokio::spawn(async move {
                if let Ok(live) = &self.live
                    && !live.running.drain(grace).await
                {
                    tracing::warn!(app = %self.record.name, "event handlers of a replaced version were still running after the grace period");
                }
            });
        }
    }
}

/// The many-app host.
pub struct Platform {
    engine: Arc<WispEngine>,
    /// Settings every app starts from (limits, logs); its own folder, environment and
    /// variables are filled in per app.
    template: HostOptions,
    state_dir: PathBuf,
    cache: BlobCache,
    registry_insecure: bool,
    store: Mutex<DeploymentStore>,
    apps: RwLock<BTreeMap<String, Arc<Deployment>>>,
    table: RwLock<Arc<HostTable<Target>>>,
    /// Deploys and undeploys run one at a time.
    changing: tokio::sync::Mutex<()>,
    /// Uploaded apps not necessarily deployed yet: artifact digest → laid-out app.
    uploads: Mutex<HashMap<String, PathBuf>>,
}

impl Platform {
    /// Opens the host's state in `state_dir` and brings back every stored app (one that
    /// fails to load is kept, shown as failed).
    pub async fn open(
        state_dir: &Path,
        template: HostOptions,
        registry_insecure: bool,
    ) -> Result<Arc<Self>, HostError> {
        let engine = Arc::new(WispEngine::new(&template.engine)?);
        let state_error = |e: std::io::Error| {
            HostError::Platform(PlatformError::State(format!(
                "{}: {e}",
                state_dir.display()
            )))
        };
        std::fs::create_dir_all(state_dir.join("apps")).map_err(state_error)?;
        let store = DeploymentStore::open(&state_dir.join("deployments.db"))?;
        let records = store.all()?;
        let platform = Arc::new(Self {
            engine,
            template,
            state_dir: state_dir.to_owned(),
            cache: BlobCache::new(state_dir.join("blobs")),
            registry_insecure,
            store: Mutex::new(store),
            apps: RwLock::new(BTreeMap::new()),
            table: RwLock::new(Arc::new(HostTable::build([]))),
            changing: tokio::sync::Mutex::new(()),
            uploads: Mutex::new(HashMap::new()),
        });
        for record in records {
            let name = record.name.clone();
            let live = platform.start(&record).await;
            if let Err(e) = &live {
                eprintln!("Error: app `{name}` could not be brought back: {e}");
            } else {
                println!("Restored app `{name}` ({})", record.digest);
            }
            let deployment = Deployment {
                record,
                stats: Arc::default(),
                live: live.map_err(|e| e.to_string()),
            };
            platform.write_apps().insert(name, Arc::new(deployment));
        }
        platform.rebuild_table();
        Ok(platform)
    }

    /// Deploys `source` as `name` with `settings`, replacing the app of that name live
    /// if there is one. Nothing changes unless the new version loaded and started.
    /// Returns the app and whether it is new.
    pub async fn deploy(
        &self,
        name: &str,
        source: DeploySource,
        settings: AppSettings,
    ) -> Result<(AppInfo, bool), PlatformError> {
        check_name(name)?;
        let settings = settings.normalized()?;
        let _changing = self.changing.lock().await;
        self.check_claims(name, &settings)?;
        let (manifest, digest) = self.freeze(&source).await?;
        let record = DeploymentRecord {
            name: name.to_owned(),
            source,
            settings,
            digest,
            manifest,
            deployed_at: unix_now(),
        };
        self.install(record).await
    }

    /// Changes `name`'s settings without a new version: its snapshot is loaded again
    /// with them and swapped in live, as a deploy is; nothing changes unless it loads.
    pub async fn update(&self, name: &str, patch: SettingsPatch) -> Result<AppInfo, PlatformError> {
        if patch.is_empty() {
            return Err(PlatformError::BadRequest(
                "give at least one setting to change".into(),
            ));
        }
        let _changing = self.changing.lock().await;
        let current = match self.read_apps().get(name) {
            Some(deployment) => deployment.record.clone(),
            None => return Err(PlatformError::NotFound(name.to_owned())),
        };
        let settings = patch.applied_to(current.settings).normalized()?;
        self.check_claims(name, &settings)?;
        let record = DeploymentRecord {
            settings,
            deployed_at: unix_now(),
            ..current
        };
        self.install(record).await.map(|(info, _)| info)
    }

    /// Starts `record` and makes it the app of its name: written to the store, swapped
    /// into the routing table, the old version retired. Returns the app and whether it
    /// is new. The caller holds `changing`.
    async fn install(&self, record: DeploymentRecord) -> Result<(AppInfo, bool), PlatformError> {
        let name = record.name.clone();
        let live = self.start(&record).await?;
        if let Err(e) = self.lock_store().put(&record) {
            live.running.stop();
            return Err(e);
        }
        let stats = self
            .read_apps()
            .get(&name)
            .map(|old| old.stats.clone())
            .unwrap_or_default();
        let deployment = Arc::new(Deployment {
            record,
            stats,
            live: Ok(live),
        });
        let info = deployment.info();
        let old = self.write_apps().insert(name, deployment);
        self.rebuild_table();
        let created = old.is_none();
        if let Some(old) = old {
            old.retire(self.template.listener.shutdown_grace);
        }
        Ok((info, created))
    }

    /// Takes an app uploaded as an OCI image layout archive: checks and lays it out in the
    /// blob cache. Returns its artifact digest, for a deploy's `{"upload": DIGEST}`.
    pub async fn upload(&self, archive: bytes::Bytes) -> Result<String, PlatformError> {
        let cache = self.cache.clone();
        let (runnable, digest) = tokio::task::spawn_blocking(move || {
            wisp_oci::read_layout_archive(&cache, &archive[..])
        })
        .await
        .map_err(|e| PlatformError::State(format!("unpacking stopped: {e}")))?
        .map_err(|e| PlatformError::BadRequest(e.to_string()))?;
        let path = match runnable {
            wisp_oci::Runnable::App(manifest) => manifest,
            wisp_oci::Runnable::Component(wasm) => wasm,
        };
        self.uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.clone(), path);
        Ok(digest)
    }

    /// Removes the app `name`; its in-flight requests finish. Its data folder stays for
    /// a later deploy of the name, unless `purge`: then the folder (default stores,
    /// SQLite files, logs) is deleted too — requests still in flight keep the files they
    /// have open until they end.
    pub async fn undeploy(&self, name: &str, purge: bool) -> Result<(), PlatformError> {
        let _changing = self.changing.lock().await;
        if !self.read_apps().contains_key(name) {
            return Err(PlatformError::NotFound(name.to_owned()));
        }
        self.lock_store().remove(name)?;
        let old = self.write_apps().remove(name);
        self.rebuild_table();
        if let Some(old) = old {
            old.retire(self.template.listener.shutdown_grace);
        }
        if purge {
            // `name` passed `check_name` at deploy: one plain path segment.
            let folder = self.state_dir.join("apps").join(name);
            match std::fs::remove_dir_all(&folder) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(PlatformError::State(format!(
                        "`{name}` was undeployed, but its folder {} could not be removed: {e}",
                        folder.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every app, by name.
    pub fn list(&self) -> Vec<AppInfo> {
        self.read_apps().values().map(|d| d.info()).collect()
    }

    /// The app `name`.
    pub fn get(&self, name: &str) -> Result<AppInfo, PlatformError> {
        self.read_apps()
            .get(name)
            .map(|d| d.info())
            .ok_or_else(|| PlatformError::NotFound(name.to_owned()))
    }

    /// Stops every app's event triggers and waits up to `grace` for their handlers.
    pub async fn stop_all(&self, grace: Duration) -> bool {
        let apps: Vec<_> = self.read_apps().values().cloned().collect();
        let mut finished = true;
        for app in &apps {
            if let Ok(live) = &app.live {
                live.running.stop();
            }
        }
        for app in &apps {
            if let Ok(live) = &app.live {
                finished &= live.running.drain(grace).await;
            }
        }
        finished
    }

    /// Refuses a host and prefix another app already answers on.
    fn check_claims(&self, name: &str, settings: &AppSettings) -> Result<(), PlatformError> {
        for (other, deployment) in self.read_apps().iter() {
            if other == name {
                continue;
            }
            let theirs = &deployment.record.settings;
            if let Some(host) = settings
                .hosts
                .iter()
                .find(|h| theirs.hosts.contains(h) && theirs.prefix() == settings.prefix())
            {
                return Err(PlatformError::Conflict(format!(
                    "host `{host}` (prefix `{}`) is already claimed by app `{other}`",
                    settings.prefix()
                )));
            }
        }
        Ok(())
    }

    /// Freezes the source into a snapshot in the cache: its manifest (or lone
    /// component) and artifact digest.
    async fn freeze(&self, source: &DeploySource) -> Result<(PathBuf, String), PlatformError> {
        match source {
            DeploySource::Path(path) => {
                let (path, cache) = (path.clone(), self.cache.clone());
                tokio::task::spawn_blocking(move || loading::freeze_folder(&path, &cache))
                    .await
                    .map_err(|e| PlatformError::State(format!("packing stopped: {e}")))?
            }
            DeploySource::Upload(digest) => self
                .uploads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(digest)
                .map(|path| (path.clone(), digest.clone()))
                .ok_or_else(|| {
                    PlatformError::Unloadable(format!(
                        "no upload {digest} on this host (upload it with POST /v1/uploads; \
                         uploads are kept until the host restarts)"
                    ))
                }),
            DeploySource::Reference(reference) => {
                let options = RegistryOptions {
                    insecure: self.registry_insecure,
                    cache: self.cache.clone(),
                };
                // The pull's future is not `Send` (a higher-ranked closure inside
                // oci-client's), so it cannot be spawned: it runs on a thread of its own.
                let handle = tokio::runtime::Handle::current();
                let owned = reference.clone();
                let (runnable, pulled) = tokio::task::spawn_blocking(move || {
                    handle.block_on(wisp_oci::pull_runnable(&owned, &options, None))
                })
                .await
                .map_err(|e| PlatformError::State(format!("pulling stopped: {e}")))?
                .map_err(|e| PlatformError::Unloadable(format!("{reference}: {e}")))?;
                let path = match runnable {
                    wisp_oci::Runnable::App(manifest) => manifest,
                    wisp_oci::Runnable::Component(wasm) => wasm,
                };
                Ok((path, pulled.digest))
            }
        }
    }

    /// Loads `record`'s snapshot onto the shared engine and starts its event triggers.
    async fn start(&self, record: &DeploymentRecord) -> Result<Live, PlatformError> {
        let loader = Arc::new(loading::loader(
            record,
            &self.template,
            &self.state_dir,
            self.engine.clone(),
        )?);
        let loaded = loader.load(true).await?;
        let running = loaded
            .events
            .ok_or_else(|| PlatformError::State("event triggers were not started".into()))?;
        let may_unload = !loaded.has_events;
        let http = loaded
            .http
            .map(|http| Arc::new(HttpSlot::new(loader, http, may_unload)));
        Ok(Live { http, running })
    }

    /// Scales to zero every app whose HTTP side has been idle for `idle` (apps with
    /// event triggers excepted); how many it unloaded.
    pub fn unload_idle(&self, idle: Duration) -> usize {
        let apps: Vec<_> = self.read_apps().values().cloned().collect();
        let mut unloaded = 0;
        for app in apps {
            let Ok(Live {
                http: Some(slot), ..
            }) = &app.live
            else {
                continue;
            };
            if slot.unload_if_idle(idle) {
                tracing::info!(app = %app.record.name, "idle for {idle:?}: unloaded until its next request");
                unloaded += 1;
            }
        }
        unloaded
    }

    /// Rebuilds the routing table from the apps now deployed.
    fn rebuild_table(&self) {
        let apps = self.read_apps();
        let table = HostTable::build(apps.values().filter_map(|d| {
            let slot = d.live.as_ref().ok()?.http.clone()?;
            // The stats live on the deployment, across versions.
            let target = Arc::new(Target {
                slot,
                stats: d.stats.clone(),
            });
            Some((&d.record.settings, target))
        }));
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
    }

    fn read_apps(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Deployment>>> {
        self.apps.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_apps(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Deployment>>> {
        self.apps.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_store(&self) -> std::sync::MutexGuard<'_, DeploymentStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The routing table now.
    fn table(&self) -> Arc<HostTable<Target>> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Runs `task` on the platform every `period` for as long as it lives and `stop` has not
/// fired (the reaper of idle apps, the dashboard's sampler).
fn spawn_periodic(
    platform: std::sync::Weak<Platform>,
    period: Duration,
    stop: tokio_util::sync::CancellationToken,
    mut task: impl FnMut(&Platform) + Send + 'static,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stop.cancelled() => return,
            }
            let Some(platform) = platform.upgrade() else {
                return;
            };
            task(&platform);
        }
    });
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
