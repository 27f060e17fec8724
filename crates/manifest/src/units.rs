//! Sizes (`"64MiB"`, `"1GB"`, `65536`) and durations (`"30s"`, `"500ms"`, `"2m"`) as
//! written in manifests and on the command line.

use std::time::Duration;

/// The longest duration wisp accepts anywhere: longer ones are mistakes, and a deadline
/// past the clock's range would overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// The largest size wisp accepts anywhere (1 TiB).
pub const MAX_SIZE: u64 = 1 << 40;

/// Parses a byte size: a whole number with an optional unit (`B`, `KB`/`KiB`, `MB`/`MiB`,
/// `GB`/`GiB`; decimal units are powers of 1000, binary ones of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size; write e.g. `64MiB` or a number of bytes"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1 << 10,
        "mb" => 1000 * 1000,
        "mib" | "m" => 1 << 20,
        "gb" => 1000 * 1000 * 1000,
        "gib" | "g" => 1 << 30,
        u => {
            return Err(format!(
                "`{text}`: unknown size unit `{u}` (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|bytes| *bytes <= MAX_SIZE)
        .ok_or_else(|| format!("`{text}` is too large (at most 1TiB)"))
}

/// Parses a duration: a whole number with a unit `ms`, `s`, `m` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. `30s` or `500ms`"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "" => return Err(format!("`{text}` needs a unit: ms, s, m or h")),
        u => {
            return Err(format!(
                "`{text}`: unknown duration unit `{u}` (use ms, s, m or h)"
            ));
        }
    };
    if d.is_zero() {
        return Err(format!("`{text}` must be longer than zero"));
    }
    if d > MAX_DURATION {
        return Err(format!("`{text}` is too long (at most 24h)"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GB").unwrap(), 1_000_000_000);
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert_eq!(parse_size("2 gib").unwrap(), 2 << 30);
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("5TB").unwrap_err().contains("unknown size unit"));
        assert!(parse_size("2048GiB").unwrap_err().contains("too large"));
        assert!(
            parse_size("18446744073709551615GiB")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("24h").unwrap(), MAX_DURATION);
        assert!(parse_duration("25h").unwrap_err().contains("too long"));
        assert!(
            parse_duration("18446744073709551615h")
                .unwrap_err()
                .contains("too long")
        );
        assert!(parse_duration("30").unwrap_err().contains("needs a unit"));
        assert!(
            parse_duration("0s")
                .unwrap_err()
                .contains("longer than zero")
        );
        assert!(
            parse_duration("1d")
                .unwrap_err()
                .contains("unknown duration unit")
        );
    }
}
