//! Outbound PostgreSQL for `fermyon:spin/postgres@2.0.0`, `spin:postgres/postgres@3.0.0`
//! and `spin:postgres/postgres@4.2.0` (which also serves guests importing 4.0.0 and 4.1.0),
//! all on one implementation with version-independent values ([`types`]). A component
//! may open only a `postgres://` address its `allowed_outbound_hosts` grants; any other
//! fails with `connection-failed` before a connection is attempted. Connections come
//! from one pool per URL (and CA root); each guest `connection` holds one client for its
//! lifetime (so a transaction is never interleaved with another instance's statements),
//! and a client's session state is reset before it is reused.
//!
//! TLS follows the address's `sslmode` as libpq does (`prefer` by default: TLS when the
//! server offers it), verifying the server against the webpki roots plus any CA root
//! the guest gave through version 4's `connection-builder`.

mod tls;
mod types;
mod v2;
mod v3;
mod v4;

use crate::ComponentGrants;
use crate::abandon::OnAbandon;
use crate::outbound::{CheckedTarget, OutboundDenied};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;
pub(crate) use types::{Cell, ColType, Param};

/// How long to wait for a connection from the pool (connecting included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per URL across the app.
const POOL_SIZE: usize = 16;

crate::capability::shared_capability!(
    Arc<PgPools>,
    instance: (),
    |linker, get, kind| {
        use crate::CapabilitiesData as D;
        use crate::bindings::fermyon::spin as v2;
        use crate::bindings::spin::{postgres3_0_0, postgres4_2_0};
        v2::rdbms_types::add_to_linker::<T, D>(linker, get)?;
        v2::postgres::add_to_linker::<T, D>(linker, get)?;
        postgres3_0_0::postgres::add_to_linker::<T, D>(linker, get)?;
        match kind {
            crate::LinkerKind::Concurrent => {
                postgres4_2_0::postgres::add_to_linker::<T, D>(linker, get)
            }
            crate::LinkerKind::Sync => crate::sync_subset::add_postgres4(linker, get),
        }
    }
);

/// One pool per PostgreSQL URL, TLS setting, CA root and checked address, shared by
/// every instance of the app.
#[derive(Default)]
pub struct PgPools {
    by_target: Mutex<HashMap<PoolKey, (Pool, MakeRustlsConnect)>>,
}

/// A pool's URL, the id of its `[[client_tls]]` setting, the extra CA root its
/// connections trust, and the checked addresses they connect to.
type PoolKey = (String, usize, Option<String>, Vec<IpAddr>);

impl PgPools {
    /// The pool for `url` as `checked` allowed it, with `ca_root` trusted besides, and
    /// the TLS connector its connections use (cancel requests need one too).
    /// Connections go to the checked addresses, tried in turn; TLS verifies the server
    /// against the URL's host name.
    fn pool(
        &self,
        url: &str,
        checked: &CheckedTarget,
        ca_root: Option<&str>,
    ) -> Result<(Pool, MakeRustlsConnect), String> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
        // One (host, hostaddr) pair per checked address: the client tries them in order,
        // verifying TLS against the host of each.
        let host = match config.get_hosts() {
            [tokio_postgres::config::Host::Tcp(host)] if config.get_hostaddrs().is_empty() => {
                host.clone()
            }
            _ => return Err("the address must name exactly one host".into()),
        };
        for (i, &ip) in checked.addresses.iter().enumerate() {
            if i > 0 {
                config.host(&host);
            }
            config.hostaddr(ip);
        }
        let key = (
            url.to_owned(),
            checked.tls.id,
            ca_root.map(str::to_owned),
            checked.addresses.clone(),
        );
        let mut pools = self.by_target.lock().expect("postgres pools lock");
        if let Some(pool) = pools.get(&key) {
            return Ok(pool.clone());
        }
        let tls = tls::connector(&checked.tls, ca_root)?;
        let manager = Manager::from_config(
            config,
            tls.clone(),
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
        pools.insert(key, (pool.clone(), tls.clone()));
        Ok((pool, tls))
    }
}

/// The `connection` resource of every version: one pooled client, returned to its
/// pool when the last handle is dropped. Cloned (cheaply) out of the resource table so
/// an async call does not hold the store while it waits on the server.
#[derive(Clone)]
pub struct PgConnection {
    client: Arc<deadpool_postgres::Object>,
    tls: MakeRustlsConnect,
}

/// Version 4's `connection-builder`: an address and an optional extra CA root.
pub struct PgConnectionBuilder {
    address: String,
    ca_root: Option<String>,
}

/// The server's structured report of a failed statement.
#[derive(Debug, Clone)]
pub(crate) struct DbErrorInfo {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    /// The other fields the server filled in (hint, position, table, constraint, …).
    pub extras: Vec<(String, String)>,
}

/// A failed statement: its text, and the server's report when it sent one.
#[derive(Debug, Clone)]
pub(crate) struct QueryFailure {
    pub text: String,
    pub db: Option<DbErrorInfo>,
}

