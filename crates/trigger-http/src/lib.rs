//! wisp-trigger-http owns serving an app over HTTP: the listener (HTTP/1.1 keep-alive and
//! h2c), the route table, Spin's `spin-*` request headers, dispatch to `wasi:http`
//! components, the health endpoint and graceful shutdown. It reads the normalized app
//! model, never manifest syntax, and leaves everything wasmtime to `wisp-engine`.

mod body;
mod chain;
mod handler;
mod headers;
mod reuse;
mod router;
mod server;

pub use body::{LimitedBody, ResponseBody};
pub use router::{RouteEntry, RouteMatch, Router};
pub use server::{ListenerConfig, serve};

use futures::FutureExt;
use handler::{Handler, Prepared};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wisp_engine::{
    ChainContext, FanOutBudget, GrantOptions, InstanceGrants, InternalHttp, LoadReport, WispEngine,
};
use wisp_manifest::{App, Executor, Route};

/// The path Spin clients poll to see that the app is up.
pub const HEALTH_PATH: &str = "/.well-known/spin/health";

/// Errors loading an app for HTTP.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A component failed to load.
    #[error("component `{id}` ({path}): {source}")]
    Component {
        /// Component id.
        id: String,
        /// Its source path.
        path: String,
        /// Why.
        #[source]
        source: wisp_engine::EngineError,
    },
    /// A component does not export what the HTTP trigger calls.
    #[error(
        "component `{id}` exports neither `wasi:http/incoming-handler` (0.2.x) nor \
         `wasi:http/handler@0.3.0`; build it for the `wasi:http/proxy` or `wasi:http/service` \
         world (e.g. with the `wasi` or `spin-sdk` crate)"
    )]
    NotHttp {
        /// Component id.
        id: String,
    },
    /// The trigger asks for something this version does not serve.
    #[error("trigger for component `{id}`: {what} is not supported")]
    Unsupported {
        /// Component id.
        id: String,
        /// What.
        what: String,
    },
}

/// How long a request may wait for a free instance of its component before a 503.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many requests may wait for one component at once; more get a 503 at once.
pub const MAX_QUEUED_PER_COMPONENT: usize = 1024;

/// How a guest's task ended, when it did not end well.
#[derive(Debug)]
enum GuestFailure {
    /// It ran past its `timeout` limit and was stopped.
    Timeout(Duration),
    /// The instance pool had no free slot.
    PoolExhausted,
    /// The host-wide guest-memory budget (`--max-total-memory`) was spent.
    HostMemoryExhausted,
    /// It trapped or a host call failed.
    Failed(wasmtime::Error),
}

/// One servable component.
struct HttpComponent {
    id: String,
    /// Its HTTP entry point (WASI 0.2 or 0.3).
    handler: Handler,
    grants: InstanceGrants,
    /// Free instance slots (`max_instances`).
    slots: Arc<Semaphore>,
    /// Requests waiting for a slot now.
    queued: AtomicUsize,
    /// The catch-all route it is reached through by id (`<id>.spin.internal`).
    internal_route: RouteEntry,
    /// Kept WASI 0.2 instances, when `instance_reuse` is over 1.
    reuse: Option<Arc<reuse::ReusePool>>,
}

impl HttpComponent {
    /// Waits, bounded in count and time, for a free instance slot.
    async fn acquire(&self) -> Result<OwnedSemaphorePermit, StatusCode> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= MAX_QUEUED_PER_COMPONENT {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!(component = %self.id, "instance queue full: 503");
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
        let waited = tokio::time::timeout(QUEUE_TIMEOUT, self.slots.clone().acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                tracing::warn!(component = %self.id, "no free instance within {QUEUE_TIMEOUT:?}: 503");
                Err(StatusCode::SERVICE_UNAVAILABLE)
            }
        }
    }
}

/// An app ready to serve: components pre-linked, routes resolved.
pub struct HttpApp {
    /// This app, for in-process requests that outlive a borrow of it.
    this: Weak<HttpApp>,
    /// Keeps the engines, and with them the epoch ticker, alive as long as the app.
    _engine: Arc<WispEngine>,
    router: Router,
    components: Vec<HttpComponent>,
    /// The app's base path as the `spin-base-path` value.
    base: Option<http::HeaderValue>,
}

