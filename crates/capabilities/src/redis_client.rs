//! Redis connections shared by the key-value backend and outbound Redis: one
//! `ConnectionManager` per URL and TLS setting (a multiplexed connection that reconnects
//! by itself), opened on first use and bounded by timeouts. `rediss://` URLs speak TLS:
//! the webpki and system roots by default, or a `[[client_tls]]` entry's CA roots and
//! client certificate.

use crate::outbound::{CheckedTarget, first_connected};
use crate::tls::TlsSettings;
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long to wait for Redis to accept a connection or answer a command.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// A client for `url`, with `tls`'s CA roots and client certificate for `rediss://`
/// when it is a `[[client_tls]]` entry (the redis crate's default roots otherwise).
pub fn client(url: &str, tls: &TlsSettings) -> redis::RedisResult<redis::Client> {
    client_to(url, None, tls)
}

/// [`client`], connecting to the address `pinned` in place of a plain `redis://` URL's
/// host (TLS connections keep the name: the server's certificate is checked against it).
fn client_to(
    url: &str,
    pinned: Option<&str>,
    tls: &TlsSettings,
) -> redis::RedisResult<redis::Client> {
    let mut info = url.into_connection_info()?;
    if let (Some(ip), redis::ConnectionAddr::Tcp(_, port)) = (pinned, info.addr()) {
        let port = *port;
        info = info.set_addr(redis::ConnectionAddr::Tcp(ip.to_owned(), port));
    }
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
    connect_to(url, None, tls).await
}

/// [`connect`], to the address `pinned` in place of a plain URL's host.
async fn connect_to(
    url: &str,
    pinned: Option<&str>,
    tls: &TlsSettings,
) -> anyhow::Result<ConnectionManager> {
    let client =
        client_to(url, pinned, tls).map_err(|e| anyhow::anyhow!("invalid Redis URL: {e}"))?;
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
/// address it connects to (plain connections).
type PoolKey = (String, usize, Option<String>);

/// One connection per Redis URL, TLS setting and checked address, shared by every
/// instance of the app.
#[derive(Default)]
pub struct RedisPool {
    by_url: Mutex<HashMap<PoolKey, Arc<OnceCell<ConnectionManager>>>>,
}

impl RedisPool {
    /// The connection for `url` as the outbound check allowed it, made on first use: a
    /// plain `redis://` connection goes to a checked address (and reconnects there),
    /// a `rediss://` one to the name its certificate must match. A failed attempt is
    /// retried by the next caller; callers for different URLs never wait on each other.
    pub(crate) async fn get_checked(
        &self,
        url: &str,
        checked: &CheckedTarget,
    ) -> anyhow::Result<ConnectionManager> {
        let plain = checked.target.scheme == "redis";
        let tls = &checked.tls;
        first_connected(checked.hosts(plain), |host| async move {
            let pinned = plain.then_some(host);
            let cell = self
                .by_url
                .lock()
                .expect("redis pool lock")
                .entry((url.to_owned(), tls.id, pinned.clone()))
                .or_default()
                .clone();
            cell.get_or_try_init(|| connect_to(url, pinned.as_deref(), tls))
                .await
                .cloned()
        })
        .await
    }
}