/// Failures, mapped onto each version's error variant of the same name.
#[derive(Debug)]
pub(crate) enum PgError {
    ConnectionFailed(String),
    BadParameter(String),
    /// Boxed: the server's report is large and failures are the rare path.
    QueryFailed(Box<QueryFailure>),
    ValueConversionFailed(String),
}

/// A result column: its name, how the interfaces see its type, and PostgreSQL's name
/// for that type (for version 4's `other`).
pub(crate) struct Column {
    pub name: String,
    pub ty: ColType,
    pub pg_type: String,
}

/// Columns and rows of one query.
pub(crate) type Rows = (Vec<Column>, Vec<Vec<Cell>>);

fn query_failed(e: tokio_postgres::Error) -> PgError {
    let Some(db) = e.as_db_error() else {
        return PgError::QueryFailed(Box::new(QueryFailure {
            text: e.to_string(),
            db: None,
        }));
    };
    let position = db.position().map(|p| match p {
        tokio_postgres::error::ErrorPosition::Original(n) => n.to_string(),
        tokio_postgres::error::ErrorPosition::Internal { position, .. } => position.to_string(),
    });
    let line = db.line().map(|l| l.to_string());
    let extras = [
        ("hint", db.hint()),
        ("position", position.as_deref()),
        ("where", db.where_()),
        ("schema", db.schema()),
        ("table", db.table()),
        ("column", db.column()),
        ("datatype", db.datatype()),
        ("constraint", db.constraint()),
        ("file", db.file()),
        ("line", line.as_deref()),
        ("routine", db.routine()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
    .collect();
    PgError::QueryFailed(Box::new(QueryFailure {
        // The server's own message (with its SQLSTATE) says what went wrong.
        text: format!("{} ({})", db.message(), db.code().code()),
        db: Some(DbErrorInfo {
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras,
        }),
    }))
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect()
}

/// The `postgres://host[:port]` an address (a URL, or libpq's `key=value` form) connects
/// to, as the grant check sees it (the port as written, if it is), and the same with
/// the port filled in; refused as Spin refuses them when it is neither form, names a
/// Unix socket, or names more than one host.
fn grant_url(address: &str) -> Result<(String, String), PgError> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e: tokio_postgres::Error| PgError::ConnectionFailed(e.to_string()))?;
    let host = match config.get_hosts() {
        [tokio_postgres::config::Host::Tcp(host)] => host,
        [tokio_postgres::config::Host::Unix(_)] => {
            return Err(PgError::ConnectionFailed(
                "Unix sockets are not supported on WebAssembly".into(),
            ));
        }
        _ => {
            return Err(PgError::ConnectionFailed(
                "the address must name exactly one host".into(),
            ));
        }
    };
    let host = match host.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("[{host}]"),
        Err(_) => host.clone(),
    };
    let port = config.get_ports().first().copied();
    let written = match port {
        Some(port) => format!("postgres://{host}:{port}"),
        None => format!("postgres://{host}"),
    };
    let full = format!("postgres://{host}:{}", port.unwrap_or(5432));
    Ok((written, full))
}

/// Opens a pooled connection to `address` (a URL or libpq's `key=value` form) if the
/// component's grant allows the host and port it names.
pub(crate) async fn open(
    grants: &ComponentGrants,
    address: &str,
    ca_root: Option<&str>,
) -> Result<PgConnection, PgError> {
    let (written, full) = grant_url(address)?;
    let checked = match grants.outbound_target(&full, &["postgres"]).await {
        Ok(checked) => checked,
        Err(OutboundDenied::NotAllowed) => {
            tracing::info!(
                "outbound PostgreSQL to {written} denied: add it to the component's \
                 allowed_outbound_hosts"
            );
            // Spin's words, which apps may match on.
            return Err(PgError::ConnectionFailed(format!(
                "address {written} is not permitted"
            )));
        }
        Err(denied) => return Err(PgError::ConnectionFailed(denied.to_string())),
    };
    let (pool, tls) = grants
        .postgres
        .pool(address, &checked, ca_root)
        .map_err(PgError::ConnectionFailed)?;
    let client = pool
        .get()
        .await
        .map_err(|e| PgError::ConnectionFailed(format!("{e:#}")))?;
    Ok(PgConnection {
        client: Arc::new(client),
        tls,
    })
}

impl crate::CapabilitiesView<'_> {
    /// [`open`] with this component's grant and the app's pools.
    async fn pg_open(
        &mut self,
        address: &str,
        ca_root: Option<&str>,
    ) -> Result<PgConnection, PgError> {
        open(&self.caps.grants, address, ca_root).await
    }
}

impl PgConnection {
    /// Sends the server a cancel request for the running statement if the guard is
    /// dropped before the statement finished.
    fn cancel_on_abandon(&self) -> OnAbandon {
        let (token, tls) = (self.client.cancel_token(), self.tls.clone());
        OnAbandon::new(async move {
            if let Err(e) = token.cancel_query(tls).await {
                tracing::debug!("cancelling an abandoned PostgreSQL statement failed: {e}");
            }
        })
    }

