//! Version-neutral PostgreSQL values: what a guest sends ([`Param`]), what a row holds
//! ([`Cell`]) and a column's type ([`ColType`]), with the wire encodings tokio-postgres
//! does not provide itself (ranges over any element, raw `jsonb`, `interval`, Unix
//! seconds for either `int8` or a timestamp column, raw bytes of unsupported types).

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use postgres_protocol::types as wire;
use rust_decimal::Decimal;
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Whether a range bound includes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BoundKind {
    Inclusive,
    Exclusive,
}

/// One bound of a range; `None` is unbounded.
pub(crate) type Bound<T> = Option<(T, BoundKind)>;

/// A range value. PostgreSQL's empty range has no bounds to give, so it reads as
/// `[0, 0)`, which PostgreSQL itself normalises back to `empty` when written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range<T> {
    pub lower: Bound<T>,
    pub upper: Bound<T>,
}

/// An `interval`, as PostgreSQL stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Interval {
    pub micros: i64,
    pub days: i32,
    pub months: i32,
}

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
    /// Seconds since the Unix epoch: an `int8`, or a point in time for a timestamp column.
    Timestamp(i64),
    Uuid(uuid::Uuid),
    /// JSON text, for a `jsonb` or `json` column.
    Jsonb(Vec<u8>),
    Decimal(Decimal),
    RangeI32(Range<i32>),
    RangeI64(Range<i64>),
    RangeDecimal(Range<Decimal>),
    ArrayI32(Vec<Option<i32>>),
    ArrayI64(Vec<Option<i64>>),
    ArrayDecimal(Vec<Option<Decimal>>),
    ArrayStr(Vec<Option<String>>),
    Interval(Interval),
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
    Uuid,
    Jsonb,
    Decimal,
    RangeI32,
    RangeI64,
    RangeDecimal,
    ArrayI32,
    ArrayI64,
    ArrayDecimal,
    ArrayStr,
    Interval,
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
    Uuid(uuid::Uuid),
    Jsonb(Vec<u8>),
    Decimal(Decimal),
    RangeI32(Range<i32>),
    RangeI64(Range<i64>),
    RangeDecimal(Range<Decimal>),
    ArrayI32(Vec<Option<i32>>),
    ArrayI64(Vec<Option<i64>>),
    ArrayDecimal(Vec<Option<Decimal>>),
    ArrayStr(Vec<Option<String>>),
    Interval(Interval),
    Null,
    /// A type no interface version can carry, with its binary wire form.
    Unsupported(Vec<u8>),
}

/// SQL NULL for a parameter of any type.
#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _ty: &Type, _out: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Unix seconds: Spin's `timestamp` parameter, meant for `int8` columns by the SDK and
/// for `timestamptz` by older guests; both work.
#[derive(Debug)]
struct UnixSeconds(i64);

impl ToSql for UnixSeconds {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::INT8 {
            return self.0.to_sql(ty, out);
        }
        let at = DateTime::<Utc>::from_timestamp(self.0, 0)
            .ok_or_else(|| format!("timestamp {} is out of range", self.0))?;
        if *ty == Type::TIMESTAMPTZ {
            at.to_sql(ty, out)
        } else {
            at.naive_utc().to_sql(ty, out)
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::TIMESTAMPTZ | Type::TIMESTAMP)
    }

    to_sql_checked!();
}

/// JSON text for `jsonb` (binary format: version byte 1, then the text) or `json`.
#[derive(Debug)]
struct Json(Vec<u8>);

impl ToSql for Json {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Json {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let text = match (ty, raw) {
            (&Type::JSONB, [1, rest @ ..]) => rest,
            (&Type::JSONB, _) => return Err("unknown jsonb format version".into()),
            _ => raw,
        };
        Ok(Json(text.to_vec()))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSONB | Type::JSON)
    }
}

impl ToSql for Interval {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.micros);
        out.put_i32(self.days);
        out.put_i32(self.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let raw: &[u8; 16] = raw.try_into().map_err(|_| "an interval is 16 bytes")?;
        let (micros, rest) = raw.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(Interval {
            micros: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        })
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

fn range_element(ty: &Type) -> Option<&Type> {
    match ty.kind() {
        Kind::Range(element) => Some(element),
        _ => None,
    }
}

impl<T: ToSql + std::fmt::Debug> ToSql for Range<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let element = range_element(ty).ok_or("not a range type")?;
        // postgres-protocol has its own `IsNull`, the same two cases.
        let encode = |v: &T, buf: &mut BytesMut| -> Result<_, BoxError> {
            Ok(match v.to_sql(element, buf)? {
                IsNull::Yes => postgres_protocol::IsNull::Yes,
                IsNull::No => postgres_protocol::IsNull::No,
            })
        };
        let bound = |b: &Bound<T>, buf: &mut BytesMut| -> Result<_, BoxError> {
            Ok(match b {
                None => wire::RangeBound::Unbounded,
                Some((v, BoundKind::Inclusive)) => wire::RangeBound::Inclusive(encode(v, buf)?),
                Some((v, BoundKind::Exclusive)) => wire::RangeBound::Exclusive(encode(v, buf)?),
            })
        };
        wire::range_to_sql(
            |buf| bound(&self.lower, buf),
            |buf| bound(&self.upper, buf),
            out,
        )?;
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        range_element(ty).is_some_and(T::accepts)
    }

    to_sql_checked!();
}

