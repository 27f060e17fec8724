//! `spin:postgres/postgres@4.2.0` onto the shared implementation: every type of version 3
//! plus uuid, jsonb, decimal, ranges, arrays and interval; structured server errors;
//! `connection-builder` with an extra CA root; and the `async func` variants spin-sdk 7
//! calls, where `query-async` answers with its columns, a stream of rows and a future for
//! the outcome. Guests importing 4.0.0 or 4.1.0 link against these same definitions.

use super::types::{Bound, BoundKind, Cell, ColType, Interval, Param, Range};
use super::{Column, PgConnection, PgConnectionBuilder, PgError, QueryFailure, open, tls};
use crate::bindings::spin::postgres4_2_0::postgres as v4;
use crate::{CapabilitiesData, CapabilitiesView};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use rust_decimal::Decimal;
use v4::{DbDataType as D, DbValue as V, Error as E, ParameterValue as P, RangeBoundKind};
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

impl From<PgError> for E {
    fn from(e: PgError) -> Self {
        match e {
            PgError::ConnectionFailed(m) => Self::ConnectionFailed(m),
            PgError::BadParameter(m) => Self::BadParameter(m),
            PgError::QueryFailed(f) => Self::QueryFailed(match *f {
                QueryFailure { text, db: Some(db) } => v4::QueryError::DbError(v4::DbError {
                    as_text: text,
                    severity: db.severity,
                    code: db.code,
                    message: db.message,
                    detail: db.detail,
                    extras: db.extras,
                }),
                QueryFailure { text, db: None } => v4::QueryError::Text(text),
            }),
            PgError::ValueConversionFailed(m) => Self::ValueConversionFailed(m),
        }
    }
}

pub(super) fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, PgError> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| PgError::BadParameter(format!("{y}-{m}-{d} is not a date")))
}

pub(super) fn time((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, PgError> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| PgError::BadParameter(format!("{h}:{m}:{s}.{ns} is not a time")))
}

fn decimal(text: &str) -> Result<Decimal, PgError> {
    Decimal::from_str_exact(text)
        .map_err(|e| PgError::BadParameter(format!("`{text}` is not a decimal: {e}")))
}

fn uuid(text: &str) -> Result<uuid::Uuid, PgError> {
    uuid::Uuid::parse_str(text)
        .map_err(|e| PgError::BadParameter(format!("`{text}` is not a UUID: {e}")))
}

fn bound_kind(k: RangeBoundKind) -> BoundKind {
    match k {
        RangeBoundKind::Inclusive => BoundKind::Inclusive,
        RangeBoundKind::Exclusive => BoundKind::Exclusive,
    }
}

fn wit_bound_kind(k: BoundKind) -> RangeBoundKind {
    match k {
        BoundKind::Inclusive => RangeBoundKind::Inclusive,
        BoundKind::Exclusive => RangeBoundKind::Exclusive,
    }
}

type WitBound<T> = Option<(T, RangeBoundKind)>;

fn range<T, U>(
    (lower, upper): (WitBound<T>, WitBound<T>),
    f: impl Fn(T) -> Result<U, PgError>,
) -> Result<Range<U>, PgError> {
    let bound = |b: WitBound<T>| -> Result<Bound<U>, PgError> {
        b.map(|(v, k)| Ok((f(v)?, bound_kind(k)))).transpose()
    };
    Ok(Range {
        lower: bound(lower)?,
        upper: bound(upper)?,
    })
}

fn wit_range<T, U>(r: Range<T>, f: impl Fn(T) -> U) -> (WitBound<U>, WitBound<U>) {
    let bound = |b: Bound<T>| b.map(|(v, k)| (f(v), wit_bound_kind(k)));
    (bound(r.lower), bound(r.upper))
}

