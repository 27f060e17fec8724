//! The client behind a component's outbound HTTP requests: hyper-util's pooling client
//! with wisp's own connector. Each component has its own pool, so a connection made under
//! one component's grant and TLS identity is never handed to another. The connector
//! resolves the host, refuses link-local (metadata) addresses the grant does not name,
//! applies the guest's connect timeout, and speaks TLS with the component's
//! `[[client_tls]]` settings for that host (the webpki roots otherwise).

use bytes::Bytes;
use http::Uri;
use http::uri::Scheme;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_rustls::MaybeHttpsStream;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};
use wisp_capabilities::OutboundHttpGrant;
use wisp_capabilities::tls::ComponentTls;
use wisp_manifest::outbound::OutboundPolicy;

/// Outbound HTTP requests one instance may have in flight; a request counts until its
/// response body is finished or dropped. One more fails with `connection-limit-reached`.
pub const MAX_REQUESTS_PER_INSTANCE: usize = 64;

/// Idle connections kept per host in a component's pool.
const MAX_IDLE_PER_HOST: usize = 32;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A timeout the guest did not set (wasmtime's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

type Pool = Client<Connector, WasiBody>;

/// One component's outbound HTTP client.
pub struct ComponentHttpClient {
    connector: Connector,
    pooling: bool,
    app_in_flight: Option<Arc<Semaphore>>,
    /// The pool for requests with the default connect timeout: nearly all of them, so
    /// they take no lock.
    default_pool: Pool,
    /// One pool per other connect timeout a guest asks for: hyper-util's connector
    /// takes no per-request settings.
    other_pools: Mutex<Vec<(Duration, Pool)>>,
}

impl ComponentHttpClient {
    /// A client for a component with `policy` and `tls`, under the app's `grant`.
    pub fn new(
        policy: Arc<OutboundPolicy>,
        tls: Arc<ComponentTls>,
        grant: &OutboundHttpGrant,
    ) -> Self {
        let connector = Connector {
            policy,
            tls,
            connect_timeout: DEFAULT_TIMEOUT,
        };
        let pooling = grant.connection_pooling;
        Self {
            default_pool: new_pool(connector.clone(), pooling),
            connector,
            pooling,
            app_in_flight: grant.in_flight.clone(),
            other_pools: Mutex::new(Vec::new()),
        }
    }

    /// What this component may reach.
    pub fn policy(&self) -> &Arc<OutboundPolicy> {
        &self.connector.policy
    }

    fn pool(&self, connect_timeout: Duration) -> Pool {
        if connect_timeout == DEFAULT_TIMEOUT {
            return self.default_pool.clone();
        }
        let mut pools = self.other_pools.lock().expect("http client pools lock");
        if let Some((_, pool)) = pools.iter().find(|(t, _)| *t == connect_timeout) {
            return pool.clone();
        }
        let connector = Connector {
            connect_timeout,
            ..self.connector.clone()
        };
        let pool = new_pool(connector, self.pooling);
        pools.push((connect_timeout, pool.clone()));
        pool
    }

    /// Sends `request` (whose URI is absolute), holding `permit` — the instance's
    /// in-flight slot — until the response body ends. Redirects are the guest's to follow.
    pub async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        permit: OwnedSemaphorePermit,
    ) -> Result<http::Response<WasiBody>, HttpError> {
        let timeout = |pick: fn(&RequestOptions) -> Option<Duration>| {
            options.as_ref().and_then(pick).unwrap_or(DEFAULT_TIMEOUT)
        };
        let connect_timeout = timeout(|o| o.connect_timeout);
        let first_byte_timeout = timeout(|o| o.first_byte_timeout);
        let between_bytes = timeout(|o| o.between_bytes_timeout).max(Duration::from_nanos(1));
        let app_permit = match &self.app_in_flight {
            Some(limit) => Some(
                limit
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| HttpError::ConnectionLimitReached)?,
            ),
            None => None,
        };
        let pool = self.pool(connect_timeout);
        // The connector bounds the connection by `connect_timeout`; the first byte then
        // has `first_byte_timeout` on top (wasmtime starts that clock after connecting).
        let response = tokio::time::timeout(
            connect_timeout.saturating_add(first_byte_timeout),
            pool.request(request),
        )
        .await
        .map_err(|_| HttpError::ConnectionReadTimeout)?
        .map_err(|e| client_error(&e))?;
        Ok(response.map(|incoming| {
            ResponseBody {
                incoming,
                between_bytes,
                deadline: Box::pin(tokio::time::sleep(between_bytes)),
                _permits: (permit, app_permit),
            }
            .boxed_unsync()
        }))
    }
}

/// A pool whose connections `connector` makes; `pooling` off keeps none idle.
fn new_pool(connector: Connector, pooling: bool) -> Pool {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(if pooling { MAX_IDLE_PER_HOST } else { 0 })
        .build(connector)
}

