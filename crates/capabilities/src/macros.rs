//! Conversions between the near-identical types of two interface versions.

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
