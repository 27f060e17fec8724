//! Outbound PostgreSQL for `fermyon:spin/postgres@2.0.0` and `spin:postgres/postgres@3.0.0`,
//! both on one implementation with version-independent values ([`Param`], [`Cell`]). A
//! component may open only a `postgres://` address its `allowed_outbound_hosts` grants;
//! any other fails with `connection-failed` before a connection is attempted. Connections come from one pool
//! per URL; each guest `connection` holds one client for its lifetime (so a transaction
//! is never interleaved with another instance's statements), and a client's session
//! state is reset before it is reused.

mod v2;
mod v3;

use crate::CapabilitiesView;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// How long to wait for a connection from the pool (connecting included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per URL across the app.
const POOL_SIZE: usize = 16;

/// One pool per PostgreSQL URL, shared by every instance of the app.
#[derive(Default)]
pub struct PgPools {
    by_url: Mutex<HashMap<String, Pool>>,
}

impl PgPools {
    fn pool(&self, url: &str) -> Result<Pool, String> {
        let mut pools = self.by_url.lock().expect("postgres pools lock");
        if let Some(pool) = pools.get(url) {
            return Ok(pool.clone());
        }
        let config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Clean,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| e.to_string())?;
        pools.insert(url.to_owned(), pool.clone());
        Ok(pool)
    }
}

/// The `connection` resource of both versions: one pooled client, returned to its pool
/// on drop.
pub struct PgConnection(deadpool_postgres::Object);

/// A parameter, whatever interface version it came from.
#[derive(Debug)]
pub(crate) enum Param {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Str(String),
    Binary(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    DateTime(NaiveDateTime),
    /// Seconds since the Unix epoch, for `timestamptz`.
    Timestamp(DateTime<Utc>),
    Null,
}

/// A column's type as the interfaces see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColType {
    Bool,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
    Str,
    Binary,
    Date,
    Time,
    DateTime,
    Other,
}

/// A value read from a row.
#[derive(Debug)]
pub(crate) enum Cell {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Str(String),
    Binary(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    DateTime(NaiveDateTime),
    Null,
    Unsupported,
}

/// Failures, mapped onto each version's error variant of the same name.
#[derive(Debug)]
pub(crate) enum PgError {
    ConnectionFailed(String),
    BadParameter(String),
    QueryFailed(String),
    ValueConversionFailed(String),
}

/// Columns (name, type) and rows of one query.
pub(crate) type Rows = (Vec<(String, ColType)>, Vec<Vec<Cell>>);

/// SQL NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(
        &self,
        _ty: &Type,
        _out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn to_sql(value: Param) -> Box<dyn ToSql + Sync + Send> {
    match value {
        Param::Bool(v) => Box::new(v),
        Param::I8(v) => Box::new(v),
        Param::I16(v) => Box::new(v),
        Param::I32(v) => Box::new(v),
        Param::I64(v) => Box::new(v),
        Param::F32(v) => Box::new(v),
        Param::F64(v) => Box::new(v),
        Param::Str(v) => Box::new(v),
        Param::Binary(v) => Box::new(v),
        Param::Date(v) => Box::new(v),
        Param::Time(v) => Box::new(v),
        Param::DateTime(v) => Box::new(v),
        Param::Timestamp(v) => Box::new(v),
        Param::Null => Box::new(Null),
    }
}

fn col_type(ty: &Type) -> ColType {
    match *ty {
        Type::BOOL => ColType::Bool,
        Type::CHAR => ColType::I8,
        Type::INT2 => ColType::I16,
        Type::INT4 => ColType::I32,
        Type::INT8 => ColType::I64,
        Type::FLOAT4 => ColType::F32,
        Type::FLOAT8 => ColType::F64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => ColType::Str,
        Type::BYTEA => ColType::Binary,
        Type::DATE => ColType::Date,
        Type::TIME => ColType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => ColType::DateTime,
        _ => ColType::Other,
    }
}

fn cell(row: &tokio_postgres::Row, i: usize) -> Result<Cell, PgError> {
    let ty = row.columns()[i].type_().clone();
    let conv = |e: tokio_postgres::Error| {
        PgError::ValueConversionFailed(format!("column {i} ({ty}): {e}"))
    };
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a tokio_postgres::Row,
        i: usize,
    ) -> Result<Option<T>, tokio_postgres::Error> {
        row.try_get::<_, Option<T>>(i)
    }
    let value = match ty {
        Type::BOOL => get::<bool>(row, i).map_err(conv)?.map(Cell::Bool),
        Type::CHAR => get::<i8>(row, i).map_err(conv)?.map(Cell::I8),
        Type::INT2 => get::<i16>(row, i).map_err(conv)?.map(Cell::I16),
        Type::INT4 => get::<i32>(row, i).map_err(conv)?.map(Cell::I32),
        Type::INT8 => get::<i64>(row, i).map_err(conv)?.map(Cell::I64),
        Type::FLOAT4 => get::<f32>(row, i).map_err(conv)?.map(Cell::F32),
        Type::FLOAT8 => get::<f64>(row, i).map_err(conv)?.map(Cell::F64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            get::<String>(row, i).map_err(conv)?.map(Cell::Str)
        }
        Type::BYTEA => get::<Vec<u8>>(row, i).map_err(conv)?.map(Cell::Binary),
        Type::DATE => get::<NaiveDate>(row, i).map_err(conv)?.map(Cell::Date),
        Type::TIME => get::<NaiveTime>(row, i).map_err(conv)?.map(Cell::Time),
        Type::TIMESTAMP => get::<NaiveDateTime>(row, i)
            .map_err(conv)?
            .map(Cell::DateTime),
        Type::TIMESTAMPTZ => get::<DateTime<Utc>>(row, i)
            .map_err(conv)?
            .map(|t| Cell::DateTime(t.naive_utc())),
        _ => return Ok(Cell::Unsupported),
    };
    Ok(value.unwrap_or(Cell::Null))
}