impl HttpApp {
    /// Loads every component an HTTP trigger names. `on_loaded` hears how each went;
    /// the returned strings are warnings for the user (e.g. duplicate routes).
    pub fn load(
        engine: Arc<WispEngine>,
        app: &App,
        options: &GrantOptions,
        mut on_loaded: impl FnMut(&str, &LoadReport),
    ) -> Result<(Arc<Self>, Vec<String>), LoadError> {
        let mut components: Vec<HttpComponent> = Vec::new();
        let mut routes: Vec<(&str, usize)> = Vec::new();
        for trigger in &app.http_triggers {
            if trigger.executor == Executor::Wagi {
                return Err(LoadError::Unsupported {
                    id: trigger.component.clone(),
                    what: "the `wagi` executor".into(),
                });
            }
            let index = match components.iter().position(|c| c.id == trigger.component) {
                Some(i) => i,
                None => {
                    let spec = app
                        .component(&trigger.component)
                        .expect("manifest validation guarantees trigger components exist");
                    components.push(Self::load_component(
                        &engine,
                        app,
                        spec,
                        components.len(),
                        options,
                        &mut on_loaded,
                    )?);
                    components.len() - 1
                }
            };
            if let Route::Path(route) = &trigger.route {
                routes.push((route.as_str(), index));
            }
        }
        let (router, warnings) = Router::build(&app.http_base, routes);
        let app = Arc::new_cyclic(|this| Self {
            this: this.clone(),
            _engine: engine,
            router,
            components,
            base: http::HeaderValue::from_str(&app.http_base).ok(),
        });
        app.sweep_idle_instances();
        Ok((app, warnings))
    }