/// A version 4 parameter as the core's [`Param`]; malformed text values are
/// `bad-parameter`.
pub(super) fn param(value: P) -> Result<Param, PgError> {
    Ok(match value {
        P::Boolean(v) => Param::Bool(v),
        P::Int8(v) => Param::I8(v),
        P::Int16(v) => Param::I16(v),
        P::Int32(v) => Param::I32(v),
        P::Int64(v) => Param::I64(v),
        P::Floating32(v) => Param::F32(v),
        P::Floating64(v) => Param::F64(v),
        P::Str(v) => Param::Str(v),
        P::Binary(v) => Param::Binary(v),
        P::Date(d) => Param::Date(date(d)?),
        P::Time(t) => Param::Time(time(t)?),
        P::Datetime((y, mo, d, h, mi, s, ns)) => {
            Param::DateTime(NaiveDateTime::new(date((y, mo, d))?, time((h, mi, s, ns))?))
        }
        P::Timestamp(secs) => Param::Timestamp(secs),
        P::Uuid(v) => Param::Uuid(uuid(&v)?),
        P::Jsonb(v) => Param::Jsonb(v),
        P::Decimal(v) => Param::Decimal(decimal(&v)?),
        P::RangeInt32(r) => Param::RangeI32(range(r, Ok)?),
        P::RangeInt64(r) => Param::RangeI64(range(r, Ok)?),
        P::RangeDecimal(r) => Param::RangeDecimal(range(r, |s| decimal(&s))?),
        P::ArrayInt32(v) => Param::ArrayI32(v),
        P::ArrayInt64(v) => Param::ArrayI64(v),
        P::ArrayDecimal(v) => Param::ArrayDecimal(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<Result<_, _>>()?,
        ),
        P::ArrayStr(v) => Param::ArrayStr(v),
        P::Interval(i) => Param::Interval(Interval {
            micros: i.micros,
            days: i.days,
            months: i.months,
        }),
        P::DbNull => Param::Null,
    })
}

pub(super) fn data_type(c: &Column) -> D {
    match c.ty {
        ColType::Bool => D::Boolean,
        ColType::I8 => D::Int8,
        ColType::I16 => D::Int16,
        ColType::I32 => D::Int32,
        ColType::I64 => D::Int64,
        ColType::F32 => D::Floating32,
        ColType::F64 => D::Floating64,
        ColType::Str => D::Str,
        ColType::Binary => D::Binary,
        ColType::Date => D::Date,
        ColType::Time => D::Time,
        ColType::DateTime => D::Datetime,
        ColType::Uuid => D::Uuid,
        ColType::Jsonb => D::Jsonb,
        ColType::Decimal => D::Decimal,
        ColType::RangeI32 => D::RangeInt32,
        ColType::RangeI64 => D::RangeInt64,
        ColType::RangeDecimal => D::RangeDecimal,
        ColType::ArrayI32 => D::ArrayInt32,
        ColType::ArrayI64 => D::ArrayInt64,
        ColType::ArrayDecimal => D::ArrayDecimal,
        ColType::ArrayStr => D::ArrayStr,
        ColType::Interval => D::Interval,
        ColType::Other => D::Other(c.pg_type.clone()),
    }
}

fn narrow(n: u32) -> u8 {
    // Month, day, hour, minute and second all fit a byte.
    u8::try_from(n).unwrap_or(u8::MAX)
}

pub(super) fn value(c: Cell) -> V {
    match c {
        Cell::Bool(v) => V::Boolean(v),
        Cell::I8(v) => V::Int8(v),
        Cell::I16(v) => V::Int16(v),
        Cell::I32(v) => V::Int32(v),
        Cell::I64(v) => V::Int64(v),
        Cell::F32(v) => V::Floating32(v),
        Cell::F64(v) => V::Floating64(v),
        Cell::Str(v) => V::Str(v),
        Cell::Binary(v) => V::Binary(v),
        Cell::Date(d) => V::Date((d.year(), narrow(d.month()), narrow(d.day()))),
        Cell::Time(t) => V::Time((
            narrow(t.hour()),
            narrow(t.minute()),
            narrow(t.second()),
            t.nanosecond(),
        )),
        Cell::DateTime(dt) => V::Datetime((
            dt.year(),
            narrow(dt.month()),
            narrow(dt.day()),
            narrow(dt.hour()),
            narrow(dt.minute()),
            narrow(dt.second()),
            dt.nanosecond(),
        )),
        Cell::Uuid(v) => V::Uuid(v.hyphenated().to_string()),
        Cell::Jsonb(v) => V::Jsonb(v),
        Cell::Decimal(v) => V::Decimal(v.to_string()),
        Cell::RangeI32(r) => V::RangeInt32(wit_range(r, |v| v)),
        Cell::RangeI64(r) => V::RangeInt64(wit_range(r, |v| v)),
        Cell::RangeDecimal(r) => V::RangeDecimal(wit_range(r, |v| v.to_string())),
        Cell::ArrayI32(v) => V::ArrayInt32(v),
        Cell::ArrayI64(v) => V::ArrayInt64(v),
        Cell::ArrayDecimal(v) => {
            V::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }
        Cell::ArrayStr(v) => V::ArrayStr(v),
        Cell::Interval(i) => V::Interval(v4::Interval {
            micros: i.micros,
            days: i.days,
            months: i.months,
        }),
        Cell::Null => V::DbNull,
        Cell::Unsupported(raw) => V::Unsupported(raw),
    }
}

