//! The Redis backend. One `ConnectionManager` per label: it reconnects on its own, so a
//! Redis that goes away fails the requests made meanwhile with the interface's error, and
//! later requests succeed once it is back. Timeouts bound how long a request waits.

use super::{KvError, KvResult};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// Compare-and-swap as one server-side step. ARGV: expected-present flag, expected, new.
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

/// Keys in one Redis database.
pub struct RedisKv {
    conn: ConnectionManager,
    cas: redis::Script,
}

fn err(e: redis::RedisError) -> KvError {
    KvError::from_display(format!("redis: {e}"))
}

impl RedisKv {
    /// Connects to `url`, failing now if Redis cannot be reached.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let conn = crate::redis_client::connect(url, &crate::tls::default_settings())
            .await
            .map_err(|e| anyhow::anyhow!("Redis at {url}: {e}"))?;
        Ok(Self {
            conn,
            cas: redis::Script::new(CAS_SCRIPT),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub(super) async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.conn().get(key).await.map_err(err)
    }
    pub(super) async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.conn().set(key, value).await.map_err(err)
    }
    pub(super) async fn delete(&self, key: &str) -> KvResult<()> {
        self.conn().del(key).await.map_err(err)
    }
    pub(super) async fn exists(&self, key: &str) -> KvResult<bool> {
        self.conn().exists(key).await.map_err(err)
    }
    pub(super) async fn keys(&self) -> KvResult<Vec<String>> {
        let mut conn = self.conn();
        let mut keys = Vec::new();
        let mut iter = conn.scan::<String>().await.map_err(err)?;
        while let Some(k) = futures_next(&mut iter).await {
            keys.push(k.map_err(err)?);
        }
        Ok(keys)
    }
    pub(super) async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        self.conn().incr(key, delta).await.map_err(err)
    }
    pub(super) async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let swapped: i64 = self
            .cas
            .key(key)
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(new)
            .invoke_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(swapped == 1)
    }
    pub(super) async fn get_many(
        &self,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(keys)
            .query_async(&mut self.conn())
            .await
            .map_err(err)?;
        Ok(keys.iter().cloned().zip(values).collect())
    }
    pub(super) async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> KvResult<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        self.conn().mset(pairs).await.map_err(err)
    }
    pub(super) async fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.conn().del(keys).await.map_err(err)
    }
}

async fn futures_next<T>(iter: &mut redis::AsyncIter<'_, T>) -> Option<redis::RedisResult<T>>
where
    T: redis::FromRedisValue + Unpin + Send + 'static,
{
    iter.next_item().await
}
