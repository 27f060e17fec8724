//! Outbound MySQL for `fermyon:spin/mysql@2.0.0` (`v2.rs`) and `spin:mysql/mysql@3.0.0`
//! (`v3.rs`), both on the core here, which speaks version 2's `rdbms-types` (version 3
//! names every variant alike and converts). A component may open only a
//! `mysql://` address its `allowed_outbound_hosts` grants; any other fails with
//! `connection-failed` before a connection is attempted. One pool per URL and TLS
//! setting; each guest `connection` holds one pooled connection for its lifetime
//! (transactions stay on it), and the pool resets the session when it comes back. TLS is
//! the URL's to ask for (`?require_ssl=true`, with `verify_ca` / `verify_identity`);
//! it then uses the component's `[[client_tls]]` settings for the server, if any.

use crate::ComponentGrants;
use crate::abandon::OnAbandon;
use crate::bindings::fermyon::spin::rdbms_types as rdbms;
use crate::outbound::{CheckedTarget, OutboundDenied, first_connected};
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{
    ClientIdentity, Column, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row, Value,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// How long to wait for a connection (connecting included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per URL across the app.
const POOL_SIZE: usize = 16;
/// The character set number MySQL gives binary (non-text) columns.
const BINARY_CHARSET: u16 = 63;

crate::capability::shared_capability!(
    Arc<MysqlPools>,
    instance: (),
    |linker, get, kind| {
        use crate::CapabilitiesData as D;
        use crate::bindings::fermyon::spin as v2;
        v2::rdbms_types::add_to_linker::<T, D>(linker, get)?;
        v2::mysql::add_to_linker::<T, D>(linker, get)?;
        if kind == crate::LinkerKind::Concurrent {
            crate::bindings::spin::mysql::mysql::add_to_linker::<T, D>(linker, get)?;
        }
        Ok(())
    }
);

/// One pool per MySQL URL and TLS setting, shared by every instance of the app.
#[derive(Default)]
pub struct MysqlPools {
    by_target: Mutex<HashMap<PoolKey, Pool>>,
}

/// A pool's URL, the id of its TLS setting and the checked address it connects to.
type PoolKey = (String, usize, String);

impl MysqlPools {
    /// The pool for `url` connecting to `host`, one of `checked`'s addresses (TLS still
    /// verifies the server against the URL's host name), with its TLS settings.
    fn pool(&self, url: &str, checked: &CheckedTarget, host: String) -> Result<Pool, String> {
        let tls = &checked.tls;
        let mut pools = self.by_target.lock().expect("mysql pools lock");
        let key = (url.to_owned(), tls.id, host.clone());
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let opts = Opts::from_url(url).map_err(|e| e.to_string())?;
        let ssl = opts.ssl_opts().cloned().map(|ssl| {
            let ssl = ssl.with_danger_tls_hostname_override(Some(checked.target.host.clone()));
            if tls.is_default() {
                return ssl;
            }
            let no_built_in = ssl.disable_built_in_roots() || !tls.use_webpki_roots;
            let ssl = ssl
                .with_disable_built_in_roots(no_built_in)
                .with_root_certs(
                    tls.ca_roots_pem
                        .iter()
                        .map(|pem| pem.clone().into())
                        .collect(),
                );
            match &tls.identity_pem {
                Some((cert, key)) => ssl.with_client_identity(Some(ClientIdentity::new(
                    cert.clone().into(),
                    key.clone().into(),
                ))),
                None => ssl,
            }
        });
        let constraints = PoolConstraints::new(0, POOL_SIZE).expect("0 <= POOL_SIZE");
        let opts = OptsBuilder::from_opts(opts)
            .ip_or_hostname(host)
            .ssl_opts(ssl)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    .with_reset_connection(true),
            );
        let pool = Pool::new(opts);
        pools.insert(key, pool.clone());
        Ok(pool)
    }
}

/// The `connection` resource of both versions: one pooled connection, returned to its
/// pool on drop; behind a lock so a statement can await without holding the table.
/// The pool is kept to reach the server when a statement must be killed.
#[derive(Clone)]
pub struct MysqlConnection {
    conn: Arc<tokio::sync::Mutex<mysql_async::Conn>>,
    pool: Pool,
}

