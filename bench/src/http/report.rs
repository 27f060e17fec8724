//! Medians, ratios to native, and the two outputs: a Markdown table and JSON.

use super::HttpArgs;
use super::load::Sample;
use serde::Serialize;

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One server at one connection count: every repetition and their medians.
#[derive(Debug, Serialize)]
pub struct Point {
    pub connections: u32,
    pub samples: Vec<Sample>,
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

/// One server's figures, or why it was not run.
#[derive(Debug, Serialize)]
pub struct Row {
    pub server: String,
    pub not_run: Option<String>,
    pub points: Vec<Point>,
    pub idle_rss_kib: Option<u64>,
    pub peak_rss_kib: Option<u64>,
}

impl Row {
    /// A server that was measured: `runs` holds each connection count's samples.
    pub fn measured(
        server: &str,
        runs: Vec<(u32, Vec<Sample>)>,
        idle_rss_kib: u64,
        peak_rss_kib: u64,
    ) -> Row {
        let points = runs
            .into_iter()
            .map(|(connections, samples)| {
                let pick =
                    |f: fn(&Sample) -> f64| median(&mut samples.iter().map(f).collect::<Vec<_>>());
                Point {
                    connections,
                    requests_per_sec: pick(|s| s.requests_per_sec),
                    p50_ms: pick(|s| s.p50_ms),
                    p99_ms: pick(|s| s.p99_ms),
                    errors: samples.iter().map(|s| s.errors).sum(),
                    samples,
                }
            })
            .collect();
        Row {
            server: server.into(),
            not_run: None,
            points,
            idle_rss_kib: Some(idle_rss_kib),
            peak_rss_kib: Some(peak_rss_kib),
        }
    }

    /// A server that could not be measured here.
    pub fn not_run(server: &str, why: &str) -> Row {
        Row {
            server: server.into(),
            not_run: Some(why.into()),
            points: Vec::new(),
            idle_rss_kib: None,
            peak_rss_kib: None,
        }
    }
}

/// Process start to first 200, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Startup {
    pub server: String,
    pub cold_ms: Option<f64>,
    pub warm_ms: Option<f64>,
}

impl Startup {
    /// Measured start-up times.
    pub fn measured(server: &str, cold_ms: f64, warm_ms: f64) -> Startup {
        Startup {
            server: server.into(),
            cold_ms: Some(cold_ms),
            warm_ms: Some(warm_ms),
        }
    }

    /// A server that was not run.
    pub fn not_run(server: &str) -> Startup {
        Startup {
            server: server.into(),
            cold_ms: None,
            warm_ms: None,
        }
    }
}

/// Everything one run measured, as written to JSON.
#[derive(Debug, Serialize)]
pub struct Results {
    pub date: String,
    pub commit: Option<String>,
    pub load_generator: &'static str,
    pub duration_secs: u64,
    pub warmup_secs: u64,
    pub repetitions: usize,
    pub server_cpu: u32,
    pub load_cpu: u32,
    pub rows: Vec<Row>,
    pub startup: Vec<Startup>,
}

impl Results {
    /// Collects the run's settings and figures.
    pub fn new(args: &HttpArgs, rows: Vec<Row>, startup: Vec<Startup>) -> Results {
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        Results {
            date: chrono::Utc::now().to_rfc3339(),
            commit,
            load_generator: "wrk -t1 (keep-alive)",
            duration_secs: args.duration,
            warmup_secs: args.warmup,
            repetitions: args.repetitions,
            server_cpu: args.server_cpu,
            load_cpu: args.load_cpu,
            rows,
            startup,
        }
    }

    fn native(&self, connections: u32) -> Option<&Point> {
        self.rows
            .first()
            .and_then(|r| r.points.iter().find(|p| p.connections == connections))
    }

    /// The Markdown report: throughput and latency per connection count (each with its
    /// ratio to native), then memory and start-up.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "wrk, {} s per run after {} s warm-up, median of {}; server on CPU {}, wrk on CPU {}\n\n\
             | server | conns | requests/s | × native | p50 ms | p99 ms | p99 × native | errors |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
            self.duration_secs, self.warmup_secs, self.repetitions, self.server_cpu, self.load_cpu
        );
        for row in &self.rows {
            if let Some(why) = &row.not_run {
                out += &format!("| {} | – | not run: {why} | | | | | |\n", row.server);
                continue;
            }
            for p in &row.points {
                let native = self.native(p.connections);
                let ratio =
                    |a: f64, b: Option<f64>| b.map_or("–".into(), |b| format!("{:.3}", a / b));
                out += &format!(
                    "| {} | {} | {:.0} | {} | {:.3} | {:.3} | {} | {} |\n",
                    row.server,
                    p.connections,
                    p.requests_per_sec,
                    ratio(p.requests_per_sec, native.map(|n| n.requests_per_sec)),
                    p.p50_ms,
                    p.p99_ms,
                    ratio(p.p99_ms, native.map(|n| n.p99_ms)),
                    p.errors
                );
            }
        }
        out += "\n| server | idle RSS MiB | peak RSS MiB | first 200, cold cache ms | first 200, warm cache ms |\n\
                | --- | ---: | ---: | ---: | ---: |\n";
        let mib = |k: Option<u64>| k.map_or("–".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
        for (row, start) in self.rows.iter().zip(&self.startup) {
            out += &format!(
                "| {} | {} | {} | {} | {} |\n",
                row.server,
                mib(row.idle_rss_kib),
                mib(row.peak_rss_kib),
                ms(start.cold_ms),
                ms(start.warm_ms)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