    async fn query(&self, statement: &str, params: Vec<Param>) -> Result<Rows, PgError> {
        let params: Vec<_> = params.into_iter().map(types::to_sql).collect();
        let cancel = self.cancel_on_abandon();
        let stmt = self
            .client
            .prepare_cached(statement)
            .await
            .map_err(query_failed)?;
        let stream = self
            .client
            .query_raw(&stmt, refs(&params))
            .await
            .map_err(query_failed)?;
        let rows = collect_capped(stream).await?;
        cancel.disarm();
        let columns = stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_owned(),
                ty: types::col_type(c.type_()),
                pg_type: c.type_().name().to_owned(),
            })
            .collect();
        let cells = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        types::cell(row, i).map_err(|e| {
                            let ty = row.columns()[i].type_();
                            PgError::ValueConversionFailed(format!("column {i} ({ty}): {e}"))
                        })
                    })
                    .collect()
            })
            .collect::<Result<Vec<Vec<Cell>>, PgError>>()?;
        Ok((columns, cells))
    }

    async fn execute(&self, statement: &str, params: Vec<Param>) -> Result<u64, PgError> {
        let params: Vec<_> = params.into_iter().map(types::to_sql).collect();
        let cancel = self.cancel_on_abandon();
        let changed = self
            .client
            .execute(statement, &refs(&params))
            .await
            .map_err(query_failed)?;
        cancel.disarm();
        Ok(changed)
    }
}

/// Reads a statement's rows, failing once they hold more than
/// [`crate::MAX_RESULT_BYTES`] of data.
async fn collect_capped(
    stream: tokio_postgres::RowStream,
) -> Result<Vec<tokio_postgres::Row>, PgError> {
    use futures::TryStreamExt;
    futures::pin_mut!(stream);
    let (mut rows, mut bytes) = (Vec::new(), 0usize);
    while let Some(row) = stream.try_next().await.map_err(query_failed)? {
        bytes += (0..row.len())
            .map(|i| row.get::<_, types::RawLen>(i).0 + std::mem::size_of::<Cell>())
            .sum::<usize>();
        if bytes > crate::MAX_RESULT_BYTES {
            return Err(PgError::QueryFailed(Box::new(QueryFailure {
                text: format!(
                    "the result is larger than {} MiB; select fewer rows at a time",
                    crate::MAX_RESULT_BYTES >> 20
                ),
                db: None,
            })));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Implements one version's `HostConnection` (`open`, `query`, `execute`, `drop`) on the
/// core, and defines `row_set` converting the core's rows to that version's. `$host` is
/// the version's interface module and `$types` the module holding its `Error`,
/// `ParameterValue`, `RowSet` and `Column`; the invoking module provides that version's
/// `param`, `data_type` and `value` conversions.
macro_rules! host_connection {
    ($host:ident, $types:ident) => {
        /// A query's columns and rows as this version's `row-set`.
        fn row_set((columns, rows): super::Rows) -> $types::RowSet {
            $types::RowSet {
                columns: columns
                    .into_iter()
                    .map(|c| $types::Column {
                        data_type: data_type(&c),
                        name: c.name,
                    })
                    .collect(),
                rows: rows
                    .into_iter()
                    .map(|r| r.into_iter().map(value).collect())
                    .collect(),
            }
        }

        impl $host::HostConnection for CapabilitiesView<'_> {
            async fn open(
                &mut self,
                address: String,
            ) -> wasmtime::Result<Result<Resource<PgConnection>, $types::Error>> {
                match self.pg_open(&address, None).await {
                    Ok(conn) => Ok(Ok(self.table.push(conn)?)),
                    Err(e) => Ok(Err(e.into())),
                }
            }

            async fn query(
                &mut self,
                conn: Resource<PgConnection>,
                statement: String,
                params: Vec<$types::ParameterValue>,
            ) -> wasmtime::Result<Result<$types::RowSet, $types::Error>> {
                let params = match params.into_iter().map(param).collect() {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(PgError::into(e))),
                };
                let conn = self.table.get(&conn)?.clone();
                Ok(conn
                    .query(&statement, params)
                    .await
                    .map(row_set)
                    .map_err(Into::into))
            }

            async fn execute(
                &mut self,
                conn: Resource<PgConnection>,
                statement: String,
                params: Vec<$types::ParameterValue>,
            ) -> wasmtime::Result<Result<u64, $types::Error>> {
                let params = match params.into_iter().map(param).collect() {
                    Ok(p) => p,
                    Err(e) => return Ok(Err(PgError::into(e))),
                };
                let conn = self.table.get(&conn)?.clone();
                Ok(conn.execute(&statement, params).await.map_err(Into::into))
            }

            async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
                self.table.delete(conn)?;
                Ok(())
            }
        }
    };
}
use host_connection;
