//! The outbound side of `wasi:http` and `wasi:sockets` for one instance: every request
//! and socket is checked against the component's `allowed_outbound_hosts` before any
//! connection is made. Requests to the app itself (`http://self.alt/…`) or to one of its
//! components (`http://<id>.spin.internal/…`) go to [`InternalHttp`], in process; the
//! rest go to the component's pooled [`ComponentHttpClient`].

use crate::http_client::{ComponentHttpClient, MAX_REQUESTS_PER_INSTANCE};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::Semaphore;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};
use wisp_manifest::outbound::{INTERNAL_DOMAIN, OutboundPolicy, OutboundTarget, SELF_HOST};

/// How deep a chain of in-process requests (A → B → A …) may go before it is cut off
/// with `loop-detected`.
pub const MAX_CHAIN_DEPTH: u32 = 10;

/// A boxed future of an in-process response.
pub type InternalResponse =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, HttpError>> + Send>>;

/// Which part of the app an in-process request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InternalTarget {
    /// The app's router (`http://self.alt/…`).
    App,
    /// One component by id (`http://<id>.spin.internal/…`).
    Component(String),
}

/// Serves a component's requests to its own app without a network hop; the trigger that
/// owns the routes provides it.
pub trait InternalHttp: Send + Sync {
    /// Runs `request` on `target`; `chain` is the calling request's chain, one deeper.
    fn send(
        &self,
        target: InternalTarget,
        request: http::Request<WasiBody>,
        chain: ChainContext,
    ) -> InternalResponse;
}

/// What one request from the network may still cause through service chaining: a count
/// of instances, and the slots of the component it first reached, which every chained
/// instance of another component also takes one of.
pub struct FanOutBudget {
    remaining: AtomicU32,
    origin_slots: Option<Arc<Semaphore>>,
}

impl FanOutBudget {
    /// A budget of `instances`, charged also to `origin_slots`.
    pub fn new(instances: u32, origin_slots: Option<Arc<Semaphore>>) -> Self {
        Self {
            remaining: AtomicU32::new(instances),
            origin_slots,
        }
    }