/// Reads a range bound's element; a NULL bound is unbounded, as in PostgreSQL.
fn bound_from_sql<'a, T: FromSql<'a>>(
    element: &Type,
    bound: wire::RangeBound<Option<&'a [u8]>>,
) -> Result<Bound<T>, BoxError> {
    Ok(match bound {
        wire::RangeBound::Inclusive(Some(raw)) => {
            Some((T::from_sql(element, raw)?, BoundKind::Inclusive))
        }
        wire::RangeBound::Exclusive(Some(raw)) => {
            Some((T::from_sql(element, raw)?, BoundKind::Exclusive))
        }
        _ => None,
    })
}

impl<'a, T: FromSql<'a> + Default> FromSql<'a> for Range<T> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let element = range_element(ty).ok_or("not a range type")?;
        Ok(match wire::range_from_sql(raw)? {
            wire::Range::Empty => Range {
                lower: Some((T::default(), BoundKind::Inclusive)),
                upper: Some((T::default(), BoundKind::Exclusive)),
            },
            wire::Range::Nonempty(lower, upper) => Range {
                lower: bound_from_sql(element, lower)?,
                upper: bound_from_sql(element, upper)?,
            },
        })
    }

    fn accepts(ty: &Type) -> bool {
        range_element(ty).is_some_and(T::accepts)
    }
}

/// The binary form of a value of any type, for `unsupported`.
struct RawBytes(Vec<u8>);

impl<'a> FromSql<'a> for RawBytes {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(RawBytes(raw.to_vec()))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// The encoder for one parameter.
pub(crate) fn to_sql(value: Param) -> Box<dyn ToSql + Sync + Send> {
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
        Param::Timestamp(v) => Box::new(UnixSeconds(v)),
        Param::Uuid(v) => Box::new(v),
        Param::Jsonb(v) => Box::new(Json(v)),
        Param::Decimal(v) => Box::new(v),
        Param::RangeI32(v) => Box::new(v),
        Param::RangeI64(v) => Box::new(v),
        Param::RangeDecimal(v) => Box::new(v),
        Param::ArrayI32(v) => Box::new(v),
        Param::ArrayI64(v) => Box::new(v),
        Param::ArrayDecimal(v) => Box::new(v),
        Param::ArrayStr(v) => Box::new(v),
        Param::Interval(v) => Box::new(v),
        Param::Null => Box::new(Null),
    }
}

/// How the interfaces see a column of type `ty`.
pub(crate) fn col_type(ty: &Type) -> ColType {
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
        Type::UUID => ColType::Uuid,
        Type::JSONB | Type::JSON => ColType::Jsonb,
        Type::NUMERIC => ColType::Decimal,
        Type::INT4_RANGE => ColType::RangeI32,
        Type::INT8_RANGE => ColType::RangeI64,
        Type::NUM_RANGE => ColType::RangeDecimal,
        Type::INT4_ARRAY => ColType::ArrayI32,
        Type::INT8_ARRAY => ColType::ArrayI64,
        Type::NUMERIC_ARRAY => ColType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => ColType::ArrayStr,
        Type::INTERVAL => ColType::Interval,
        _ => ColType::Other,
    }
}

/// Column `i` of `row`, decoded by its type.
pub(crate) fn cell(row: &tokio_postgres::Row, i: usize) -> Result<Cell, tokio_postgres::Error> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a tokio_postgres::Row,
        i: usize,
        wrap: impl FnOnce(T) -> Cell,
    ) -> Result<Cell, tokio_postgres::Error> {
        Ok(row.try_get::<_, Option<T>>(i)?.map_or(Cell::Null, wrap))
    }
    match col_type(row.columns()[i].type_()) {
        ColType::Bool => get(row, i, Cell::Bool),
        ColType::I8 => get(row, i, Cell::I8),
        ColType::I16 => get(row, i, Cell::I16),
        ColType::I32 => get(row, i, Cell::I32),
        ColType::I64 => get(row, i, Cell::I64),
        ColType::F32 => get(row, i, Cell::F32),
        ColType::F64 => get(row, i, Cell::F64),
        ColType::Str => get(row, i, Cell::Str),
        ColType::Binary => get(row, i, Cell::Binary),
        ColType::Date => get(row, i, Cell::Date),
        ColType::Time => get(row, i, Cell::Time),
        ColType::DateTime if *row.columns()[i].type_() == Type::TIMESTAMPTZ => {
            get(row, i, |t: DateTime<Utc>| Cell::DateTime(t.naive_utc()))
        }
        ColType::DateTime => get(row, i, Cell::DateTime),
        ColType::Uuid => get(row, i, Cell::Uuid),
        ColType::Jsonb => get(row, i, |j: Json| Cell::Jsonb(j.0)),
        ColType::Decimal => get(row, i, Cell::Decimal),
        ColType::RangeI32 => get(row, i, Cell::RangeI32),
        ColType::RangeI64 => get(row, i, Cell::RangeI64),
        ColType::RangeDecimal => get(row, i, Cell::RangeDecimal),
        ColType::ArrayI32 => get(row, i, Cell::ArrayI32),
        ColType::ArrayI64 => get(row, i, Cell::ArrayI64),
        ColType::ArrayDecimal => get(row, i, Cell::ArrayDecimal),
        ColType::ArrayStr => get(row, i, Cell::ArrayStr),
        ColType::Interval => get(row, i, Cell::Interval),
        ColType::Other => get(row, i, |r: RawBytes| Cell::Unsupported(r.0)),
    }
}

/// The wire size of any column's value, whatever its type: what a row costs the host.
pub(crate) struct RawLen(pub usize);

impl<'a> FromSql<'a> for RawLen {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw.len()))
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(0))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
