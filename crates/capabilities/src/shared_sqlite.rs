//! One SQLite connection shared by async callers: work runs on tokio's blocking pool, one
//! statement sequence at a time. WAL journaling with `synchronous = NORMAL` means a commit
//! that returned is in the file and survives a crash of the process.
//!
//! Guests' SQL runs on these connections, so every one is fenced in (`guard.rs`): an
//! authorizer refuses anything that reaches past the one file (ATTACH, VACUUM INTO,
//! extension loading, path-revealing or connection-changing PRAGMAs), SQLite's defensive
//! mode is on, and the length of one value is capped. A statement whose caller went away
//! (timeout, client gone, trap) is interrupted by a progress handler, so it releases
//! the connection instead of running on.

mod guard;

use guard::{Denials, install_authorizer};
use rusqlite::{Connection, OpenFlags, limits::Limit};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest string or blob one value may be (SQLite's own default is 1 GB, which a guest
/// could make the host allocate with one `zeroblob`).
pub const MAX_VALUE_BYTES: i32 = 32 << 20;

/// VM instructions between two checks of whether the running statement's caller is gone.
const PROGRESS_OPS: i32 = 10_000;

/// A connection usable from async code.
#[derive(Clone)]
pub struct SharedConnection {
    conn: Arc<Mutex<Connection>>,
    /// The cancel flag of the work now running on the connection, read by its progress
    /// handler.
    running: Arc<Mutex<Option<Arc<AtomicBool>>>>,
    denials: Denials,
}

/// Why work on a [`SharedConnection`] failed.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// The authorizer refused a statement; the message says what and why.
    #[error("{0}")]
    Denied(String),
    /// SQLite reported an error.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The blocking worker died.
    #[error("sqlite worker failed: {0}")]
    Worker(String),
}

impl SharedConnection {
    /// Opens (creating) the database at `path`, or an in-memory one, fenced for guests.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        // No SQLITE_OPEN_URI: a path is a path, never `file:...?vfs=...`.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                Connection::open_with_flags(p, flags)?
            }
            None => Connection::open_in_memory_with_flags(flags)?,
        };
        conn.busy_timeout(Duration::from_secs(5))?;
        if path.is_some() {
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        use rusqlite::config::DbConfig;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        // Extension loading stays off: rusqlite is built without `load_extension`, and
        // the authorizer refuses the SQL function as well.
        // One attached database is what a plain VACUUM needs for its temporary copy; the
        // authorizer refuses every ATTACH that names a file, so no more can be reached.
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 1)?;
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)?;
        let denials = Denials::default();
        install_authorizer(&conn, denials.clone());
        let running: Arc<Mutex<Option<Arc<AtomicBool>>>> = Arc::default();
        let flag = running.clone();
        conn.progress_handler(
            PROGRESS_OPS,
            Some(move || {
                let current = flag.lock().unwrap_or_else(|e| e.into_inner());
                current
                    .as_ref()
                    .is_some_and(|cancelled| cancelled.load(Ordering::Relaxed))
            }),
        );
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            running,
            denials,
        })
    }

    /// Runs `f` on the connection, off the async runtime's threads. Dropping the returned
    /// future interrupts `f`'s statement (or keeps it from starting), so the connection is
    /// free again within a few thousand VM instructions.
    pub async fn run<R, F>(&self, f: F) -> Result<R, SqliteError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
        let cancelled = cancel.0.clone();
        let (conn, running, denials) = (
            self.conn.clone(),
            self.running.clone(),
            self.denials.clone(),
        );
        let outcome = tokio::task::spawn_blocking(move || {
            // A panic inside `f` poisons the lock but cannot corrupt the database: SQLite
            // rolls back any open transaction when it is next used.
            let mut guard = conn.lock().unwrap_or_else(|e| e.into_inner());
            if cancelled.load(Ordering::Relaxed) {
                let interrupted = rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                    Some("the request ended before the statement ran".into()),
                );
                return Err((interrupted, None));
            }
            *running.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancelled);
            denials.clear();
            let result = f(&mut guard);
            *running.lock().unwrap_or_else(|e| e.into_inner()) = None;
            result.map_err(|e| (e, denials.take()))
        })
        .await;
        drop(cancel);
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err((_, Some(denied)))) => Err(SqliteError::Denied(denied)),
            Ok(Err((e, None))) => Err(SqliteError::Sqlite(e)),
            Err(e) => Err(SqliteError::Worker(e.to_string())),
        }
    }

    /// Runs `f` synchronously and unfenced: the host's own setup and the operator's
    /// `--sqlite` statements, before any guest runs.
    pub fn run_now<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> rusqlite::Result<R> {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        self.denials.set_trusted(true);
        let result = f(&mut guard);
        self.denials.set_trusted(false);
        result
    }
}

/// Sets its flag when dropped: the future of [`SharedConnection::run`] was dropped (or
/// finished, when the flag no longer matters).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
