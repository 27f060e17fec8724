//! wisp-trigger-http owns serving an app over HTTP: the listener (HTTP/1.1 keep-alive and
//! h2c), the route table, Spin's `spin-*` request headers, dispatch to `wasi:http`
//! components, the health endpoint and graceful shutdown. It reads the normalized app
//! model, never manifest syntax, and leaves everything wasmtime to `wisp-engine`.

mod body;
mod chain;
mod concurrent;
mod handler;
mod headers;
mod router;
mod server;
mod tls;

pub use body::{LimitedBody, ResponseBody};
pub use router::{RouteEntry, RouteMatch, Router};
pub use server::{HttpService, ListenerConfig, Peer, serve};
pub use tls::{ServerTls, TlsError};

use concurrent::SharedInstances;
use handler::{Handler, Prepared};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::Poll;
use wisp_engine::{ChainContext, InternalHttp};
use wisp_manifest::{App, Executor, Route, TriggerKind};
use wisp_runtime::{AppRuntime, GuestFailure, Lease, LeaseError};

/// Paths the host answers itself, as Spin does (`health`, which Spin clients poll to see
/// that the app is up, and `info`); never routed to the app.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// Errors setting an app up for HTTP.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
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
    /// A trigger names a component the runtime did not load.
    #[error("trigger for component `{0}`: the component was not loaded")]
    NotLoaded(String),
}

/// The HTTP trigger's view of one loaded component.
struct HttpComponent {
    /// Its HTTP entry point (WASI 0.2 or 0.3).
    handler: Handler,
    /// For a WASI 0.3 component whose instances serve several requests at a time.
    shared: Option<SharedInstances>,
    /// The catch-all route it is reached through by id (`<id>.spin.internal`).
    internal_route: RouteEntry,
}

/// An app served over HTTP: its routes, over the components of an [`AppRuntime`].
pub struct HttpApp {
    /// This app, for in-process requests that outlive a borrow of it.
    this: Weak<HttpApp>,
    runtime: Arc<AppRuntime>,
    router: Router,
    /// By the runtime's component index; `None` for a component no HTTP trigger names.
    components: Vec<Option<HttpComponent>>,
    /// The app's base path as the `spin-base-path` value.
    base: Option<http::HeaderValue>,
    /// The body of `/.well-known/spin/info`: the app's name and version, as Spin's JSON.
    info: bytes::Bytes,
}

impl HttpApp {
    /// The components the HTTP triggers of `app` name, in manifest order: what the
    /// runtime must load for them.
    pub fn component_ids(app: &App) -> impl Iterator<Item = &str> {
        app.trigger_components(TriggerKind::Http)
    }

    /// Serves `app`'s HTTP triggers with the components `runtime` loaded. The returned
    /// strings are warnings for the user (e.g. duplicate routes).
    pub fn new(runtime: Arc<AppRuntime>, app: &App) -> Result<(Arc<Self>, Vec<String>), LoadError> {
        let mut components: Vec<Option<HttpComponent>> =
            runtime.components().iter().map(|_| None).collect();
        let mut routes: Vec<(&str, usize)> = Vec::new();
        for (trigger, http) in app.http_triggers() {
            let id = &trigger.component;
            if http.executor == Executor::Wagi {
                return Err(LoadError::Unsupported {
                    id: id.clone(),
                    what: "the `wagi` executor".into(),
                });
            }
            let index = runtime
                .index_of(id)
                .ok_or_else(|| LoadError::NotLoaded(id.clone()))?;
            if components[index].is_none() {
                let pre = runtime.component(index).instance_pre();
                let handler =
                    Handler::new(pre).ok_or_else(|| LoadError::NotHttp { id: id.clone() })?;
                let limits = runtime.component(index).limits();
                let shared = match &handler {
                    Handler::P3(exports)
                        if limits.instance_reuse > 1 && limits.instance_concurrency > 1 =>
                    {
                        Some(SharedInstances::new(
                            runtime.clone(),
                            index,
                            exports.clone(),
                        ))
                    }
                    _ => None,
                };
                components[index] = Some(HttpComponent {
                    handler,
                    shared,
                    internal_route: RouteEntry::internal(index),
                });
            }
            if let Route::Path(route) = &http.route {
                routes.push((route.as_str(), index));
            }
        }
        let (router, mut warnings) = Router::build(&app.http_base, routes);
        if router
            .entries()
            .iter()
            .any(|e| e.based.starts_with(WELL_KNOWN_PREFIX))
        {
            warnings.push(format!(
                "routes under {WELL_KNOWN_PREFIX} are answered by the host and never reach \
                 the app"
            ));
        }
        let info = info_json(app);
        let app = Arc::new_cyclic(|this| Self {
            this: this.clone(),
            runtime,
            router,
            components,
            base: http::HeaderValue::from_str(&app.http_base).ok(),
            info,
        });
        Ok((app, warnings))
    }

