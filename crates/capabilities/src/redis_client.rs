//! Redis connections shared by the key-value backend and outbound Redis: one
//! `ConnectionManager` per URL and TLS setting (a multiplexed connection that reconnects
//! by itself), opened on first use and bounded by timeouts. `rediss://` URLs speak TLS:
//! the webpki and system roots by default, or a `[[client_tls]]` entry's CA roots and
//! client certificate.

use crate::tls::TlsSettings;
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
    if tls.is_default() {
        return redis::Client::open(url);
    }
    // The redis crate takes PEM; an entry's CA roots replace its default roots.
    redis::Client::build_with_tls(
        url,
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

/// A Redis URL and the id of the TLS setting its connection was made with.
type PoolKey = (String, usize);

/// One connection per Redis URL and TLS setting, shared by every instance of the app.
#[derive(Default)]
pub struct RedisPool {
    by_url: Mutex<HashMap<PoolKey, Arc<OnceCell<ConnectionManager>>>>,
}

impl RedisPool {
    /// The connection for `url`, made on first use; a failed attempt is retried by the
    /// next caller. Callers for different URLs never wait on each other.
    pub async fn get(&self, url: &str, tls: &TlsSettings) -> anyhow::Result<ConnectionManager> {
        let cell = self
            .by_url
            .lock()
            .expect("redis pool lock")
            .entry((url.to_owned(), tls.id))
            .or_default()
            .clone();
        cell.get_or_try_init(|| connect(url, tls)).await.cloned()
    }
}
