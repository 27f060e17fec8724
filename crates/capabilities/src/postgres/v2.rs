//! `fermyon:spin/postgres@2.0.0` (with `rdbms-types`) onto the shared implementation.

use super::{Cell, ColType, Column, Param, PgConnection, PgError};
use crate::CapabilitiesView;
use crate::bindings::fermyon::spin::postgres as v2;
use crate::bindings::fermyon::spin::rdbms_types as rdbms;
use wasmtime::component::Resource;

impl From<PgError> for rdbms::Error {
    fn from(e: PgError) -> Self {
        match e {
            PgError::ConnectionFailed(m) => Self::ConnectionFailed(m),
            PgError::BadParameter(m) => Self::BadParameter(m),
            PgError::QueryFailed(f) => Self::QueryFailed(f.text),
            PgError::ValueConversionFailed(m) => Self::ValueConversionFailed(m),
        }
    }
}

fn param(value: rdbms::ParameterValue) -> Result<Param, PgError> {
    use rdbms::ParameterValue as P;
    Ok(match value {
        P::Boolean(v) => Param::Bool(v),
        P::Int8(v) => Param::I8(v),
        P::Int16(v) => Param::I16(v),
        P::Int32(v) => Param::I32(v),
        P::Int64(v) => Param::I64(v),
        // PostgreSQL has no unsigned integers: they travel as the next wider signed type.
        P::Uint8(v) => Param::I16(i16::from(v)),
        P::Uint16(v) => Param::I32(i32::from(v)),
        P::Uint32(v) => Param::I64(i64::from(v)),
        P::Uint64(v) => Param::I64(i64::try_from(v).map_err(|_| {
            PgError::BadParameter(
                "PostgreSQL has no unsigned integers and this uint64 does not fit an int8".into(),
            )
        })?),
        P::Floating32(v) => Param::F32(v),
        P::Floating64(v) => Param::F64(v),
        P::Str(v) => Param::Str(v),
        P::Binary(v) => Param::Binary(v),
        P::DbNull => Param::Null,
    })
}

fn data_type(c: &Column) -> rdbms::DbDataType {
    use rdbms::DbDataType as D;
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
        // Version 2 has no date, time or version 4 types.
        _ => D::Other,
    }
}

fn value(c: Cell) -> rdbms::DbValue {
    use rdbms::DbValue as V;
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
        Cell::Null => V::DbNull,
        _ => V::Unsupported,
    }
}

impl v2::Host for CapabilitiesView<'_> {}
impl rdbms::Host for CapabilitiesView<'_> {}

super::host_connection!(v2, rdbms);
