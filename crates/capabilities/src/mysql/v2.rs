//! `fermyon:spin/mysql@2.0.0` (with `rdbms-types`) onto the core.

use super::{MysqlConnection, open};
use crate::CapabilitiesView;
use crate::bindings::fermyon::spin::mysql as v2;
use crate::bindings::fermyon::spin::rdbms_types as rdbms;
use wasmtime::component::Resource;

impl v2::Host for CapabilitiesView<'_> {}

impl v2::HostConnection for CapabilitiesView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<MysqlConnection>, rdbms::Error>> {
        match open(&self.caps.grants, &address).await {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn query(
        &mut self,
        conn: Resource<MysqlConnection>,
        statement: String,
        params: Vec<rdbms::ParameterValue>,
    ) -> wasmtime::Result<Result<rdbms::RowSet, rdbms::Error>> {
        let conn = self.table.get(&conn)?.clone();
        Ok(conn
            .query(statement, params)
            .await
            .map(|(columns, rows)| rdbms::RowSet { columns, rows }))
    }

    async fn execute(
        &mut self,
        conn: Resource<MysqlConnection>,
        statement: String,
        params: Vec<rdbms::ParameterValue>,
    ) -> wasmtime::Result<Result<(), rdbms::Error>> {
        let conn = self.table.get(&conn)?.clone();
        Ok(conn.execute(statement, params).await)
    }

    async fn drop(&mut self, conn: Resource<MysqlConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
