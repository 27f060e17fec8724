//! `wisp-bench events`: the event triggers, measured.
//!
//! - Redis trigger throughput: a `redis-server` of its own (on the second CPU) and,
//!   subscribed to it, a native Rust subscriber (`native-redis-subscriber`), `wisp up`
//!   with fresh instances and `wisp up --instance-reuse 1000`, each on the first CPU and
//!   its own channel. Each round, for each in turn: a Lua script publishes N messages in
//!   one go, and the clock runs until the subscriber's counter reaches N (every handler
//!   increments it on the same server: the same work natively and in the guest). Events/s
//!   and the subscriber's CPU time per event, median of the rounds, with ratios to native.
//! - Cron jitter: `wisp up` on a `* * * * * *` schedule for a minute; the guest prints how
//!   late each run started against its scheduled second; p50, p99 and max.

mod process;

use crate::http::{build_host, repo_root, run_checked, write_json};
use anyhow::{Context, Result, bail};
use process::{Proc, free_port, wait_for_port};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Options of `wisp-bench events`.
#[derive(clap::Args, Debug, Clone)]
pub struct EventsArgs {
    /// Messages published per measurement.
    #[arg(long, default_value_t = 20_000)]
    pub messages: u64,
    /// Rounds (each subscriber once per round); the table shows medians.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Seconds the cron schedule runs for the jitter figures.
    #[arg(long, default_value_t = 60)]
    pub cron_seconds: u64,
    /// CPU the subscribers (and the cron app) are pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: u32,
    /// CPU `redis-server` is pinned to.
    #[arg(long, default_value_t = 1)]
    pub redis_cpu: u32,
    /// Where to write the JSON results (default `bench/results/<date>-events.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One subscriber's figures.
#[derive(Debug, Serialize)]
struct Row {
    subscriber: String,
    events_per_sec: Vec<f64>,
    cpu_us_per_event: Vec<f64>,
    median_events_per_sec: f64,
    median_cpu_us_per_event: f64,
}

/// How late cron runs started, in milliseconds.
#[derive(Debug, Serialize)]
struct Jitter {
    ticks: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Serialize)]
struct Results {
    date: String,
    messages: u64,
    rounds: usize,
    server_cpu: u32,
    redis_cpu: u32,
    redis: Vec<Row>,
    cron: Jitter,
}

/// Runs the whole benchmark.
pub fn run(args: EventsArgs) -> Result<()> {
    let root = repo_root();
    build(&root)?;
    let redis_port = free_port()?;
    let redis = Proc::start(
        "redis-server",
        &[
            "--port",
            &redis_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        args.redis_cpu,
    )
    .context("starting redis-server (apt-get install redis-server)")?;
    wait_for_port(redis_port)?;
    let address = format!("redis://127.0.0.1:{redis_port}");
    let cache = tempfile::tempdir()?;
    let subscribers = start_subscribers(&root, &address, cache.path(), args.server_cpu)?;
    let mut connection = redis::Client::open(address.as_str())?.get_connection()?;
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); subscribers.len()];
    for round in 1..=args.rounds {
        for (n, sub) in subscribers.iter().enumerate() {
            eprintln!("{}: round {round}/{}…", sub.name, args.rounds);
            samples[n].push(measure_redis(&mut connection, sub, args.messages)?);
        }
    }
    let rows: Vec<Row> = subscribers
        .iter()
        .zip(samples)
        .map(|(sub, s)| row(&sub.name, s))
        .collect();
    drop(subscribers);
    drop(redis);
    eprintln!(
        "cron: a `* * * * * *` schedule for {} s…",
        args.cron_seconds
    );
    let cron = cron_jitter(&root, cache.path(), &args)?;
    let results = Results {
        date: chrono::Utc::now().to_rfc3339(),
        messages: args.messages,
        rounds: args.rounds,
        server_cpu: args.server_cpu,
        redis_cpu: args.redis_cpu,
        redis: rows,
        cron,
    };
    println!("{}", markdown(&results));
    write_json(&root, args.out.as_ref(), "-events", &results)
}

