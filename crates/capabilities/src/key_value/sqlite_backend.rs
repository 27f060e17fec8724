//! The SQLite backend, with the table layout Spin uses (`spin_key_value`, keyed by store
//! label and key), so one file can serve several labels.

use super::{KvError, KvResult, next_counter};
use crate::shared_sqlite::SharedConnection;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;

/// A label's rows in a SQLite file.
pub struct SqliteKv {
    db: SharedConnection,
    label: String,
}

const SELECT_VALUE: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                      ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";
const DELETE: &str = "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2";

/// The value of `key` in `store` (also inside a transaction: it derefs to a connection).
fn current(c: &Connection, store: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    c.prepare_cached(SELECT_VALUE)?
        .query_row(params![store, key], |r| r.get(0))
        .optional()
}

/// Sets `key` in `store`.
fn upsert(c: &Connection, store: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    c.prepare_cached(UPSERT)?
        .execute(params![store, key, value])
        .map(drop)
}

impl SqliteKv {
    /// Opens the file (or memory) and creates the table if needed.
    pub fn open(path: Option<&Path>, label: &str) -> anyhow::Result<Self> {
        let db = SharedConnection::open(path)?;
        db.run_now(|c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                    PRIMARY KEY (store, key))",
            )
        })?;
        Ok(Self {
            db,
            label: label.to_owned(),
        })
    }

    async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &str) -> rusqlite::Result<R> + Send + 'static,
    ) -> KvResult<R> {
        let label = self.label.clone();
        self.db
            .run(move |c| f(c, &label))
            .await
            .map_err(|e| KvError(e.to_string()))
    }

    pub(super) async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        let key = key.to_owned();
        self.run(move |c, store| current(c, store, &key)).await
    }

    pub(super) async fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.run(move |c, store| upsert(c, store, &key, &value))
            .await
    }

    pub(super) async fn delete(&self, key: &str) -> KvResult<()> {
        let key = key.to_owned();
        self.run(move |c, store| {
            c.prepare_cached(DELETE)?
                .execute(params![store, key])
                .map(drop)
        })
        .await
    }

    pub(super) async fn exists(&self, key: &str) -> KvResult<bool> {
        Ok(self.get(key).await?.is_some())
    }

    pub(super) async fn keys(&self) -> KvResult<Vec<String>> {
        self.run(|c, store| {
            let mut stmt = c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?;
            let rows = stmt.query_map(params![store], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    pub(super) async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let key = key.to_owned();
        // A counter problem (not an integer, overflow) comes back as the inner error, and
        // the transaction is dropped (rolled back) without writing.
        self.run(move |c, store| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let next = match next_counter(current(&tx, store, &key)?.as_deref(), delta) {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            };
            upsert(&tx, store, &key, next.to_string().as_bytes())?;
            tx.commit()?;
            Ok(Ok(next))
        })
        .await?
    }

    pub(super) async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let (key, expected, new) = (key.to_owned(), expected.map(<[u8]>::to_vec), new.to_vec());
        self.run(move |c, store| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if current(&tx, store, &key)? != expected {
                return Ok(false);
            }
            upsert(&tx, store, &key, &new)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub(super) async fn get_many(
        &self,
        keys: &[String],
    ) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        let keys = keys.to_vec();
        self.run(move |c, store| {
            keys.into_iter()
                .map(|k| {
                    let v = current(c, store, &k)?;
                    Ok((k, v))
                })
                .collect()
        })
        .await
    }

    pub(super) async fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> KvResult<()> {
        let pairs = pairs.to_vec();
        self.run(move |c, store| {
            let tx = c.transaction()?;
            for (k, v) in &pairs {
                upsert(&tx, store, k, v)?;
            }
            tx.commit()
        })
        .await
    }

    pub(super) async fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        let keys = keys.to_vec();
        self.run(move |c, store| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(DELETE)?;
                for k in &keys {
                    stmt.execute(params![store, k])?;
                }
            }
            tx.commit()
        })
        .await
    }
}
