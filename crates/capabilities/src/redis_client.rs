//! Redis connections shared by the key-value backend and outbound Redis: one
//! `ConnectionManager` per URL (a multiplexed connection that reconnects by itself),
//! opened on first use and bounded by timeouts.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long to wait for Redis to accept a connection or answer a command.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `url`, failing if Redis cannot be reached within [`REDIS_TIMEOUT`].
pub async fn connect(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("invalid Redis URL: {e}"))?;
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

/// One connection per Redis URL, shared by every instance of the app.
#[derive(Default)]
pub struct RedisPool {
    by_url: Mutex<HashMap<String, Arc<OnceCell<ConnectionManager>>>>,
}

impl RedisPool {
    /// The connection for `url`, made on first use; a failed attempt is retried by the
    /// next caller. Callers for different URLs never wait on each other.
    pub async fn get(&self, url: &str) -> anyhow::Result<ConnectionManager> {
        let cell = self
            .by_url
            .lock()
            .expect("redis pool lock")
            .entry(url.to_owned())
            .or_default()
            .clone();
        cell.get_or_try_init(|| connect(url)).await.cloned()
    }
}
