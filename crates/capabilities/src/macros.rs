//! Helpers shared by the interface versions: conversions between their near-identical
//! types, and the settled row streams of their `async func` queries.

/// `From` between two enums whose variants have the same names: `units` carry no value,
/// `values` carry one. With `else: X`, every other variant of the source (one the
/// target version lacks) becomes the target's unit variant `X`.
macro_rules! same_variants {
    ($from:ty => $to:ident; units: $($u:ident),*; values: $($t:ident),* $(; else: $other:ident)?) => {
        impl From<$from> for $to {
            fn from(x: $from) -> Self {
                type Source = $from;
                match x {
                    $(Source::$u => $to::$u,)*
                    $(Source::$t(v) => $to::$t(v),)*
                    $(_ => $to::$other,)?
                }
            }
        }
    };
}
pub(crate) use same_variants;

/// A stream of rows and the future of the query's outcome.
pub(crate) type RowStream<R, E> = (
    wasmtime::component::StreamReader<R>,
    wasmtime::component::FutureReader<Result<(), E>>,
);

/// Rows already read in full, handed to a guest as a `stream` plus an outcome `future`
/// that has already settled as success: how the `async func` queries of the 3.x and 4.x
/// interfaces answer.
pub(crate) fn settled_rows<S, R, E>(mut store: S, rows: Vec<R>) -> wasmtime::Result<RowStream<R, E>>
where
    S: wasmtime::AsContextMut,
    R: wasmtime::component::Lower + wasmtime::component::Lift + Send + Sync + 'static,
    E: wasmtime::component::Lower + wasmtime::component::Lift + Send + Sync + 'static,
    Vec<R>: wasmtime::component::StreamProducer<S::Data, Item = R>,
{
    let stream = wasmtime::component::StreamReader::new(&mut store, rows)?;
    let outcome =
        wasmtime::component::FutureReader::new(&mut store, async { wasmtime::error::Ok(Ok(())) })?;
    Ok((stream, outcome))
}
