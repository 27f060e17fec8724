//! `spin:postgres/postgres@3.0.0` onto the shared implementation: version 2's types plus
//! dates, times, date-times and timestamps.

use super::{Cell, ColType, Param, PgConnection, PgError};
use crate::CapabilitiesView;
use crate::bindings::spin::postgres::postgres as v3;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use wasmtime::component::Resource;

impl From<PgError> for v3::Error {
    fn from(e: PgError) -> Self {
        match e {
            PgError::ConnectionFailed(m) => Self::ConnectionFailed(m),
            PgError::BadParameter(m) => Self::BadParameter(m),
            PgError::QueryFailed(m) => Self::QueryFailed(m),
            PgError::ValueConversionFailed(m) => Self::ValueConversionFailed(m),
        }
    }
}

fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, PgError> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| PgError::BadParameter(format!("{y}-{m}-{d} is not a date")))
}

fn time((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, PgError> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| PgError::BadParameter(format!("{h}:{m}:{s}.{ns} is not a time")))
}

fn param(value: v3::ParameterValue) -> Result<Param, PgError> {
    use v3::ParameterValue as P;
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
        P::Timestamp(secs) => {
            Param::Timestamp(DateTime::from_timestamp(secs, 0).ok_or_else(|| {
                PgError::BadParameter(format!("timestamp {secs} is out of range"))
            })?)
        }
        P::DbNull => Param::Null,
    })
}

fn data_type(t: ColType) -> v3::DbDataType {
    use v3::DbDataType as D;
    match t {
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
        ColType::Other => D::Other,
    }
}

fn narrow(n: u32) -> u8 {
    // Month, day, hour, minute and second all fit a byte.
    u8::try_from(n).unwrap_or(u8::MAX)
}

fn value(c: Cell) -> v3::DbValue {
    use v3::DbValue as V;
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
        Cell::Null => V::DbNull,
        Cell::Unsupported => V::Unsupported,
    }
}

impl v3::Host for CapabilitiesView<'_> {}

impl v3::HostConnection for CapabilitiesView<'_> {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<PgConnection>, v3::Error>> {
        match self.pg_open(&address).await {
            Ok(conn) => Ok(Ok(self.table.push(conn)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<v3::RowSet, v3::Error>> {
        let params = match params.into_iter().map(param).collect() {
            Ok(p) => p,
            Err(e) => return Ok(Err(PgError::into(e))),
        };
        let conn = self.table.get(&conn)?;
        Ok(conn
            .query(&statement, params)
            .await
            .map(|(columns, rows)| v3::RowSet {
                columns: columns
                    .into_iter()
                    .map(|(name, t)| v3::Column {
                        name,
                        data_type: data_type(t),
                    })
                    .collect(),
                rows: rows
                    .into_iter()
                    .map(|r| r.into_iter().map(value).collect())
                    .collect(),
            })
            .map_err(Into::into))
    }

    async fn execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<v3::ParameterValue>,
    ) -> wasmtime::Result<Result<u64, v3::Error>> {
        let params = match params.into_iter().map(param).collect() {
            Ok(p) => p,
            Err(e) => return Ok(Err(PgError::into(e))),
        };
        let conn = self.table.get(&conn)?;
        Ok(conn.execute(&statement, params).await.map_err(Into::into))
    }

    async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}
