//! The in-memory backend: a map behind a mutex (for tests and scratch data).

use super::{KvResult, next_counter};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keys and values in this process only.
#[derive(Default)]
pub struct MemoryKv {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryKv {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated: every
        // operation is a single map call.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(super) async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.map().get(key).cloned())
    }
    pub(super) async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    pub(super) async fn delete(&self, key: &str) -> KvResult<()> {
        self.map().remove(key);
        Ok(())
    }
    pub(super) async fn exists(&self, key: &str) -> KvResult<bool> {
        Ok(self.map().contains_key(key))
    }
    pub(super) async fn keys(&self) -> KvResult<Vec<String>> {
        Ok(self.map().keys().cloned().collect())
    }
    pub(super) async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let mut map = self.map();
        let next = next_counter(map.get(key).map(Vec::as_slice), delta)?;
        map.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }
    pub(super) async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let mut map = self.map();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }
    pub(super) async fn get_many(
        &self,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        let map = self.map();
        Ok(keys
            .iter()
            .map(|k| (k.clone(), map.get(k).cloned()))
            .collect())
    }
    pub(super) async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> KvResult<()> {
        let mut map = self.map();
        for (k, v) in pairs {
            map.insert(k.clone(), v.clone());
        }
        Ok(())
    }
    pub(super) async fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        let mut map = self.map();
        for k in keys {
            map.remove(k);
        }
        Ok(())
    }
}