/// Builds `wisp`, the native subscriber and the benchmark guests.
fn build(root: &Path) -> Result<()> {
    eprintln!("building wisp, the native subscriber and the benchmark guests…");
    build_host(root)?;
    run_checked(
        Command::new("cargo")
            .current_dir(root.join("bench/guests"))
            .args(["build", "--release", "-q", "--target", "wasm32-wasip2"]),
    )
}

/// A started subscriber: its name, process, channel and counter.
struct Subscriber {
    name: String,
    proc: Proc,
    channel: String,
    counter: String,
    /// Keeps the wisp app's folder alive.
    _app: Option<tempfile::TempDir>,
}

/// Starts the native subscriber and the two wisp apps, each on its own channel.
fn start_subscribers(
    root: &Path,
    address: &str,
    cache: &Path,
    cpu: u32,
) -> Result<Vec<Subscriber>> {
    let release = root.join("target/release");
    let native_bin = release.join("native-redis-subscriber");
    let mut native = Proc::start(
        native_bin.to_str().context("path")?,
        &[address, "bench-native", "handled-native"],
        cpu,
    )?;
    native.wait_for_line("subscribed", Duration::from_secs(10))?;
    let mut subscribers = vec![Subscriber {
        name: "native (redis crate, tokio)".into(),
        proc: native,
        channel: "bench-native".into(),
        counter: "handled-native".into(),
        _app: None,
    }];
    let guest = root.join("bench/guests/target/wasm32-wasip2/release/redis_incr.wasm");
    for (name, key, extra) in [
        ("wisp, fresh instance", "wisp", None),
        ("wisp, --instance-reuse 1000", "wisp-reuse", Some("1000")),
    ] {
        let (channel, counter) = (format!("bench-{key}"), format!("handled-{key}"));
        let app = tempfile::tempdir()?;
        std::fs::write(
            app.path().join("spin.toml"),
            redis_app(address, &channel, &counter, &guest),
        )?;
        let manifest = app.path().join("spin.toml");
        let mut wisp_args = vec![
            "up",
            "-f",
            manifest.to_str().context("path")?,
            "--cache-dir",
            cache.to_str().context("path")?,
        ];
        if let Some(n) = extra {
            wisp_args.extend(["--instance-reuse", n]);
        }
        let mut proc = Proc::start(
            release.join("wisp").to_str().context("path")?,
            &wisp_args,
            cpu,
        )?;
        proc.wait_for_line("No HTTP triggers", Duration::from_secs(120))?;
        subscribers.push(Subscriber {
            name: name.into(),
            proc,
            channel,
            counter,
            _app: Some(app),
        });
    }
    Ok(subscribers)
}

/// The benchmark's Redis app: `redis-incr` on `channel`, incrementing `counter`.
fn redis_app(address: &str, channel: &str, counter: &str, guest: &Path) -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "bench-redis"
[application.trigger.redis]
address = "{address}"
[[trigger.redis]]
channel = "{channel}"
component = "incr"
[component.incr]
source = {guest:?}
allowed_outbound_hosts = ["{address}"]
[component.incr.variables]
redis_address = "{address}"
counter = "{counter}"
"#
    )
}