fn to_value(v: rdbms::ParameterValue) -> Value {
    use rdbms::ParameterValue as P;
    match v {
        P::Boolean(b) => Value::Int(i64::from(b)),
        P::Int8(i) => Value::Int(i64::from(i)),
        P::Int16(i) => Value::Int(i64::from(i)),
        P::Int32(i) => Value::Int(i64::from(i)),
        P::Int64(i) => Value::Int(i),
        P::Uint8(u) => Value::UInt(u64::from(u)),
        P::Uint16(u) => Value::UInt(u64::from(u)),
        P::Uint32(u) => Value::UInt(u64::from(u)),
        P::Uint64(u) => Value::UInt(u),
        P::Floating32(f) => Value::Float(f),
        P::Floating64(f) => Value::Double(f),
        P::Str(s) => Value::Bytes(s.into_bytes()),
        P::Binary(b) => Value::Bytes(b),
        P::DbNull => Value::NULL,
    }
}

fn is_binary(c: &Column) -> bool {
    c.character_set() == BINARY_CHARSET
}

fn data_type(c: &Column) -> rdbms::DbDataType {
    use rdbms::DbDataType as D;
    let unsigned = c.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    match (c.column_type(), unsigned) {
        (ColumnType::MYSQL_TYPE_TINY, false) => D::Int8,
        (ColumnType::MYSQL_TYPE_TINY, true) => D::Uint8,
        (ColumnType::MYSQL_TYPE_SHORT, false) => D::Int16,
        (ColumnType::MYSQL_TYPE_SHORT, true) => D::Uint16,
        (ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG, false) => D::Int32,
        (ColumnType::MYSQL_TYPE_INT24 | ColumnType::MYSQL_TYPE_LONG, true) => D::Uint32,
        (ColumnType::MYSQL_TYPE_LONGLONG, false) => D::Int64,
        (ColumnType::MYSQL_TYPE_LONGLONG, true) => D::Uint64,
        (ColumnType::MYSQL_TYPE_FLOAT, _) => D::Floating32,
        (ColumnType::MYSQL_TYPE_DOUBLE, _) => D::Floating64,
        (
            ColumnType::MYSQL_TYPE_VARCHAR
            | ColumnType::MYSQL_TYPE_VAR_STRING
            | ColumnType::MYSQL_TYPE_STRING
            | ColumnType::MYSQL_TYPE_BLOB
            | ColumnType::MYSQL_TYPE_TINY_BLOB
            | ColumnType::MYSQL_TYPE_MEDIUM_BLOB
            | ColumnType::MYSQL_TYPE_LONG_BLOB,
            _,
        ) => {
            if is_binary(c) {
                D::Binary
            } else {
                D::Str
            }
        }
        _ => D::Other,
    }
}

