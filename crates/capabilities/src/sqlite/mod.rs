//! SQLite databases for `fermyon:spin/sqlite@2.0.0` (here) and `spin:sqlite@3.1.0`
//! (`v3.rs`). A component opens only the labels in its `sqlite_databases`; `default` is a file in the state directory, other labels come
//! from the runtime config. Every column type round-trips exactly.

mod databases;
mod v3;

pub use databases::SqliteDatabases;
pub use v3::ConnectionV3;

use crate::CapabilitiesView;
use crate::bindings::fermyon::spin::sqlite as v2;
use crate::shared_sqlite::SharedConnection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::Resource;

/// One labelled database, shared by every instance granted it.
pub struct Database {
    label: String,
    conn: SharedConnection,
}

/// The `connection` resource: a handle on a granted database.
pub struct Connection(Arc<Database>);

/// What one statement produced: its columns and rows, and, read in the same step, the
/// connection's last inserted row id (when the statement inserted) and change count.
pub struct Executed {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, in order.
    pub rows: Vec<Vec<SqlValue>>,
    /// The row id of the row this statement inserted, if it inserted one.
    pub last_insert_rowid: Option<i64>,
    /// Rows changed by this statement (0 for one that changes none).
    pub changes: u64,
}

impl Database {
    /// Opens (creating) the database file, or an in-memory one.
    pub fn open(label: &str, path: Option<&Path>) -> anyhow::Result<Self> {
        Ok(Self {
            label: label.to_owned(),
            conn: SharedConnection::open(path)?,
        })
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs one statement with positional parameters.
    pub async fn execute(
        &self,
        statement: String,
        params: Vec<SqlValue>,
    ) -> Result<Executed, String> {
        self.conn
            .run(move |c| {
                let before = c.total_changes();
                let mut stmt = c.prepare_cached(&statement)?;
                let columns: Vec<String> = stmt
                    .column_names()
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
                let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
                let mut out = Vec::new();
                let mut budget = ResultBudget::default();
                while let Some(row) = rows.next()? {
                    let values = (0..columns.len())
                        .map(|i| row.get_ref(i).map(owned_value))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    budget.take(&values)?;
                    out.push(values);
                }
                drop(rows);
                // Only a statement that changed rows moves these; reading them here, in the
                // same step, keeps another instance's statement from slipping in between.
                let changed = c.total_changes() != before;
                let inserts = statement_is_insert(&statement);
                Ok(Executed {
                    columns,
                    rows: out,
                    last_insert_rowid: (changed && inserts).then(|| c.last_insert_rowid()),
                    changes: if changed { c.changes() } else { 0 },
                })
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs `sql` (one or more statements) now, outside the async runtime: `--sqlite`.
    pub fn execute_batch_now(&self, sql: &str) -> Result<(), String> {
        self.conn
            .run_now(|c| c.execute_batch(sql))
            .map_err(|e| e.to_string())
    }
}

/// Counts what a statement's rows cost the host, failing the statement past
/// [`crate::MAX_RESULT_BYTES`].
#[derive(Default)]
struct ResultBudget(usize);

impl ResultBudget {
    fn take(&mut self, row: &[SqlValue]) -> rusqlite::Result<()> {
        // Each value costs at least its enum's size, so a million NULLs count too.
        self.0 += row
            .iter()
            .map(|v| {
                std::mem::size_of::<SqlValue>()
                    + match v {
                        SqlValue::Text(t) => t.len(),
                        SqlValue::Blob(b) => b.len(),
                        _ => 0,
                    }
            })
            .sum::<usize>();
        if self.0 > crate::MAX_RESULT_BYTES {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
                Some(format!(
                    "the result is larger than {} MiB; select fewer rows at a time",
                    crate::MAX_RESULT_BYTES >> 20
                )),
            ));
        }
        Ok(())
    }
}

fn owned_value(v: ValueRef<'_>) -> SqlValue {
    v.into()
}

/// Whether `statement` is an INSERT (or REPLACE), whose row id the connection reports.
fn statement_is_insert(statement: &str) -> bool {
    let head = statement
        .trim_start()
        .get(..7)
        .unwrap_or("")
        .to_ascii_uppercase();
    head.starts_with("INSERT") || head.starts_with("REPLACE")
}

fn to_sql_value(v: v2::Value) -> SqlValue {
    match v {
        v2::Value::Integer(i) => SqlValue::Integer(i),
        v2::Value::Real(f) => SqlValue::Real(f),
        v2::Value::Text(t) => SqlValue::Text(t),
        v2::Value::Blob(b) => SqlValue::Blob(b),
        v2::Value::Null => SqlValue::Null,
    }
}

fn from_sql(v: SqlValue) -> v2::Value {
    match v {
        SqlValue::Integer(i) => v2::Value::Integer(i),
        SqlValue::Real(f) => v2::Value::Real(f),
        SqlValue::Text(t) => v2::Value::Text(t),
        SqlValue::Blob(b) => v2::Value::Blob(b),
        SqlValue::Null => v2::Value::Null,
    }
}

impl v2::Host for CapabilitiesView<'_> {}

impl v2::HostConnection for CapabilitiesView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, v2::Error>> {
        let Some(db) = self.caps.grants.databases.get(&database).cloned() else {
            return Ok(Err(v2::Error::AccessDenied));
        };
        Ok(Ok(self.table.push(Connection(db))?))
    }

    async fn execute(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        parameters: Vec<v2::Value>,
    ) -> wasmtime::Result<Result<v2::QueryResult, v2::Error>> {
        let db = self.table.get(&conn)?.0.clone();
        let params = parameters.into_iter().map(to_sql_value).collect();
        Ok(match db.execute(statement, params).await {
            Ok(Executed { columns, rows, .. }) => Ok(v2::QueryResult {
                columns,
                rows: rows
                    .into_iter()
                    .map(|values| v2::RowResult {
                        values: values.into_iter().map(from_sql).collect(),
                    })
                    .collect(),
            }),
            Err(e) => Err(v2::Error::Io(e)),
        })
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
