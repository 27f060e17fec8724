//! Key-value stores. One implementation behind `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch); a label is served by one backend
//! (SQLite file, Redis, or memory). Values are bytes; `increment` keeps a decimal integer
//! in the value, as Redis' INCRBY does, so both backends agree on what `get` returns.

mod host;
mod host_v3;
mod memory;
mod redis_backend;
mod sqlite_backend;
mod stores;

use crate::runtime_config::KeyValueBackendConfig;
use std::path::Path;
use std::sync::Arc;

pub use memory::MemoryKv;
pub use redis_backend::RedisKv;
pub use sqlite_backend::SqliteKv;
pub use stores::KeyValueStores;

/// A backend failure, reported to the guest as the interface's `other(...)` error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct KvError(pub String);

impl KvError {
    pub(crate) fn from_display(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

/// Result of a backend operation.
pub type KvResult<T> = Result<T, KvError>;

/// The backends. An enum rather than a trait object: three known kinds, static dispatch.
pub enum Backend {
    /// A SQLite file (Spin's `type = "spin"`).
    Sqlite(SqliteKv),
    /// A Redis server.
    Redis(RedisKv),
    /// A map in this process.
    Memory(MemoryKv),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $call:expr) => {
        match $self {
            Backend::Sqlite($b) => $call.await,
            Backend::Redis($b) => $call.await,
            Backend::Memory($b) => $call.await,
        }
    };
}

impl Backend {
    /// Opens the backend `config` describes; `label` namespaces SQLite rows.
    pub async fn open(label: &str, config: &KeyValueBackendConfig) -> anyhow::Result<Self> {
        Ok(match config {
            KeyValueBackendConfig::Sqlite { path } => {
                Backend::Sqlite(SqliteKv::open(path.as_deref(), label)?)
            }
            KeyValueBackendConfig::Redis { url } => Backend::Redis(RedisKv::connect(url).await?),
            KeyValueBackendConfig::Memory => Backend::Memory(MemoryKv::default()),
        })
    }

    /// The SQLite backend for the default store.
    pub fn default_sqlite(path: &Path) -> anyhow::Result<Self> {
        Ok(Backend::Sqlite(SqliteKv::open(Some(path), "default")?))
    }

    /// The value at `key`.
    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        dispatch!(self, b => b.get(key))
    }
    /// Sets `key`; returns once the write is durable against a process crash.
    pub async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        dispatch!(self, b => b.set(key, value))
    }
    /// Deletes `key`; deleting a missing key is not an error.
    pub async fn delete(&self, key: &str) -> KvResult<()> {
        dispatch!(self, b => b.delete(key))
    }
    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> KvResult<bool> {
        dispatch!(self, b => b.exists(key))
    }
    /// Every key.
    pub async fn keys(&self) -> KvResult<Vec<String>> {
        dispatch!(self, b => b.keys())
    }
    /// Adds `delta` to the integer at `key` (0 when missing) atomically; returns the result.
    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        dispatch!(self, b => b.increment(key, delta))
    }
    /// Sets `key` to `new` only if its value is still `expected`; returns whether it did.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        dispatch!(self, b => b.compare_and_swap(key, expected, new))
    }
    /// Values of many keys.
    pub async fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        dispatch!(self, b => b.get_many(keys))
    }
    /// Sets many keys.
    pub async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> KvResult<()> {
        dispatch!(self, b => b.set_many(pairs))
    }
    /// Deletes many keys.
    pub async fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        dispatch!(self, b => b.delete_many(keys))
    }
}

/// The counter an `increment` of `delta` leaves, given the value there now (missing is 0).
pub(crate) fn next_counter(current: Option<&[u8]>, delta: i64) -> KvResult<i64> {
    parse_counter(current)?
        .checked_add(delta)
        .ok_or_else(|| KvError("increment overflows a 64-bit integer".into()))
}

/// Parses the decimal integer an `increment` keeps in a value.
fn parse_counter(value: Option<&[u8]>) -> KvResult<i64> {
    match value {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                KvError("the value is not an integer, so it cannot be incremented".into())
            }),
    }
}

/// One labelled store, shared by every instance granted it.
pub struct Store {
    /// The label (`default`, …).
    pub label: String,
    /// What serves it.
    pub backend: Backend,
}

/// The `fermyon:spin/key-value` `store` resource.
pub struct SpinStore(pub(crate) Arc<Store>);

/// The `wasi:keyvalue/store` `bucket` resource.
pub struct Bucket(pub(crate) Arc<Store>);

/// The `wasi:keyvalue/atomics` `cas` resource: the value seen when it was made.
pub struct Cas {
    pub(crate) store: Arc<Store>,
    pub(crate) key: String,
    pub(crate) current: Option<Vec<u8>>,
}
