//! The two kinds of HTTP guest behind one dispatch path: `wasi:http/incoming-handler`
//! 0.2.x components, called with a response outparam, and `wasi:http/handler@0.3.0`
//! (WASI 0.3) components, called inside the store's concurrent event loop, which keeps
//! running until the response body has been sent so the guest can keep producing it.

use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime::component::{InstancePre, Resource};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};
use wasmtime_wasi_http::p3::bindings::ServiceIndices;
use wisp_engine::HostState;
use wisp_runtime::Lease;

/// What a guest answered: a response whose body may still be streaming, or why not.
pub(crate) type GuestResponse = Result<Response<HyperOutgoingBody>, String>;

/// Where a component's HTTP entry point sits among its exports, found once at load.
#[derive(Clone)]
pub(crate) enum Handler {
    /// Exports `wasi:http/incoming-handler@0.2.x`.
    P2(ProxyIndices),
    /// Exports `wasi:http/handler@0.3.0`.
    P3(ServiceIndices),
}

impl Handler {
    /// The entry point `pre` exports, if it exports one.
    pub(crate) fn new(pre: &InstancePre<HostState>) -> Option<Self> {
        if let Ok(p2) = ProxyIndices::new(pre) {
            return Some(Self::P2(p2));
        }
        ServiceIndices::new(pre).ok().map(Self::P3)
    }
}

/// A request handed to its guest's store, ready to run.
pub(crate) enum Prepared {
    P2 {
        exports: ProxyIndices,
        req: Resource<HostIncomingRequest>,
        out: Resource<HostResponseOutparam>,
    },
    P3 {
        exports: ServiceIndices,
        req: wasmtime_wasi_http::p3::Request,
        reply: oneshot::Sender<GuestResponse>,
    },
}

impl Prepared {
    /// Puts `req` into `store` for `handler`; the guest's answer arrives on the returned
    /// receiver.
    pub(crate) fn new<B>(
        handler: &Handler,
        store: &mut Store<HostState>,
        req: http::Request<B>,
    ) -> wasmtime::Result<(Self, oneshot::Receiver<GuestResponse>)>
    where
        B: Body<Data = Bytes, Error = wasmtime_wasi_http::Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let prepared = match handler {
            Handler::P2(exports) => {
                let mut http = store.data_mut().http();
                // The listener made the URI absolute; chained requests carry their own.
                let scheme = match req.uri().scheme_str() {
                    Some("https") => Scheme::Https,
                    _ => Scheme::Http,
                };
                let req = http.new_incoming_request(scheme, req)?;
                let out = http.new_response_outparam_from_callback(move |r| {
                    let _ = reply.send(r.map_err(|code| format!("{code:?}")));
                })?;
                Self::P2 {
                    exports: exports.clone(),
                    req,
                    out,
                }
            }
            Handler::P3(exports) => {
                let (req, io) =
                    wasmtime_wasi_http::p3::Request::from_http(store.data_mut().http().hooks, req);
                // Reports request-body failures; the guest sees them on the body itself.
                tokio::spawn(async move {
                    if let Err(e) = io.await {
                        tracing::debug!("request body: {e}");
                    }
                });
                Self::P3 {
                    exports: exports.clone(),
                    req,
                    reply,
                }
            }
        };
        Ok((prepared, answer))
    }

    /// Runs the guest on `lease`'s instance (a kept one, or a new one) until it has
    /// answered and, for a WASI 0.3 guest, until its response body has been sent or
    /// dropped and its event loop has returned. Returns whether the instance may serve
    /// another request: it may when the call ended cleanly. (The runtime still keeps it
    /// only if it holds no host resources, so a WASI 0.3 guest whose background work
    /// still holds a stream or a future is dropped, never handed to the next request.)
    pub(crate) async fn run(self, lease: &mut Lease) -> wasmtime::Result<bool> {
        let instance = lease.instance().await?;
        let store = lease.store();
        match self {
            Self::P2 { exports, req, out } => {
                let proxy = exports.load(&mut *store, &instance)?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut *store, req, out)
                    .await?;
                Ok(true)
            }
            Self::P3 {
                exports,
                req,
                reply,
            } => {
                let service = exports.load(&mut *store, &instance)?;
                store
                    .run_concurrent(async move |acc| -> wasmtime::Result<()> {
                        let res = match service.handle(acc, req).await? {
                            Ok(res) => res,
                            Err(code) => {
                                let _ = reply.send(Err(format!("{code:?}")));
                                return Ok(());
                            }
                        };
                        let resp = acc.with(|s| res.into_http(s, async { Ok(()) }))?;
                        let (sent, done) = oneshot::channel();
                        let resp = resp.map(|body| EndSignal::new(body, sent).boxed_unsync());
                        if reply.send(Ok(resp)).is_ok() {
                            // The event loop must keep running while the body streams.
                            let _ = done.await;
                        }
                        Ok(())
                    })
                    .await??;
                Ok(true)
            }
        }
    }
}

/// A body that says when it has ended, failed or been dropped.
struct EndSignal {
    inner: HyperOutgoingBody,
    done: Option<oneshot::Sender<()>>,
}

impl EndSignal {
    fn new(inner: HyperOutgoingBody, done: oneshot::Sender<()>) -> Self {
        Self {
            inner,
            done: Some(done),
        }
    }
}

impl Body for EndSignal {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.done.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
