//! `spin:sqlite/sqlite@3.1.0` (spin-sdk 7): the databases of version 2, plus
//! `last-insert-rowid` and `changes`, and `async` variants whose `execute-async` streams
//! its rows. Each guest connection remembers the row id and change count of its own last
//! statement (read inside the same step as the statement, so other instances sharing the
//! database cannot interleave).

use super::{Database, Executed, from_sql, to_sql_value};
use crate::bindings::spin::sqlite::sqlite as v3;
use crate::{CapabilitiesData, CapabilitiesView};
use std::sync::Arc;
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

/// The version 3 `connection` resource.
pub struct ConnectionV3 {
    db: Arc<Database>,
    last_insert_rowid: i64,
    changes: u64,
}

impl ConnectionV3 {
    fn record(&mut self, done: &Executed) {
        if let Some(rowid) = done.last_insert_rowid {
            self.last_insert_rowid = rowid;
        }
        self.changes = done.changes;
    }
}

fn rows(done: Executed) -> (Vec<String>, Vec<v3::RowResult>) {
    let rows = done
        .rows
        .into_iter()
        .map(|values| v3::RowResult {
            values: values
                .into_iter()
                .map(|v| from_sql_v3(from_sql(v)))
                .collect(),
        })
        .collect();
    (done.columns, rows)
}

fn from_sql_v3(v: crate::bindings::fermyon::spin::sqlite::Value) -> v3::Value {
    use crate::bindings::fermyon::spin::sqlite::Value as V2;
    match v {
        V2::Integer(i) => v3::Value::Integer(i),
        V2::Real(f) => v3::Value::Real(f),
        V2::Text(t) => v3::Value::Text(t),
        V2::Blob(b) => v3::Value::Blob(b),
        V2::Null => v3::Value::Null,
    }
}

fn to_sql_v3(v: v3::Value) -> rusqlite::types::Value {
    use crate::bindings::fermyon::spin::sqlite::Value as V2;
    to_sql_value(match v {
        v3::Value::Integer(i) => V2::Integer(i),
        v3::Value::Real(f) => V2::Real(f),
        v3::Value::Text(t) => V2::Text(t),
        v3::Value::Blob(b) => V2::Blob(b),
        v3::Value::Null => V2::Null,
    })
}

impl CapabilitiesView<'_> {
    fn open_v3(
        &mut self,
        database: &str,
    ) -> wasmtime::Result<Result<Resource<ConnectionV3>, v3::Error>> {
        let Some(db) = self.caps.grants.databases.get(database).cloned() else {
            return Ok(Err(v3::Error::AccessDenied));
        };
        Ok(Ok(self.table.push(ConnectionV3 {
            db,
            last_insert_rowid: 0,
            changes: 0,
        })?))
    }
}

impl v3::Host for CapabilitiesView<'_> {}

impl v3::HostConnection for CapabilitiesView<'_> {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionV3>, v3::Error>> {
        self.open_v3(&database)
    }

    async fn execute(
        &mut self,
        conn: Resource<ConnectionV3>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<Result<v3::QueryResult, v3::Error>> {
        let db = self.table.get(&conn)?.db.clone();
        let params = parameters.into_iter().map(to_sql_v3).collect();
        match db.execute(statement, params).await {
            Ok(done) => {
                self.table.get_mut(&conn)?.record(&done);
                let (columns, rows) = rows(done);
                Ok(Ok(v3::QueryResult { columns, rows }))
            }
            Err(e) => Ok(Err(v3::Error::Io(e))),
        }
    }

    async fn last_insert_rowid(&mut self, conn: Resource<ConnectionV3>) -> wasmtime::Result<i64> {
        Ok(self.table.get(&conn)?.last_insert_rowid)
    }

    async fn changes(&mut self, conn: Resource<ConnectionV3>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&conn)?.changes)
    }

    async fn drop(&mut self, conn: Resource<ConnectionV3>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

type Streamed = (
    Vec<String>,
    StreamReader<v3::RowResult>,
    FutureReader<Result<(), v3::Error>>,
);

impl<U> v3::HostConnectionWithStore<U> for CapabilitiesData {
    async fn open_async(
        accessor: &Accessor<U, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionV3>, v3::Error>> {
        accessor.with(|mut view| view.get().open_v3(&database))
    }

    async fn execute_async(
        accessor: &Accessor<U, Self>,
        conn: Resource<ConnectionV3>,
        statement: String,
        parameters: Vec<v3::Value>,
    ) -> wasmtime::Result<Result<Streamed, v3::Error>> {
        let db = accessor.with(|mut view| -> wasmtime::Result<_> {
            Ok(view.get().table.get(&conn)?.db.clone())
        })?;
        let params = parameters.into_iter().map(to_sql_v3).collect();
        let done = match db.execute(statement, params).await {
            Ok(done) => done,
            Err(e) => return Ok(Err(v3::Error::Io(e))),
        };
        accessor.with(|mut access| {
            access.get().table.get_mut(&conn)?.record(&done);
            let (columns, rows) = rows(done);
            let (stream, outcome) = crate::macros::settled_rows(&mut access, rows)?;
            Ok(Ok((columns, stream, outcome)))
        })
    }

    async fn last_insert_rowid_async(
        accessor: &Accessor<U, Self>,
        conn: Resource<ConnectionV3>,
    ) -> wasmtime::Result<i64> {
        accessor.with(|mut view| Ok(view.get().table.get(&conn)?.last_insert_rowid))
    }

    async fn changes_async(
        accessor: &Accessor<U, Self>,
        conn: Resource<ConnectionV3>,
    ) -> wasmtime::Result<u64> {
        accessor.with(|mut view| Ok(view.get().table.get(&conn)?.changes))
    }
}
