//! An app is a value: loaded, served and dropped while the process keeps running. Loading
//! and dropping one a hundred times in one process (real guests, real key-value and
//! SQLite files, instance reuse and its sweeper on, a WASI 0.3 component whose instances
//! are shared between concurrent requests) must leave the process's threads, open files
//! and memory where they were, and hold no instance past the app's drop (the engine's
//! pool has 32 slots: a hundred lingering instances would exhaust it). This is a test binary of its own, with this
//! one test, because it measures the whole process.

#[path = "../e2e/harness.rs"]
#[allow(
    dead_code,
    unused_imports,
    reason = "the harness serves the e2e tests too; this test uses a part"
)]
mod harness;
#[path = "../e2e/servers.rs"]
#[allow(
    dead_code,
    reason = "the harness re-exports these; this test starts none"
)]
mod servers;

use harness::*;
use http_body_util::{BodyExt, Empty};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use wisp_capabilities::{AppCapabilities, CapabilityOptions, RuntimeConfig};
use wisp_engine::{
    ChainContext, EngineConfig, GrantOptions, InstanceLimits, InternalHttp, InternalTarget,
    WispEngine,
};
use wisp_runtime::AppRuntime;
use wisp_trigger_http::HttpApp;

/// What the process holds: threads, open file descriptors, resident KiB.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    threads: usize,
    fds: usize,
    rss_kib: u64,
}

fn footprint() -> Footprint {
    let count = |dir: &str| std::fs::read_dir(dir).unwrap().count();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    Footprint {
        threads: count("/proc/self/task"),
        fds: count("/proc/self/fd"),
        rss_kib,
    }
}

/// Loads the app in `dir` on `engine`, serves `requests` in-process requests to each of
/// its routes, and drops it.
async fn load_serve_drop(engine: &Arc<WispEngine>, dir: &Path) {
    let app = wisp_manifest::load(&dir.join("spin.toml")).unwrap();
    let state_dir = dir.join(".wisp");
    let caps = AppCapabilities::load(
        &app,
        &CapabilityOptions {
            state_dir: state_dir.clone(),
            runtime_config: RuntimeConfig::default(),
            variable_env: HashMap::new(),
        },
    )
    .await
    .unwrap();
    let options = GrantOptions {
        capabilities: Arc::new(caps),
        state_dir,
        limits: InstanceLimits {
            instance_reuse: 5,
            instance_concurrency: 4,
            ..InstanceLimits::DEFAULT
        },
        ceiling: None,
        app_instances: None,
        log_max_bytes: 1 << 20,
        extra_env: Vec::new(),
    };
    let ids = HttpApp::component_ids(&app);
    let runtime = AppRuntime::load(engine.clone(), &app, ids, &options, |_, _| {}).unwrap();
    let (http, _) = HttpApp::new(runtime, &app).unwrap();
    for path in [
        "/kv?op=kv-set&key=k&value=v",
        "/kv?op=kv-get&key=k",
        "/probe/x",
        "/shared/?op=overlap&ms=1",
    ] {
        let request = http::Request::get(format!("http://localhost{path}"))
            .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
            .unwrap();
        let chain = ChainContext::root(None, SocketAddr::from(([127, 0, 0, 1], 1)), 8, None);
        let response = http
            .send(InternalTarget::App, request, chain)
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn an_app_loaded_and_dropped_a_hundred_times_leaves_no_threads_files_or_memory() {
    let g = guests();
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"cycle\"\n\
         [[trigger.http]]\nroute = \"/kv/...\"\ncomponent = \"kv\"\n\
         [[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"probe\"\n\
         [[trigger.http]]\nroute = \"/shared/...\"\ncomponent = \"shared\"\n\
         [component.kv]\nsource = {}\nkey_value_stores = [\"default\"]\nsqlite_databases = [\"default\"]\n\
         [component.probe]\nsource = {}\n\
         [component.shared]\nsource = {}\n",
        toml_path(&g.spin_app),
        toml_path(&g.probe),
        toml_path(&g.p3_app)
    ));
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let engine = Arc::new(
            WispEngine::new(&EngineConfig {
                max_instances: 32,
                cache_dir: Some(shared_cache()),
                max_total_memory: None,
            })
            .unwrap(),
        );
        // Warm-up: pools, blocking threads and allocator arenas reach their working size.
        for _ in 0..10 {
            load_serve_drop(&engine, app.path()).await;
        }
        // Each dropped app's sweeper ends at its next one-second tick.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = footprint();
        for _ in 0..100 {
            load_serve_drop(&engine, app.path()).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = footprint();
        // One thread, file or 256 KiB kept per load would show as 100 of them. Threads
        // may differ by the blocking pool (at most 4, idle ones leave after 10 s).
        assert!(
            after.threads <= before.threads + 4,
            "threads grew: {before:?} -> {after:?}"
        );
        assert!(
            after.fds <= before.fds + 4,
            "open files grew: {before:?} -> {after:?}"
        );
        assert!(
            after.rss_kib <= before.rss_kib + 24 * 1024,
            "resident memory grew: {before:?} -> {after:?}"
        );
    });
}