    /// Takes one instance from the budget; false when it is spent.
    pub fn take(&self) -> bool {
        self.remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The originating component's slots, unless they are `target`'s own (whose
    /// instance then takes its slot the ordinary way).
    pub fn origin_slots_other_than(&self, target: &Arc<Semaphore>) -> Option<&Arc<Semaphore>> {
        self.origin_slots
            .as_ref()
            .filter(|origin| !Arc::ptr_eq(origin, target))
    }
}

/// Where an instance sits in a chain of in-process requests.
#[derive(Clone)]
pub struct ChainContext {
    /// Who serves in-process requests; `None` where nothing does (e.g. a test harness).
    /// Weak: an instance kept between requests holds its chain, and must not keep the
    /// app that serves it alive once the app is dropped.
    pub internal: Option<Weak<dyn InternalHttp>>,
    /// How many in-process hops led to this instance (0 for a request from the network).
    pub depth: u32,
    /// The address of the client whose request started the chain.
    pub client: SocketAddr,
    /// What the request that started the chain may still cause.
    pub budget: Arc<FanOutBudget>,
}

impl ChainContext {
    /// The start of a chain: an event from outside (a request from `client`, a command)
    /// that may cause `max_fanout` chained instances, charged also to `origin_slots`.
    pub fn root(
        internal: Option<Arc<dyn InternalHttp>>,
        client: SocketAddr,
        max_fanout: u32,
        origin_slots: Option<Arc<Semaphore>>,
    ) -> Self {
        Self {
            internal: internal.as_ref().map(Arc::downgrade),
            depth: 0,
            client,
            budget: Arc::new(FanOutBudget::new(max_fanout, origin_slots)),
        }
    }
}

/// `wasi:http` hooks for one instance: allow what the policy grants, deny the rest with
/// `HttpRequestDenied`, route app-internal hosts in process.
pub struct OutboundHttp {
    pub(crate) chain: ChainContext,
    pub(crate) client: Arc<ComponentHttpClient>,
    /// This instance's in-flight network requests, made on its first one.
    pub(crate) in_flight: Option<Arc<Semaphore>>,
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl OutboundHttp {
    /// What `request` is for, or why it may not be sent.
    fn route(&self, request: &http::Request<WasiBody>) -> Result<Destination, HttpError> {
        let uri = request.uri();
        let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
        // Credentials in the authority (`user:pass@host`) are refused: they would leak
        // into logs and `Host`, and no Spin SDK sends them.
        if authority.as_str().contains('@') {
            return Err(HttpError::HttpRequestUriInvalid);
        }
        let scheme = uri.scheme_str().unwrap_or("https");
        let target = OutboundTarget::new(scheme, authority.host(), authority.port_u16())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
        if !self.client.policy().allows(&target) {
            tracing::debug!(%target, "outbound HTTP denied by allowed_outbound_hosts");
            return Err(HttpError::HttpRequestDenied);
        }
        if target.host == SELF_HOST {
            return Ok(Destination::Internal(InternalTarget::App));
        }
        if let Some(id) = target
            .host
            .strip_suffix(INTERNAL_DOMAIN)
            .and_then(|rest| rest.strip_suffix('.'))
        {
            return Ok(Destination::Internal(InternalTarget::Component(
                id.to_owned(),
            )));
        }
        Ok(Destination::Network)
    }
}

enum Destination {
    Network,
    Internal(InternalTarget),
}

fn no_io() -> Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> {
    Box::new(async { Ok(()) })
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        match self.route(&request) {
            Err(e) => Box::new(async move { Err(e) }),
            Ok(Destination::Network) => {
                let in_flight = self
                    .in_flight
                    .get_or_insert_with(|| Arc::new(Semaphore::new(MAX_REQUESTS_PER_INSTANCE)));
                let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                    tracing::debug!(
                        "outbound HTTP refused: {MAX_REQUESTS_PER_INSTANCE} requests in flight"
                    );
                    return Box::new(async { Err(HttpError::ConnectionLimitReached) });
                };
                let client = self.client.clone();
                Box::new(async move {
                    // The pool's own tasks drive the connection, so there is no I/O
                    // future to hand back.
                    let response = client.send(request, options, permit).await?;
                    Ok((response, no_io()))
                })
            }
            Ok(Destination::Internal(target)) => {
                let chain = ChainContext {
                    depth: self.chain.depth + 1,
                    ..self.chain.clone()
                };
                let Some(internal) = chain.internal.as_ref().and_then(Weak::upgrade) else {
                    return Box::new(async {
                        Err(HttpError::InternalError(Some(
                            "in-process requests are not served here".into(),
                        )))
                    });
                };
                if chain.depth > MAX_CHAIN_DEPTH {
                    tracing::warn!(
                        "in-process request chain deeper than {MAX_CHAIN_DEPTH}: cut off as a loop"
                    );
                    return Box::new(async { Err(HttpError::LoopDetected) });
                }
                // Depth bounds a chain; the budget bounds its breadth (one request calling
                // itself three times a hop).
                if !chain.budget.take() {
                    tracing::warn!(
                        "service chaining refused: the request has caused as many instances as it may"
                    );
                    return Box::new(async {
                        Err(HttpError::InternalError(Some(
                            "this request has caused as many instances through service \
                             chaining as it may (--max-fanout)"
                                .into(),
                        )))
                    });
                }
                let response = internal.send(target, request, chain);
                Box::new(async move { Ok((response.await?, no_io())) })
            }
        }
    }

    /// The default is one chunk, and a guest's `writeln!` alone makes three writes: the
    /// third then waits until the host drains the body, which a guest that sets its
    /// response before writing the body (the usual order) cannot see happen until it
    /// yields to the executor. Sixteen slots cover the bodies of most small responses.
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        OUTGOING_BODY_BUFFER_CHUNKS
    }

    /// Smaller than the default 1 MiB so sixteen slots still buffer at most 1 MiB.
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_BODY_CHUNK_SIZE
    }
}

/// Writes a `wasi:http` 0.2 body buffers before the guest must wait for the host.
const OUTGOING_BODY_BUFFER_CHUNKS: usize = 16;
/// The most one write (the budget `check-write` grants) may carry.
const OUTGOING_BODY_CHUNK_SIZE: usize = 64 << 10;

/// Whether the policy lets a socket be used for `addr` this way: outbound connects and
/// sends to granted `tcp://`/`udp://` addresses, and the implicit binds they need; never
/// listening or accepting.
pub(crate) fn socket_allowed(
    policy: &OutboundPolicy,
    addr: SocketAddr,
    use_: SocketAddrUse,
) -> bool {
    let allowed = |scheme| {
        let allowed = policy.allows_socket(scheme, addr.ip(), addr.port());
        if !allowed && let Err(denial) = policy.check_resolved(&addr.ip().to_string(), addr.ip()) {
            tracing::warn!("outbound {scheme} socket to {addr} refused: {denial}");
        }
        allowed
    };
    match use_ {
        SocketAddrUse::TcpConnect => allowed("tcp"),
        SocketAddrUse::UdpSend | SocketAddrUse::UdpReceive => allowed("udp"),
        // The ephemeral binds a connect or send needs; a chosen port would squat on the
        // host's port space (and listening is never granted anyway).
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => addr.port() == 0,
        _ => false,
    }
}