fn params(values: Vec<P>) -> Result<Vec<Param>, PgError> {
    values.into_iter().map(param).collect()
}

impl v4::Host for CapabilitiesView<'_> {}

super::host_connection!(v4, v4);

impl v4::HostConnectionBuilder for CapabilitiesView<'_> {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<PgConnectionBuilder>> {
        Ok(self.table.push(PgConnectionBuilder {
            address,
            ca_root: None,
        })?)
    }

    async fn set_ca_root(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
        certificate: String,
    ) -> wasmtime::Result<Result<(), E>> {
        if let Err(e) = tls::parse_ca_root(&certificate) {
            return Ok(Err(E::BadParameter(e)));
        }
        self.table.get_mut(&builder)?.ca_root = Some(certificate);
        Ok(Ok(()))
    }

    async fn build(
        &mut self,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, E>> {
        let b = self.table.get(&builder)?;
        let (address, ca_root) = (b.address.clone(), b.ca_root.clone());
        match self.pg_open(&address, ca_root.as_deref()).await {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn drop(&mut self, builder: Resource<PgConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

/// Opens `address` for an `async func`, touching the store only to read the grant and
/// to push the new connection.
async fn open_async<U>(
    a: &Accessor<U, CapabilitiesData>,
    address: String,
    ca_root: Option<String>,
) -> wasmtime::Result<Result<Resource<PgConnection>, E>> {
    let grants = a.with(|mut v| v.get().caps.grants.clone());
    match open(&grants, &address, ca_root.as_deref()).await {
        Ok(conn) => a.with(|mut v| Ok(Ok(v.get().table.push(conn)?))),
        Err(e) => Ok(Err(e.into())),
    }
}

fn conn_of<U>(
    a: &Accessor<U, CapabilitiesData>,
    conn: &Resource<PgConnection>,
) -> wasmtime::Result<PgConnection> {
    a.with(|mut v| Ok(v.get().table.get(conn)?.clone()))
}

impl<U> v4::HostConnectionBuilderWithStore<U> for CapabilitiesData {
    async fn build_async(
        a: &Accessor<U, Self>,
        builder: Resource<PgConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, E>> {
        let (address, ca_root) = a.with(|mut v| {
            let b = v.get().table.get(&builder)?;
            wasmtime::error::Ok((b.address.clone(), b.ca_root.clone()))
        })?;
        open_async(a, address, ca_root).await
    }
}

type Streamed = (
    Vec<v4::Column>,
    StreamReader<Vec<V>>,
    FutureReader<Result<(), E>>,
);

impl<U> v4::HostConnectionWithStore<U> for CapabilitiesData {
    async fn open_async(
        a: &Accessor<U, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, E>> {
        open_async(a, address, None).await
    }

    async fn query_async(
        a: &Accessor<U, Self>,
        conn: Resource<PgConnection>,
        statement: String,
        values: Vec<P>,
    ) -> wasmtime::Result<Result<Streamed, E>> {
        let conn = conn_of(a, &conn)?;
        let result = match params(values) {
            Ok(p) => conn.query(&statement, p).await,
            Err(e) => Err(e),
        };
        let v4::RowSet { columns, rows } = match result {
            Ok(r) => row_set(r),
            Err(e) => return Ok(Err(e.into())),
        };
        a.with(|mut access| {
            let (stream, outcome) = crate::macros::settled_rows(&mut access, rows)?;
            Ok(Ok((columns, stream, outcome)))
        })
    }

    async fn execute_async(
        a: &Accessor<U, Self>,
        conn: Resource<PgConnection>,
        statement: String,
        values: Vec<P>,
    ) -> wasmtime::Result<Result<u64, E>> {
        let conn = conn_of(a, &conn)?;
        Ok(match params(values) {
            Ok(p) => conn.execute(&statement, p).await.map_err(Into::into),
            Err(e) => Err(e.into()),
        })
    }
}
