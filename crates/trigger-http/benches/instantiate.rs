//! The host's own cost per request, without sockets: a GET for the hello example goes
//! through `HttpApp` as an in-process request (routing, `spin-*` headers, an instance
//! slot, a fresh store and instance from the component's `InstancePre`, the guest's
//! `handle`, its response body collected). `cargo bench -p wisp-trigger-http`.

use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use wisp_capabilities::{AppCapabilities, CapabilityOptions, RuntimeConfig};
use wisp_engine::{
    ChainContext, EngineConfig, GrantOptions, InstanceLimits, InternalHttp, InternalTarget,
    WispEngine,
};
use wisp_runtime::AppRuntime;
use wisp_trigger_http::HttpApp;

/// `examples/hello-rust`, built for wasm32-wasip2 if it is not yet.
fn hello_example() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-rust");
    if !dir
        .join("target/wasm32-wasip2/release/hello_rust.wasm")
        .exists()
    {
        let status = Command::new("cargo")
            .current_dir(&dir)
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .status()
            .expect("run cargo for the hello example");
        assert!(status.success(), "building examples/hello-rust failed");
    }
    dir
}

async fn load(state_dir: &Path) -> Arc<HttpApp> {
    let app = wisp_manifest::load(&hello_example().join("spin.toml")).expect("hello manifest");
    let caps = AppCapabilities::load(
        &app,
        &CapabilityOptions {
            state_dir: state_dir.to_path_buf(),
            runtime_config: RuntimeConfig::default(),
            variable_env: HashMap::new(),
        },
    )
    .await
    .expect("capabilities");
    let engine = Arc::new(
        WispEngine::new(&EngineConfig {
            max_total_memory: None,
            max_instances: 100,
            cache_dir: None,
        })
        .expect("engine"),
    );
    let options = GrantOptions {
        capabilities: Arc::new(caps),
        state_dir: state_dir.to_path_buf(),
        limits: InstanceLimits::DEFAULT,
        log_max_bytes: 1 << 20,
        extra_env: Vec::new(),
        ceiling: None,
        app_instances: None,
    };
    let ids = HttpApp::component_ids(&app);
    let runtime =
        AppRuntime::load(engine, &app, ids, &options, |_, _| {}).expect("load the hello app");
    HttpApp::new(runtime, &app).expect("serve the hello app").0
}

async fn one_request(app: &HttpApp) {
    let request = http::Request::get("http://localhost/hello")
        .body(Empty::new().map_err(|never| match never {}).boxed_unsync())
        .unwrap();
    let chain = ChainContext::root(None, SocketAddr::from(([127, 0, 0, 1], 1)), u32::MAX, None);
    let response = app
        .send(InternalTarget::App, request, chain)
        .await
        .expect("in-process request");
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(!body.is_empty());
}

fn per_request(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let state = tempfile::tempdir().unwrap();
    let app = runtime.block_on(load(state.path()));
    c.bench_function("hello: fresh instance + handle, in process", |b| {
        b.to_async(&runtime).iter(|| one_request(&app));
    });
}

criterion_group!(benches, per_request);
criterion_main!(benches);
