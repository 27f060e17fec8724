//! The load generator: `wrk` (one thread, keep-alive, `--latency`), pinned to a CPU, and
//! the parsing of what it prints.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::process::Command;

/// One wrk run's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx/3xx responses plus socket errors: a correct server has none.
    pub errors: u64,
}

fn wrk_command(url: &str, connections: u32, seconds: u64, cpu: u32) -> Command {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", &cpu.to_string(), "wrk", "-t1", "--latency"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg(url);
    cmd
}

/// Unmeasured load, so caches, pools and the allocator reach their steady state.
pub fn warm_up(url: &str, seconds: u64, cpu: u32) -> Result<()> {
    if seconds == 0 {
        return Ok(());
    }
    let out = wrk_command(url, 64, seconds, cpu)
        .output()
        .context("run wrk")?;
    if !out.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// One measured run.
pub fn wrk(url: &str, connections: u32, seconds: u64, cpu: u32) -> Result<Sample> {
    let out = wrk_command(url, connections, seconds, cpu)
        .output()
        .context("run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {}{text}", String::from_utf8_lossy(&out.stderr));
    }
    parse(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

/// A wrk duration (`812.00us`, `1.20ms`, `2.00s`, `1.00m`) in milliseconds.
fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value / 1e3,
        "ms" => value,
        "s" => value * 1e3,
        "m" => value * 60e3,
        _ => return None,
    })
}

fn parse(text: &str) -> Option<Sample> {
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let requests_per_sec = field("Requests/sec:")?.parse().ok()?;
    let p50_ms = millis(field("50%")?)?;
    let p99_ms = millis(field("99%")?)?;
    let non_2xx: u64 = field("Non-2xx or 3xx responses:").map_or(Some(0), |v| v.parse().ok())?;
    let socket_errors: u64 = field("Socket errors:").map_or(0, |v| {
        // "connect 0, read 0, write 0, timeout 0"
        v.split(',')
            .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum()
    });
    Some(Sample {
        requests_per_sec,
        p50_ms,
        p99_ms,
        errors: non_2xx + socket_errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 10s test @ http://127.0.0.1:3000/hello
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.38ms  512.00us  12.00ms   80.00%
    Req/Sec    11.32k   300.00    12.00k    70.00%
  Latency Distribution
     50%    5.38ms
     75%    5.60ms
     90%    5.90ms
     99%    1.02s
  113200 requests in 10.00s, 9.50MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  11320.00
Transfer/sec:      0.95MB
";

    #[test]
    fn parses_throughput_percentiles_and_errors() {
        let s = parse(OUTPUT).unwrap();
        assert_eq!(s.requests_per_sec, 11320.0);
        assert_eq!(s.p50_ms, 5.38);
        assert_eq!(s.p99_ms, 1020.0);
        assert_eq!(s.errors, 7);
    }

    #[test]
    fn units_convert_to_milliseconds() {
        assert_eq!(millis("812.00us"), Some(0.812));
        assert_eq!(millis("2.00m"), Some(120_000.0));
        assert_eq!(millis("3.0parsecs"), None);
    }
}