fn db_value(value: Value, column: &Column) -> Result<rdbms::DbValue, rdbms::Error> {
    use rdbms::{DbDataType as D, DbValue as V};
    let bad = |what: &str| {
        rdbms::Error::ValueConversionFailed(format!(
            "column `{}`: {what} does not fit its type",
            column.name_str()
        ))
    };
    let int = |v: &Value| -> Option<i128> {
        match v {
            Value::Int(i) => Some(i128::from(*i)),
            Value::UInt(u) => Some(i128::from(*u)),
            Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    };
    if value == Value::NULL {
        return Ok(V::DbNull);
    }
    Ok(match data_type(column) {
        D::Int8 => V::Int8(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Int16 => V::Int16(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Int32 => V::Int32(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Int64 => V::Int64(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Uint8 => V::Uint8(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Uint16 => V::Uint16(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Uint32 => V::Uint32(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Uint64 => V::Uint64(
            int(&value)
                .and_then(|i| i.try_into().ok())
                .ok_or_else(|| bad("value"))?,
        ),
        D::Floating32 => match value {
            Value::Float(f) => V::Floating32(f),
            Value::Double(d) => V::Floating32(d as f32),
            _ => return Err(bad("value")),
        },
        D::Floating64 => match value {
            Value::Double(d) => V::Floating64(d),
            Value::Float(f) => V::Floating64(f64::from(f)),
            _ => return Err(bad("value")),
        },
        D::Str => match value {
            Value::Bytes(b) => V::Str(String::from_utf8(b).map_err(|_| bad("non-UTF-8 text"))?),
            _ => return Err(bad("value")),
        },
        D::Binary => match value {
            Value::Bytes(b) => V::Binary(b),
            _ => return Err(bad("value")),
        },
        _ => V::Unsupported,
    })
}

fn query_failed(e: mysql_async::Error) -> rdbms::Error {
    rdbms::Error::QueryFailed(e.to_string())
}

fn params(values: Vec<rdbms::ParameterValue>) -> Params {
    if values.is_empty() {
        Params::Empty
    } else {
        Params::Positional(values.into_iter().map(to_value).collect())
    }
}

/// Opens a pooled connection to `address` if the component's grant allows it.
async fn open(grants: &ComponentGrants, address: &str) -> Result<MysqlConnection, rdbms::Error> {
    let checked = match grants.outbound_target(address, &["mysql"]).await {
        Ok(checked) => checked,
        Err(OutboundDenied::NotAllowed) => {
            tracing::info!(
                "outbound MySQL denied: add the address to the component's \
                 allowed_outbound_hosts (e.g. `mysql://host:3306`)"
            );
            // Spin's words, which apps may match on.
            return Err(rdbms::Error::ConnectionFailed(format!(
                "address {address} is not permitted"
            )));
        }
        Err(denied) => return Err(rdbms::Error::ConnectionFailed(denied.to_string())),
    };
    first_connected(checked.hosts(true), |host| async {
        let pool = grants
            .mysql
            .pool(address, &checked, host)
            .map_err(rdbms::Error::ConnectionFailed)?;
        match tokio::time::timeout(CONNECT_TIMEOUT, pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(MysqlConnection {
                conn: Arc::new(tokio::sync::Mutex::new(conn)),
                pool,
            }),
            Ok(Err(e)) => Err(rdbms::Error::ConnectionFailed(e.to_string())),
            Err(_) => Err(rdbms::Error::ConnectionFailed(
                "timed out connecting".into(),
            )),
        }
    })
    .await
}

impl MysqlConnection {
    /// Runs a query: its columns and rows.
    async fn query(
        &self,
        statement: String,
        values: Vec<rdbms::ParameterValue>,
    ) -> Result<(Vec<rdbms::Column>, Vec<Vec<rdbms::DbValue>>), rdbms::Error> {
        let mut conn = self.conn.lock().await;
        let kill = kill_on_abandon(conn.id(), self.pool.clone());
        let mut result = conn
            .exec_iter(statement, params(values))
            .await
            .map_err(query_failed)?;
        let columns: Vec<Column> = result.columns().map(|c| c.to_vec()).unwrap_or_default();
        let mut rows: Vec<Row> = Vec::new();
        let mut bytes = 0usize;
        while let Some(row) = result.next().await.map_err(query_failed)? {
            bytes += (0..row.len())
                .map(|i| match row.as_ref(i) {
                    Some(Value::Bytes(b)) => b.len() + std::mem::size_of::<Value>(),
                    _ => std::mem::size_of::<Value>(),
                })
                .sum::<usize>();
            if bytes > crate::MAX_RESULT_BYTES {
                return Err(rdbms::Error::QueryFailed(format!(
                    "the result is larger than {} MiB; select fewer rows at a time",
                    crate::MAX_RESULT_BYTES >> 20
                )));
            }
            rows.push(row);
        }
        kill.disarm();
        let rows = rows
            .into_iter()
            .map(|row| {
                row.unwrap()
                    .into_iter()
                    .zip(&columns)
                    .map(|(v, c)| db_value(v, c))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let columns = columns
            .iter()
            .map(|c| rdbms::Column {
                name: c.name_str().into_owned(),
                data_type: data_type(c),
            })
            .collect();
        Ok((columns, rows))
    }

    /// Runs a statement for its effect.
    async fn execute(
        &self,
        statement: String,
        values: Vec<rdbms::ParameterValue>,
    ) -> Result<(), rdbms::Error> {
        let mut conn = self.conn.lock().await;
        let kill = kill_on_abandon(conn.id(), self.pool.clone());
        conn.exec_drop(statement, params(values))
            .await
            .map_err(query_failed)?;
        kill.disarm();
        Ok(())
    }
}

/// Kills the connection's running statement on the server (`KILL QUERY`, over another
/// pooled connection) if the guard is dropped before the statement finished.
fn kill_on_abandon(id: u32, pool: Pool) -> OnAbandon {
    OnAbandon::new(async move {
        use mysql_async::prelude::Queryable;
        let killed = async {
            let mut conn = pool.get_conn().await?;
            conn.query_drop(format!("KILL QUERY {id}")).await
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, killed).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!("killing an abandoned MySQL statement: {e}"),
            Err(_) => tracing::debug!("killing an abandoned MySQL statement timed out"),
        }
    })
}

mod v2;
mod v3;