fn query_failed(e: tokio_postgres::Error) -> PgError {
    // The server's own message (with its SQLSTATE) says what went wrong.
    match e.as_db_error() {
        Some(db) => PgError::QueryFailed(format!("{} ({})", db.message(), db.code().code())),
        None => PgError::QueryFailed(e.to_string()),
    }
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

impl CapabilitiesView<'_> {
    /// Opens a pooled connection to `address` if the component's grant allows it.
    async fn pg_open(&mut self, address: &str) -> Result<PgConnection, PgError> {
        let policy = &self.caps.grants.outbound;
        if policy
            .allowed_url(address, &["postgres", "postgresql"])
            .is_none()
        {
            tracing::debug!("outbound PostgreSQL denied by allowed_outbound_hosts");
            return Err(PgError::ConnectionFailed(
                "address not allowed: add it to the component's allowed_outbound_hosts \
                 (e.g. `postgres://host:5432`)"
                    .into(),
            ));
        }
        let pool = self
            .caps
            .grants
            .postgres
            .pool(address)
            .map_err(PgError::ConnectionFailed)?;
        let client = pool
            .get()
            .await
            .map_err(|e| PgError::ConnectionFailed(e.to_string()))?;
        Ok(PgConnection(client))
    }
}

impl PgConnection {
    async fn query(&self, statement: &str, params: Vec<Param>) -> Result<Rows, PgError> {
        let params: Vec<_> = params.into_iter().map(to_sql).collect();
        let stmt = self
            .0
            .prepare_cached(statement)
            .await
            .map_err(query_failed)?;
        let rows = self
            .0
            .query(&stmt, &refs(&params))
            .await
            .map_err(query_failed)?;
        let columns = stmt
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), col_type(c.type_())))
            .collect();
        let cells = rows
            .iter()
            .map(|row| (0..row.len()).map(|i| cell(row, i)).collect())
            .collect::<Result<Vec<Vec<Cell>>, PgError>>()?;
        Ok((columns, cells))
    }

    async fn execute(&self, statement: &str, params: Vec<Param>) -> Result<u64, PgError> {
        let params: Vec<_> = params.into_iter().map(to_sql).collect();
        self.0
            .execute(statement, &refs(&params))
            .await
            .map_err(query_failed)
    }
}