/// A response body that fails when the server goes quiet for longer than the
/// between-bytes timeout, and frees the request's in-flight slots when dropped.
struct ResponseBody {
    incoming: hyper::body::Incoming,
    between_bytes: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _permits: (OwnedSemaphorePermit, Option<OwnedSemaphorePermit>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + self.between_bytes;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(hyper_error(&e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(self.deadline.as_mut().poll(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

/// Why a connection could not be made; carried through hyper-util's error as its source.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("the URL has no host")]
    NoHost,
    #[error("cannot resolve the host: {0}")]
    Dns(std::io::Error),
    #[error("the host resolves to no address")]
    NotFound,
    #[error("the host resolves only to link-local addresses no outbound entry names")]
    Prohibited,
    #[error("connect timed out")]
    Timeout,
    #[error("{0}")]
    Connect(std::io::Error),
    #[error("not a valid TLS server name")]
    InvalidName,
    #[error("TLS: {0}")]
    Tls(std::io::Error),
}

impl ConnectError {
    fn to_wasi(&self) -> HttpError {
        let copy = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            Self::NoHost => HttpError::HttpRequestUriInvalid,
            Self::Dns(e) => HttpError::DnsError {
                rcode: Some(e.to_string()),
                info_code: None,
            },
            Self::NotFound => HttpError::DestinationNotFound,
            Self::Prohibited => HttpError::DestinationIpProhibited,
            Self::Timeout => HttpError::ConnectionTimeout,
            Self::Connect(e) => HttpError::Connect(copy(e)),
            Self::InvalidName => HttpError::TlsProtocolError,
            Self::Tls(e) => match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(why)) => {
                    tracing::debug!("outbound HTTPS: server certificate refused: {why:?}");
                    HttpError::TlsCertificateError
                }
                Some(rustls::Error::AlertReceived(alert)) => HttpError::TlsAlertReceived {
                    alert_id: Some(u8::from(*alert)),
                    alert_message: Some(format!("{alert:?}")),
                },
                _ => HttpError::Tls(copy(e)),
            },
        }
    }
}

fn client_error(e: &hyper_util::client::legacy::Error) -> HttpError {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(connect) = cause.downcast_ref::<ConnectError>() {
            return connect.to_wasi();
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
            return hyper_error(hyper);
        }
        source = cause.source();
    }
    tracing::debug!("outbound HTTP request failed: {e:#}");
    if e.is_connect() {
        HttpError::ConnectionRefused
    } else {
        HttpError::ConnectionTerminated
    }
}

fn hyper_error(e: &hyper::Error) -> HttpError {
    if e.is_timeout() {
        HttpError::HttpResponseTimeout
    } else if e.is_incomplete_message() {
        HttpError::HttpResponseIncomplete
    } else if e.is_parse() || e.is_parse_status() {
        HttpError::HttpProtocolError
    } else {
        HttpError::ConnectionTerminated
    }
}

type Stream = MaybeHttpsStream<TokioIo<TcpStream>>;

/// Makes one connection for a component's pool.
#[derive(Clone)]
struct Connector {
    policy: Arc<OutboundPolicy>,
    tls: Arc<ComponentTls>,
    connect_timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            tokio::time::timeout(this.connect_timeout, this.connect(uri))
                .await
                .unwrap_or(Err(ConnectError::Timeout))
        })
    }
}

impl Connector {
    async fn connect(&self, uri: Uri) -> Result<Stream, ConnectError> {
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let host = uri.host().ok_or(ConnectError::NoHost)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let resolved: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(ConnectError::Dns)?
                .collect(),
        };
        let mut refused = None;
        let allowed = resolved
            .iter()
            .filter(|a| match self.policy.check_resolved(host, a.ip()) {
                Ok(()) => true,
                Err(denial) => {
                    refused.get_or_insert(denial);
                    false
                }
            })
            .collect::<Vec<_>>();
        let mut last_error = None;
        let mut stream = None;
        for addr in allowed {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let tcp = match (stream, last_error) {
            (Some(tcp), _) => tcp,
            (None, Some(e)) => return Err(ConnectError::Connect(e)),
            (None, None) if resolved.is_empty() => return Err(ConnectError::NotFound),
            (None, None) => {
                if let Some(denial) = refused {
                    tracing::warn!(host, "outbound HTTP refused: {denial}");
                }
                return Err(ConnectError::Prohibited);
            }
        };
        // Requests are small and latency-bound; Nagle would hold their last segment.
        let _ = tcp.set_nodelay(true);
        if !https {
            return Ok(MaybeHttpsStream::Http(TokioIo::new(tcp)));
        }
        let settings = self.tls.for_host(host, port);
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|_| ConnectError::InvalidName)?;
        let tls = tokio_rustls::TlsConnector::from(settings.config.clone())
            .connect(name, TokioIo::new(TokioIo::new(tcp)))
            .await
            .map_err(ConnectError::Tls)?;
        Ok(MaybeHttpsStream::Https(TokioIo::new(tls)))
    }
}
