//! The listener: accepts connections (up to a cap), serves HTTP/1.1 (keep-alive) and h2c
//! on each — or, given a TLS identity, HTTP/1.1 and HTTP/2 over TLS chosen by ALPN —
//! under request limits, and on shutdown stops accepting and lets in-flight requests
//! finish within a grace period.
//!
//! No connection may sit on a slot forever, whatever state it stalls in:
//! - before its first request head is complete (silent socket, a TLS handshake that
//!   stalls, half an HTTP/2 preface, a preface and nothing more, a slow HTTP/1 head) it is
//!   closed at the header-read timeout after it was accepted;
//! - an HTTP/1 connection idle between requests is closed by hyper at the same timeout;
//! - any connection that starts no new request for the idle timeout is shut down
//!   gracefully (HTTP/2 gets GOAWAY; a response still streaming finishes);
//! - HTTP/2 peers are pinged while a connection is open and dropped when they stop
//!   answering.

use crate::{HttpApp, ResponseBody, ServerTls};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

/// How often an HTTP/2 peer is pinged, and how long it has to answer.
const H2_PING: Duration = Duration::from_secs(20);

/// Limits the listener applies to every connection and request.
#[derive(Debug, Clone, Copy)]
pub struct ListenerConfig {
    /// Time a client has to send a request's headers (the first request's counted from
    /// the accept); it also closes an HTTP/1 keep-alive connection that sits idle that
    /// long.
    pub header_read_timeout: Duration,
    /// A connection that starts no new request for this long is shut down gracefully.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers); larger gets 431.
    pub max_header_bytes: usize,
    /// Largest request body, if limited; larger gets 413.
    pub max_body_bytes: Option<u64>,
    /// Open connections at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_body_bytes: None,
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Where a request came from and how: what the handler needs of its connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address.
    pub client: SocketAddr,
    /// The listener's address the client connected to.
    pub local: SocketAddr,
    /// Whether the connection is TLS (the request's scheme is `https`).
    pub tls: bool,
}

impl Peer {
    /// The request's scheme: `https` over TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

/// What a listener hands each request to: one app, or a host that routes among many.
pub trait HttpService: Send + Sync + 'static {
    /// Answers one request from `peer`; bodies over `max_body` bytes get 413.
    fn call(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Peer,
        max_body: Option<u64>,
    ) -> impl Future<Output = Response<ResponseBody>> + Send;
}

impl HttpService for HttpApp {
    fn call(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Peer,
        max_body: Option<u64>,
    ) -> impl Future<Output = Response<ResponseBody>> + Send {
        self.handle(req, peer, max_body)
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` resolves,
/// then waits up to the grace for in-flight requests. Returns whether every connection
/// finished within the grace.
pub async fn serve<S: HttpService>(
    app: Arc<S>,
    listener: TcpListener,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()>,
    config: ListenerConfig,
) -> bool {
    let connection = Arc::new(ConnectionSetup {
        builder: connection_builder(&config),
        tls,
        config,
    });
    let connections = Arc::new(Semaphore::new(config.max_connections.max(1)));
    // Every connection task holds a receiver: `closed()` resolves when all are gone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let local = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("listener has no local address: {e}");
            return false;
        }
    };
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = connections.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, client) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // E.g. out of file descriptors: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection.clone().run(app.clone(), stream, client, local, slot, stop_rx.clone()));
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    tokio::select! {
        () = stop_tx.closed() => true,
        () = tokio::time::sleep(config.shutdown_grace) => false,
    }
}

/// hyper's connection builder with the listener's limits.
fn connection_builder(config: &ListenerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        // hyper's smallest buffer is 8 KiB; a head that does not fit gets 431.
        .max_buf_size(config.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING)
        .keep_alive_timeout(H2_PING)
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// When a connection last began a request.
struct Activity {
    accepted: Instant,
    /// Milliseconds after `accepted` the last request began; `u64::MAX` before the first.
    last_request_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            accepted: Instant::now(),
            last_request_ms: AtomicU64::new(u64::MAX),
        }
    }

    fn request_started(&self) {
        let ms = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        self.last_request_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection's current allowance runs out: the header-read timeout after
    /// the accept until a first request began, then the idle timeout after the last one.
    fn deadline(&self, config: &ListenerConfig) -> (Instant, bool) {
        match self.last_request_ms.load(Ordering::Relaxed) {
            u64::MAX => (self.accepted + config.header_read_timeout, false),
            ms => (
                self.accepted + Duration::from_millis(ms) + config.idle_timeout,
                true,
            ),
        }
    }
}

/// What every connection of one listener is served with.
struct ConnectionSetup {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<ServerTls>,
    config: ListenerConfig,
}

impl ConnectionSetup {
    /// Serves one accepted connection (after its TLS handshake, if any), closing it when
    /// it stalls before a first request and shutting it down gracefully when idle or
    /// when the server stops.
    async fn run<S: HttpService>(
        self: Arc<Self>,
        app: Arc<S>,
        stream: TcpStream,
        client: SocketAddr,
        local: SocketAddr,
        slot: OwnedSemaphorePermit,
        stop: watch::Receiver<bool>,
    ) {
        let _slot = slot;
        let activity = Arc::new(Activity::new());
        let peer = Peer {
            client,
            local,
            tls: self.tls.is_some(),
        };
        let Some(tls) = &self.tls else {
            return self
                .drive(app, TokioIo::new(stream), peer, activity, stop)
                .await;
        };
        let (deadline, _) = activity.deadline(&self.config);
        let mut early_stop = stop.clone();
        let stream = tokio::select! {
            handshake = tokio::time::timeout_at(deadline, tls.acceptor().accept(stream)) => {
                match handshake {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%client, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%client, "closing a connection whose TLS handshake stalled");
                        return;
                    }
                }
            }
            _ = early_stop.changed() => return,
        };
        self.drive(app, TokioIo::new(stream), peer, activity, stop)
            .await;
    }

    /// Runs HTTP on `io` until the connection ends, stalls or is shut down.
    async fn drive<S, I>(
        &self,
        app: Arc<S>,
        io: I,
        peer: Peer,
        activity: Arc<Activity>,
        mut stop: watch::Receiver<bool>,
    ) where
        S: HttpService,
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let config = self.config;
        let service = {
            let activity = activity.clone();
            hyper::service::service_fn(move |req| {
                activity.request_started();
                let app = app.clone();
                async move {
                    let response = app.call(req, peer, config.max_body_bytes).await;
                    Ok::<_, std::convert::Infallible>(response)
                }
            })
        };
        let conn = self.builder.serve_connection(io, service);
        tokio::pin!(conn);
        let client = peer.client;
        let mut draining = false;
        loop {
            let (deadline, _) = activity.deadline(&config);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%client, "connection ended with error: {e}");
                    }
                    return;
                }
                _ = stop.changed(), if !draining => {
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
                () = tokio::time::sleep_until(deadline), if !draining => {
                    // Read again: requests that began since then moved the deadline.
                    let (deadline, served) = activity.deadline(&config);
                    if deadline > Instant::now() {
                        continue;
                    }
                    if !served {
                        tracing::debug!(%client, "closing a connection that sent no request in time");
                        return;
                    }
                    conn.as_mut().graceful_shutdown();
                    draining = true;
                }
            }
        }
    }
}