/// Publishes `messages` on the subscriber's channel in one script and waits until its
/// counter says each was handled: (events/s, subscriber CPU µs per event).
fn measure_redis(
    connection: &mut redis::Connection,
    sub: &Subscriber,
    messages: u64,
) -> Result<(f64, f64)> {
    let receivers: Vec<(String, u64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&sub.channel)
        .query(connection)?;
    if receivers.first().map(|r| r.1) != Some(1) {
        bail!("{}: not subscribed to {}", sub.name, sub.channel);
    }
    redis::cmd("SET")
        .arg(&sub.counter)
        .arg(0)
        .query::<()>(connection)?;
    let cpu_before = sub.proc.cpu_seconds()?;
    let started = Instant::now();
    redis::cmd("EVAL")
        .arg("for i = 1, tonumber(ARGV[1]) do redis.call('PUBLISH', KEYS[1], 'event ' .. i) end")
        .arg(1)
        .arg(&sub.channel)
        .arg(messages)
        .query::<()>(connection)?;
    loop {
        let handled: u64 = redis::cmd("GET").arg(&sub.counter).query(connection)?;
        if handled >= messages {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            bail!(
                "{}: only {handled} of {messages} handled in 300 s",
                sub.name
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = sub.proc.cpu_seconds()? - cpu_before;
    Ok((messages as f64 / elapsed, cpu * 1e6 / messages as f64))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn row(name: &str, samples: Vec<(f64, f64)>) -> Row {
    let (mut rates, mut cpu): (Vec<f64>, Vec<f64>) = samples.into_iter().unzip();
    let (median_events_per_sec, median_cpu_us_per_event) = (median(&mut rates), median(&mut cpu));
    Row {
        subscriber: name.into(),
        events_per_sec: rates,
        cpu_us_per_event: cpu,
        median_events_per_sec,
        median_cpu_us_per_event,
    }
}

/// Runs a every-second schedule for `--cron-seconds` and reads how late each run was.
fn cron_jitter(root: &Path, cache: &Path, args: &EventsArgs) -> Result<Jitter> {
    let guest = root.join("bench/guests/target/wasm32-wasip2/release/cron_jitter.wasm");
    let app = tempfile::tempdir()?;
    let manifest = app.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"bench-cron\"\n\
             [[trigger.cron]]\ncron_expression = \"* * * * * *\"\ncomponent = \"jitter\"\n\
             [component.jitter]\nsource = {guest:?}\n"
        ),
    )?;
    let wisp = root.join("target/release/wisp");
    let mut proc = Proc::start(
        wisp.to_str().context("path")?,
        &[
            "up",
            "-f",
            manifest.to_str().context("path")?,
            "--cache-dir",
            cache.to_str().context("path")?,
        ],
        args.server_cpu,
    )?;
    proc.wait_for_line("No HTTP triggers", Duration::from_secs(120))?;
    std::thread::sleep(Duration::from_secs(args.cron_seconds));
    let mut late_ms: Vec<f64> = proc
        .lines()
        .iter()
        .filter_map(|l| l.split_once("late_us=").map(|(_, n)| n.to_owned()))
        .filter_map(|n| n.trim().parse::<f64>().ok())
        .map(|us| us / 1000.0)
        .collect();
    if late_ms.is_empty() {
        bail!("the cron app printed no runs");
    }
    late_ms.sort_by(f64::total_cmp);
    let at = |q: f64| late_ms[((late_ms.len() - 1) as f64 * q).round() as usize];
    Ok(Jitter {
        ticks: late_ms.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    })
}

fn markdown(results: &Results) -> String {
    let native = results.redis.first().map(|r| r.median_events_per_sec);
    let mut out = format!(
        "Redis trigger: {} messages published at once per run, median of {}; subscribers on \
         CPU {}, redis-server on CPU {}\n\n\
         | subscriber | events/s | × native | CPU µs per event |\n| --- | --- | --- | --- |\n",
        results.messages, results.rounds, results.server_cpu, results.redis_cpu
    );
    for row in &results.redis {
        let ratio = native.map_or(String::from("–"), |n| {
            format!("{:.2}×", row.median_events_per_sec / n)
        });
        out.push_str(&format!(
            "| {} | {:.0} | {ratio} | {:.1} |\n",
            row.subscriber, row.median_events_per_sec, row.median_cpu_us_per_event
        ));
    }
    let c = &results.cron;
    out.push_str(&format!(
        "\nCron (`* * * * * *`, {} runs): start after the scheduled second, p50 {:.2} ms, \
         p99 {:.2} ms, max {:.2} ms\n",
        c.ticks, c.p50_ms, c.p99_ms, c.max_ms
    ));
    out
}
