//! `spin:postgres/postgres@3.0.0` onto the shared implementation: version 2's types plus
//! dates, times, date-times and timestamps. Its values are a subset of version 4's, so
//! they go through version 4's conversions; a version 4 type read from a row is
//! `unsupported` here.

use super::{Cell, Column, Param, PgConnection, PgError, v4};
use crate::CapabilitiesView;
use crate::bindings::spin::postgres3_0_0::postgres as v3;
use crate::bindings::spin::postgres4_2_0::postgres as wit4;
use crate::macros::same_variants;
use v3::{DbDataType as D3, DbValue as V3, ParameterValue as P3};
use wasmtime::component::Resource;

impl From<PgError> for v3::Error {
    fn from(e: PgError) -> Self {
        match e {
            PgError::ConnectionFailed(m) => Self::ConnectionFailed(m),
            PgError::BadParameter(m) => Self::BadParameter(m),
            PgError::QueryFailed(f) => Self::QueryFailed(f.text),
            PgError::ValueConversionFailed(m) => Self::ValueConversionFailed(m),
        }
    }
}

same_variants!(P3 => P4; units: DbNull; values: Boolean, Int8, Int16, Int32, Int64,
    Floating32, Floating64, Str, Binary, Date, Time, Datetime, Timestamp);
same_variants!(wit4::DbValue => V3; units: DbNull; values: Boolean, Int8, Int16, Int32,
    Int64, Floating32, Floating64, Str, Binary, Date, Time, Datetime, Timestamp;
    else: Unsupported);
same_variants!(wit4::DbDataType => D3; units: Boolean, Int8, Int16, Int32, Int64,
    Floating32, Floating64, Str, Binary, Date, Time, Datetime, Timestamp; values: ;
    else: Other);

use wit4::ParameterValue as P4;

fn param(value: P3) -> Result<Param, PgError> {
    v4::param(value.into())
}

fn data_type(c: &Column) -> D3 {
    v4::data_type(c).into()
}

fn value(c: Cell) -> V3 {
    v4::value(c).into()
}

impl v3::Host for CapabilitiesView<'_> {}

super::host_connection!(v3, v3);