    /// `(component id, route with base)` for every public route, most specific first.
    pub fn routes(&self) -> Vec<(&str, &str)> {
        self.router
            .entries()
            .iter()
            .map(|e| (self.runtime.component(e.component).id(), e.based.as_str()))
            .collect()
    }

    /// Handles one request from `peer`; bodies over `max_body` bytes get 413.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Peer,
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
        if let Some(name) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            return match name {
                "health" => plain(StatusCode::OK, "OK"),
                "info" => {
                    let mut resp = Response::new(ResponseBody::full(self.info.clone()));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    resp
                }
                _ => plain(StatusCode::NOT_FOUND, "Not Found"),
            };
        }
        let Some(route) = self.router.route(path) else {
            return plain(StatusCode::NOT_FOUND, "Not Found");
        };
        let Some(full_url) = absolute_uri(&mut req, peer) else {
            return plain(StatusCode::BAD_REQUEST, "Bad Request: invalid Host header");
        };
        headers::set_spin_headers(
            req.headers_mut(),
            &full_url,
            self.base.as_ref(),
            &route,
            peer.client,
        );
        let index = route.entry.component;
        drop(route);
        let component = self.runtime.component(index);
        let chain = ChainContext::root(
            Some(self.clone() as Arc<dyn InternalHttp>),
            peer.client,
            component.limits().max_fanout,
            Some(component.slots().clone()),
        );
        self.dispatch(index, req, exceeded, chain)
            .await
            .unwrap_or_else(status_response)
    }

    /// Runs the component at `index` on the request: leases an instance, puts the
    /// request into its store, runs the guest until it answers, and frames the answer.
    async fn dispatch<B>(
        &self,
        index: usize,
        req: Request<B>,
        body_too_large: Arc<AtomicBool>,
        chain: ChainContext,
    ) -> Result<Response<ResponseBody>, StatusCode>
    where
        B: http_body::Body<Data = bytes::Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static,
    {
        let Some(component) = &self.components[index] else {
            return Err(StatusCode::NOT_FOUND);
        };
        if let Some(shared) = &component.shared {
            return self
                .dispatch_shared(index, shared, req, body_too_large, chain)
                .await;
        }
        let mut lease = self
            .runtime
            .lease(index, chain)
            .await
            .map_err(lease_status)?;
        let (prepared, receiver) =
            Prepared::new(&component.handler, lease.store(), req).map_err(|e| {
                tracing::warn!(component = %lease.component(), "bad request: {e:#}");
                StatusCode::BAD_REQUEST
            })?;
        let id = lease.component().clone();
        let guest_failed = Arc::new(AtomicBool::new(false));
        let task = guest_task(lease, prepared, guest_failed.clone());
        match run_until_answered(task, receiver).await {
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
            Err(_) if body_too_large.load(Ordering::Acquire) => Err(StatusCode::PAYLOAD_TOO_LARGE),
            Err(Ok(())) => {
                tracing::error!(component = %id, "guest returned without setting a response");
                Err(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Err(Err(failure)) => Err(failure_status(&failure)),
        }
    }
}

impl HttpApp {
    /// Runs the request on an instance the component shares between concurrent
    /// requests: admitted to the component's slots like any request, the admission held
    /// until the response body has been sent.
    async fn dispatch_shared<B>(
        &self,
        index: usize,
        shared: &SharedInstances,
        req: Request<B>,
        body_too_large: Arc<AtomicBool>,
        chain: ChainContext,
    ) -> Result<Response<ResponseBody>, StatusCode>
    where
        B: http_body::Body<Data = bytes::Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static,
    {
        use http_body_util::BodyExt;
        let admission = self
            .runtime
            .admit(index, &chain)
            .await
            .map_err(lease_status)?;
        match shared.handle(chain, req.map(|b| b.boxed_unsync())).await {
            Ok((resp, failed)) => {
                let (parts, body) = resp.into_parts();
                let body = body::Admitted::new(body, admission).boxed_unsync();
                Ok(Response::from_parts(
                    parts,
                    ResponseBody::settle(body, failed).await,
                ))
            }
            Err(_) if body_too_large.load(Ordering::Acquire) => Err(StatusCode::PAYLOAD_TOO_LARGE),
            Err(failure) => {
                failure.log(self.runtime.component(index).id());
                Err(failure_status(&failure))
            }
        }
    }
}

/// The status for a request that could not be given an instance.
fn lease_status(e: LeaseError) -> StatusCode {
    match e {
        // The runtime has logged why (queue full, or no slot in time).
        LeaseError::Busy(_) | LeaseError::AppBusy(_) => StatusCode::SERVICE_UNAVAILABLE,
        LeaseError::Store { .. } => {
            tracing::error!("{e}");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The guest's whole run as one future: instantiation and `handle` under the
/// component's timeout, then the lease released (the instance kept for the next request
/// only when it answered cleanly). It owns the lease, so the instance slot is held for
/// as long as the instance lives, streaming included.
fn guest_task(
    mut lease: Lease,
    prepared: Prepared,
    guest_failed: Arc<AtomicBool>,
) -> Pin<Box<dyn Future<Output = Result<(), GuestFailure>> + Send>> {
    Box::pin(async move {
        let id = lease.component().clone();
        let timeout = lease.timeout();
        let outcome = wisp_runtime::run_guarded(&id, timeout, prepared.run(&mut lease)).await;
        // Raised before the store (and with it the response body's sender) is dropped,
        // so the body sees it when it ends.
        guest_failed.store(outcome.is_err(), Ordering::Release);
        lease.release(matches!(outcome, Ok(true)));
        outcome.map(|_| ())
    })
}

/// Runs the guest here, on the connection's task, until it answers: most guests finish
/// `handle` within that stretch, and then no task is spawned at all. One that is still
/// running (streaming its body) moves to a task of its own. If the client goes away
/// first, dropping this future drops the guest with it. `Err` carries how the guest's
/// run ended when no answer came from it.
async fn run_until_answered(
    mut task: Pin<Box<dyn Future<Output = Result<(), GuestFailure>> + Send>>,
    mut receiver: tokio::sync::oneshot::Receiver<handler::GuestResponse>,
) -> Result<handler::GuestResponse, Result<(), GuestFailure>> {
    let first = std::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = task.as_mut().poll(cx) {
            return Poll::Ready(GuestProgress::Finished(outcome));
        }
        Pin::new(&mut receiver)
            .poll(cx)
            .map(GuestProgress::Answered)
    })
    .await;
    match first {
        // The guest's store, and with it the reply's sender, is gone: the answer, if
        // any, is already in the channel.
        GuestProgress::Finished(outcome) => receiver.await.map_err(|_| outcome),
        GuestProgress::Answered(Ok(answer)) => {
            tokio::spawn(task);
            Ok(answer)
        }
        // The guest dropped its response outparam but still runs: wait for its end.
        GuestProgress::Answered(Err(_)) => Err(task.await),
    }
}

/// Spin's `/.well-known/spin/info` JSON for `app`: `name`, and `version` when it has one.
fn info_json(app: &App) -> bytes::Bytes {
    let mut info = serde_json::Map::new();
    info.insert("name".into(), app.name.clone().into());
    if let Some(version) = &app.version {
        info.insert("version".into(), version.clone().into());
    }
    serde_json::to_vec_pretty(&info)
        .unwrap_or_else(|_| b"{}".to_vec())
        .into()
}

/// Makes the request's URI absolute, as Spin does, so every guest sees the same scheme and
/// authority: the connection's scheme, the authority the client asked for (the URI's
/// own, as HTTP/2 sends it, else the `Host` header, else the listener's address for an
/// HTTP/1.0 client that sent none), and the path and query. Returns the URI as text
/// (what `spin-full-url` carries), or none when the authority is not a valid one.
fn absolute_uri<B>(req: &mut Request<B>, peer: Peer) -> Option<String> {
    use http::uri::{Authority, PathAndQuery, Scheme};
    let authority = match req.uri().authority() {
        Some(authority) => authority.clone(),
        None => match req.headers().get(http::header::HOST) {
            Some(host) => Authority::try_from(host.as_bytes()).ok()?,
            None => {
                let local = peer.local.to_string();
                // wasi:http 0.2 reads the authority from the `Host` header.
                if let Ok(value) = http::HeaderValue::from_str(&local) {
                    req.headers_mut().insert(http::header::HOST, value);
                }
                Authority::try_from(local).ok()?
            }
        },
    };
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    parts.scheme = Some(if peer.tls {
        Scheme::HTTPS
    } else {
        Scheme::HTTP
    });
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    let uri = http::Uri::from_parts(parts).ok()?;
    let text = uri.to_string();
    *req.uri_mut() = uri;
    Some(text)
}

/// The status a request gets when its guest failed before answering.
fn failure_status(failure: &GuestFailure) -> StatusCode {
    match failure {
        f if f.is_capacity() => StatusCode::SERVICE_UNAVAILABLE,
        GuestFailure::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
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

/// A `text/plain` response with `text` as its body.
pub fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
