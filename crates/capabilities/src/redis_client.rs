//! Redis connections: the key-value backend's `ConnectionManager` (a multiplexed
//! connection that reconnects by itself; its server is the operator's), and the pool of
//! guests' outbound connections, one multiplexed connection per URL, TLS setting and
//! checked address, reading through a reply cap (`redis_reply_cap.rs`) and made again
//! once it ends. Both are opened on first use and bounded by timeouts. `rediss://` URLs
//! speak TLS: the webpki roots by default, or a `[[client_tls]]` entry's CA roots and
//! client certificate.

use crate::outbound::{CheckedTarget, first_connected};
use crate::redis_reply_cap::ReplyCap;
use crate::tls::TlsSettings;
use redis::IntoConnectionInfo;
use redis::aio::MultiplexedConnection;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long to wait for Redis to accept a connection or answer a command.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for `url`, with `tls`'s CA roots and client certificate for `rediss://`
/// when it is a `[[client_tls]]` entry (the redis crate's default roots otherwise).
pub fn client(url: &str, tls: &TlsSettings) -> redis::RedisResult<redis::Client> {
    let info = url.into_connection_info()?;
    if tls.is_default() {
        return redis::Client::open(info);
    }
    // The redis crate takes PEM; an entry's CA roots replace its default roots.
    redis::Client::build_with_tls(
        info,
        redis::TlsCertificates {
            client_tls: tls
                .identity_pem
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: tls.ca_roots_pem.clone(),
        },
    )
}

/// Connects to `url` (with `tls` for `rediss://`), failing if Redis cannot be reached
/// within [`REDIS_TIMEOUT`].
pub async fn connect(url: &str, tls: &TlsSettings) -> anyhow::Result<ConnectionManager> {
    let client = client(url, tls).map_err(|e| anyhow::anyhow!("invalid Redis URL: {e}"))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(REDIS_TIMEOUT))
        .set_response_timeout(Some(REDIS_TIMEOUT))
        .set_number_of_retries(1);
    tokio::time::timeout(
        REDIS_TIMEOUT,
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| anyhow::anyhow!("cannot reach Redis: timed out"))?
    .map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))
}

/// A Redis URL, the id of the TLS setting its connection was made with, and the checked
/// address it connects to.
type PoolKey = (String, usize, String);

/// One connection per Redis URL, TLS setting and checked address, shared by every
/// instance of the app for guests' outbound Redis. Each reads through a [`ReplyCap`], so
/// no reply costs the host more than [`crate::MAX_RESULT_BYTES`].
#[derive(Default)]
pub struct RedisPool {
    by_url: Mutex<HashMap<PoolKey, Arc<tokio::sync::Mutex<Option<CappedConnection>>>>>,
}

/// A multiplexed connection and whether its driver still runs.
#[derive(Clone)]
struct CappedConnection {
    conn: MultiplexedConnection,
    alive: Arc<AtomicBool>,
}

impl RedisPool {
    /// The connection for `url` as the outbound check allowed it, made on first use and
    /// made again once it has ended (the server closed it, or a reply went over the
    /// cap). It connects to a checked address; over TLS the server's certificate must
    /// match the URL's host name. Callers for different URLs never wait on each other.
    pub(crate) async fn get_checked(
        &self,
        url: &str,
        checked: &CheckedTarget,
    ) -> anyhow::Result<MultiplexedConnection> {
        let tls = &checked.tls;
        // wisp makes the TLS connection itself, verifying the URL's host name, so even
        // `rediss://` connects to the checked addresses.
        first_connected(checked.hosts(true), |host| async move {
            let slot = self
                .by_url
                .lock()
                .expect("redis pool lock")
                .entry((url.to_owned(), tls.id, host.clone()))
                .or_default()
                .clone();
            let mut slot = slot.lock().await;
            if let Some(live) = slot.as_ref().filter(|c| c.alive.load(Ordering::Acquire)) {
                return Ok(live.conn.clone());
            }
            let fresh = connect_capped(url, &host, tls).await?;
            *slot = Some(fresh.clone());
            Ok(fresh.conn)
        })
        .await
    }
}

/// Something a Redis connection can run over: TCP, or TLS over TCP.
trait Transport: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Transport for T {}

/// Connects to `url`'s server at `host` (its TLS name is still the URL's host) and reads
/// its replies through a [`ReplyCap`].
async fn connect_capped(
    url: &str,
    host: &str,
    tls: &TlsSettings,
) -> anyhow::Result<CappedConnection> {
    let info = url
        .into_connection_info()
        .map_err(|e| anyhow::anyhow!("invalid Redis URL: {e}"))?;
    let (name, port, secure) = match info.addr() {
        redis::ConnectionAddr::Tcp(name, port) => (name.clone(), *port, false),
        redis::ConnectionAddr::TcpTls {
            host: name,
            port,
            insecure,
            ..
        } => {
            anyhow::ensure!(
                !insecure,
                "`#insecure` (no server verification) is not supported: trust the \
                 server's CA with a [[client_tls]] entry instead"
            );
            (name.clone(), *port, true)
        }
        _ => anyhow::bail!("only redis:// and rediss:// addresses are supported"),
    };
    let connecting = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Transport> = if secure {
            let server = rustls::pki_types::ServerName::try_from(name)?;
            let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
            Box::new(connector.connect(server, tcp).await?)
        } else {
            Box::new(tcp)
        };
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT));
        let capped = ReplyCap::new(stream, crate::MAX_RESULT_BYTES);
        let (conn, driver) =
            MultiplexedConnection::new_with_config(info.redis_settings(), capped, config).await?;
        anyhow::Ok((conn, driver))
    };
    let (conn, driver) = tokio::time::timeout(REDIS_TIMEOUT, connecting)
        .await
        .map_err(|_| anyhow::anyhow!("cannot reach Redis: timed out"))?
        .map_err(|e| anyhow::anyhow!("cannot reach Redis: {e:#}"))?;
    let alive = Arc::new(AtomicBool::new(true));
    let running = alive.clone();
    tokio::spawn(async move {
        driver.await;
        running.store(false, Ordering::Release);
    });
    Ok(CappedConnection { conn, alive })
}
