//! `spin:mysql/mysql@3.0.0` (spin-sdk 7, `async func`s) onto the core; `query` answers
//! with its columns, a stream of rows and a future for the outcome.

use super::{MysqlConnection, open};
use crate::bindings::fermyon::spin::rdbms_types::{
    DbDataType as D2, DbValue as V2, Error as E2, ParameterValue as P2,
};
use crate::bindings::spin::mysql::mysql as v3;
use crate::macros::same_variants;
use crate::{CapabilitiesData, CapabilitiesView};
use v3::{DbDataType as D3, DbValue as V3, Error as E3, ParameterValue as P3};
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

same_variants!(P3 => P2; units: DbNull; values: Boolean, Int8, Int16, Int32, Int64, Uint8,
    Uint16, Uint32, Uint64, Floating32, Floating64, Str, Binary);
same_variants!(V2 => V3; units: DbNull, Unsupported; values: Boolean, Int8, Int16, Int32,
    Int64, Uint8, Uint16, Uint32, Uint64, Floating32, Floating64, Str, Binary);
same_variants!(D2 => D3; units: Boolean, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32,
    Uint64, Floating32, Floating64, Str, Binary, Other; values: );
same_variants!(E2 => E3; units: ; values: ConnectionFailed, BadParameter, QueryFailed,
    ValueConversionFailed, Other);

type Streamed = (
    Vec<v3::Column>,
    StreamReader<Vec<V3>>,
    FutureReader<Result<(), E3>>,
);

fn conn_of<U>(
    a: &Accessor<U, CapabilitiesData>,
    conn: &Resource<MysqlConnection>,
) -> wasmtime::Result<MysqlConnection> {
    a.with(|mut v| Ok(v.get().table.get(conn)?.clone()))
}

impl v3::Host for CapabilitiesView<'_> {}

impl v3::HostConnection for CapabilitiesView<'_> {
    async fn drop(&mut self, conn: Resource<MysqlConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

impl<U> v3::HostConnectionWithStore<U> for CapabilitiesData {
    async fn open(
        a: &Accessor<U, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<MysqlConnection>, E3>> {
        let grants = a.with(|mut v| v.get().caps.grants.clone());
        match open(&grants, &address).await {
            Ok(conn) => a.with(|mut v| Ok(Ok(v.get().table.push(conn)?))),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn query(
        a: &Accessor<U, Self>,
        conn: Resource<MysqlConnection>,
        statement: String,
        params: Vec<P3>,
    ) -> wasmtime::Result<Result<Streamed, E3>> {
        let conn = conn_of(a, &conn)?;
        let params = params.into_iter().map(Into::into).collect();
        let (columns, rows) = match conn.query(statement, params).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(e.into())),
        };
        let columns = columns
            .into_iter()
            .map(|c| v3::Column {
                name: c.name,
                data_type: c.data_type.into(),
            })
            .collect();
        let rows: Vec<Vec<V3>> = rows
            .into_iter()
            .map(|r| r.into_iter().map(Into::into).collect())
            .collect();
        a.with(|mut access| {
            let (stream, outcome) = crate::macros::settled_rows(&mut access, rows)?;
            Ok(Ok((columns, stream, outcome)))
        })
    }

    async fn execute(
        a: &Accessor<U, Self>,
        conn: Resource<MysqlConnection>,
        statement: String,
        params: Vec<P3>,
    ) -> wasmtime::Result<Result<(), E3>> {
        let conn = conn_of(a, &conn)?;
        let params = params.into_iter().map(Into::into).collect();
        Ok(conn.execute(statement, params).await.map_err(Into::into))
    }
}