    /// With instance reuse on, drops kept instances that sat unused past their idle
    /// timeout, once a second, for as long as the app lives.
    fn sweep_idle_instances(&self) {
        let pools: Vec<_> = self
            .components
            .iter()
            .filter_map(|c| c.reuse.clone())
            .collect();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if pools.is_empty() {
            return;
        }
        let app = self.this.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if app.strong_count() == 0 {
                    return;
                }
                pools.iter().for_each(|p| p.sweep());
            }
        });
    }

    fn load_component(
        engine: &WispEngine,
        app: &App,
        spec: &wisp_manifest::Component,
        index: usize,
        options: &GrantOptions,
        on_loaded: &mut impl FnMut(&str, &LoadReport),
    ) -> Result<HttpComponent, LoadError> {
        let err = |source| LoadError::Component {
            id: spec.id.clone(),
            path: spec.source.display().to_string(),
            source,
        };
        let (pre, report) = engine.load_component(&spec.source).map_err(err)?;
        on_loaded(&spec.id, &report);
        let handler = Handler::new(pre).ok_or_else(|| LoadError::NotHttp {
            id: spec.id.clone(),
        })?;
        let grants = engine.grants(&app.root_dir, spec, options).map_err(err)?;
        let limits = grants.limits();
        let slots = Arc::new(Semaphore::new(limits.max_instances as usize));
        let reuse = match handler {
            Handler::P2(_) => reuse::ReusePool::new(limits.instance_reuse, limits.max_instances),
            Handler::P3(_) => None,
        };
        Ok(HttpComponent {
            id: spec.id.clone(),
            handler,
            grants,
            slots,
            queued: AtomicUsize::new(0),
            internal_route: RouteEntry::internal(index),
            reuse: reuse.map(Arc::new),
        })
    }

    /// `(component id, route with base)` for every public route, most specific first.
    pub fn routes(&self) -> Vec<(&str, &str)> {
        self.router
            .entries()
            .iter()
            .map(|e| (self.components[e.component].id.as_str(), e.based.as_str()))
            .collect()
    }

    /// Handles one request from `client`; bodies over `max_body` bytes get 413.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        client: SocketAddr,
        local: SocketAddr,
        max_body: Option<u64>,
    ) -> Response<ResponseBody> {
        if let Some(limit) = max_body
            && req
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .is_some_and(|len| len > limit)
        {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
        }
        let exceeded = Arc::new(AtomicBool::new(false));
        let mut req =
            req.map(|b| LimitedBody::new(b, max_body.unwrap_or(u64::MAX), exceeded.clone()));
        let path = req.uri().path();
        if path == HEALTH_PATH {
            return plain(StatusCode::OK, "OK");
        }
        let Some(route) = self.router.route(path) else {
            return plain(StatusCode::NOT_FOUND, "Not Found");
        };
        let host = match req.uri().authority() {
            Some(a) => a.to_string(),
            None => match req
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
            {
                Some(h) => h.to_owned(),
                None => {
                    // HTTP/1.0 clients may omit Host; wasi:http needs an authority.
                    let h = local.to_string();
                    if let Ok(v) = http::HeaderValue::from_str(&h) {
                        req.headers_mut().insert(http::header::HOST, v);
                    }
                    h
                }
            },
        };
        let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let full_url = format!("http://{host}{path_and_query}");
        headers::set_spin_headers(
            req.headers_mut(),
            &full_url,
            self.base.as_ref(),
            &route,
            client,
        );
        let component_index = route.entry.component;
        drop(route);
        let component = &self.components[component_index];
        let chain = ChainContext {
            internal: Some(self.clone() as Arc<dyn InternalHttp>),
            depth: 0,
            client,
            budget: Arc::new(FanOutBudget::new(
                component.grants.limits().max_fanout,
                Some(component.slots.clone()),
            )),
        };
        self.dispatch(component_index, req, exceeded, chain, None)
            .await
            .unwrap_or_else(status_response)
    }

    /// Runs the component on the request: a fresh store and instance, the guest's
    /// `handle` on its own task (it may keep streaming after the response starts).
    async fn dispatch<B>(
        &self,
        index: usize,
        req: Request<B>,
        body_too_large: Arc<AtomicBool>,
        chain: ChainContext,
        origin_permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Response<ResponseBody>, StatusCode>
    where
        B: http_body::Body<Data = bytes::Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static,
    {
        let component = &self.components[index];
        let id = component.id.clone();
        let permit = component.acquire().await?;
        let timeout = component.grants.limits().timeout;
        let reuse = component.reuse.clone();
        let (mut store, instance, served) = match reuse.as_ref().and_then(|r| r.take()) {
            Some(kept) => {
                let mut store = kept.store;
                store.data_mut().set_chain(chain);
                store.set_epoch_deadline(wisp_engine::EPOCH_SLICE_TICKS);
                (store, Some(kept.proxy), kept.served)
            }
            None => {
                let store = WispEngine::new_store(
                    component.handler.engine(),
                    &component.grants,
                    chain,
                )
                .map_err(|e| {
                    tracing::error!(component = %id, "cannot create an instance store: {e:#}");
                    StatusCode::INTERNAL_SERVER_ERROR
                })?;
                (store, None, 0)
            }
        };
        let (prepared, receiver) =
            Prepared::new(&component.handler, &mut store, req).map_err(|e| {
                tracing::warn!(component = %id, "bad request: {e:#}");
                StatusCode::BAD_REQUEST
            })?;

        let task_id = id.clone();
        let guest_failed = Arc::new(AtomicBool::new(false));
        let failed_flag = guest_failed.clone();
        let mut task = Box::pin(async move {
            // The slot is held for as long as the instance lives, streaming included, and
            // so is the one a chained instance takes of its originating component.
            let _permits = (permit, origin_permit);
            let run = prepared.run(&mut store, instance);
            // A busy guest yields at every epoch tick, so this fires within one tick of
            // the deadline even in a tight loop; dropping `run` drops the instance.
            // A panic in host code stays this request's failure: the guest now runs on
            // the connection's task, which must not unwind with it.
            let run = AssertUnwindSafe(run)
                .catch_unwind()
                .map(|r| r.unwrap_or_else(|_| Err(wasmtime::Error::msg("a host call panicked"))));
            let result = match tokio::time::timeout(timeout, run).await {
                Ok(Ok(kept)) => Ok(kept),
                Ok(Err(e)) if e.is::<wasmtime::PoolConcurrencyLimitError>() => {
                    Err(GuestFailure::PoolExhausted)
                }
                Ok(Err(e))
                    if e.chain()
                        .any(|c| c.is::<wisp_engine::HostMemoryExhausted>()) =>
                {
                    Err(GuestFailure::HostMemoryExhausted)
                }
                Ok(Err(e)) => Err(GuestFailure::Failed(e)),
                Err(_) => Err(GuestFailure::Timeout(timeout)),
            };
            // Raised before `store` (and with it the response body's sender) is dropped
            // at the end of this task, so the body sees it when it ends.
            failed_flag.store(result.is_err(), Ordering::Release);
            match &result {
                Ok(_) => {}
                Err(GuestFailure::Timeout(t)) => {
                    tracing::error!(component = %task_id, "guest ran past its {t:?} timeout and was stopped");
                }
                Err(GuestFailure::PoolExhausted) => {
                    tracing::warn!(component = %task_id, "instance pool exhausted");
                }
                Err(GuestFailure::HostMemoryExhausted) => {
                    tracing::warn!(component = %task_id, "host guest-memory budget spent: 503");
                }
                Err(GuestFailure::Failed(e)) => {
                    // The root cause names the trap; the wasm backtrace is for debugging.
                    tracing::error!(component = %task_id, "guest failed: {}", e.root_cause());
                    tracing::debug!(component = %task_id, "guest failure detail: {e:?}");
                }
            }
            match (reuse, result) {
                // Only an instance that answered cleanly may serve again.
                (Some(pool), Ok(Some(proxy))) => {
                    pool.put(store, proxy, served + 1);
                    Ok(())
                }
                (_, result) => result.map(|_| ()),
            }
        });
        // The guest runs here, on the connection's task, until it answers: most guests
        // finish `handle` within that stretch, and then no task is spawned at all. One
        // that is still running (streaming its body) moves to a task of its own. If the
        // client goes away first, dropping this future drops the guest with it.
        let mut receiver = receiver;
        let first = std::future::poll_fn(|cx| {
            if let Poll::Ready(outcome) = task.as_mut().poll(cx) {
                return Poll::Ready(GuestProgress::Finished(outcome));
            }
            Pin::new(&mut receiver)
                .poll(cx)
                .map(GuestProgress::Answered)
        })
        .await;
        // `Err` carries how the guest's task ended when no response came from it.
        let answer = match first {
            // The guest's store, and with it the reply's sender, is gone: the answer, if
            // any, is already in the channel.
            GuestProgress::Finished(outcome) => receiver.await.map_err(|_| outcome),
            GuestProgress::Answered(Ok(answer)) => {
                tokio::spawn(task);
                Ok(answer)
            }
            // The guest dropped its response outparam but still runs: wait for its end.
            GuestProgress::Answered(Err(_)) => Err(task.await),
        };
        match answer {
            Ok(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                Ok(Response::from_parts(
                    parts,
                    ResponseBody::settle(body, guest_failed).await,
                ))
            }
            Ok(Err(code)) => {
                tracing::error!(component = %id, "guest responded with error: {code}");
                Err(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Err(outcome) => {
                if body_too_large.load(Ordering::Acquire) {
                    return Err(StatusCode::PAYLOAD_TOO_LARGE);
                }
                match outcome {
                    Ok(()) => {
                        tracing::error!(component = %id, "guest returned without setting a response");
                        Err(StatusCode::INTERNAL_SERVER_ERROR)
                    }
                    Err(GuestFailure::PoolExhausted | GuestFailure::HostMemoryExhausted) => {
                        Err(StatusCode::SERVICE_UNAVAILABLE)
                    }
                    Err(GuestFailure::Timeout(_)) => Err(StatusCode::GATEWAY_TIMEOUT),
                    Err(GuestFailure::Failed(_)) => Err(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
        }
    }
}

/// How far a guest got when its request first stopped waiting on it.
enum GuestProgress<A> {
    /// Its task ended (with the guest's outcome) before it answered, or as it did.
    Finished(Result<(), GuestFailure>),
    /// It answered (or dropped its way to answer) and may still be running.
    Answered(A),
}

/// The host's own response for a request that got no answer from its guest.
fn status_response(status: StatusCode) -> Response<ResponseBody> {
    let mut resp = plain(status, status.canonical_reason().unwrap_or("Error"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Capacity frees up as instances finish; tell clients to come back soon.
        resp.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    resp
}

/// A short plain-text response from the host itself.
fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
