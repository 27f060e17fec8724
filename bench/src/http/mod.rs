//! `wisp-bench http` and `wisp-bench outbound`: build what they need, measure each
//! server in turn, report.

mod load;
mod report;
mod server;

use anyhow::{Context, Result, bail};
use report::{Row, Startup};
use server::{Server, Spec};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `wisp-bench http`.
#[derive(clap::Args, Debug, Clone)]
pub struct HttpArgs {
    /// Seconds of measured load per repetition.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds of unmeasured load before each server's first measurement.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Connection counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub connections: Vec<u32>,
    /// Repetitions per connection count; the table shows medians.
    #[arg(long, default_value_t = 3)]
    pub repetitions: usize,
    /// The `wasmtime` binary for the `wasmtime serve` column (default: `wasmtime` on PATH;
    /// the column is marked "not run" when there is none).
    #[arg(long)]
    pub wasmtime: Option<PathBuf>,
    /// CPU the server is pinned to.
    #[arg(long, default_value_t = 0)]
    pub server_cpu: u32,
    /// CPU the load generator is pinned to.
    #[arg(long, default_value_t = 1)]
    pub load_cpu: u32,
    /// Where to write the JSON results (default: `bench/results/<date>.json`, or
    /// `<date>-2.json`… when that exists).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The repository root (this crate lives in `bench/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// Runs `cmd`, failing with its name when it does not succeed.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Installs `wrk` with apt-get when it is missing.
fn ensure_wrk() -> Result<()> {
    if which("wrk").is_some() {
        return Ok(());
    }
    eprintln!("installing wrk (apt-get)…");
    // apt's progress goes to stderr: stdout carries only the report.
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::from(std::io::stderr()));
        run_checked(&mut cmd)
    };
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", "wrk"])?;
    which("wrk")
        .map(|_| ())
        .context("wrk is still missing after apt-get install")
}

/// The first `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Builds `wisp`, the native servers and the example guests; returns the hello guest's
/// path.
fn build(root: &Path) -> Result<PathBuf> {
    eprintln!("building wisp, the native baselines and the example guests…");
    build_host(root)?;
    for example in ["hello-rust", "proxy-rust"] {
        run_checked(
            Command::new("cargo")
                .current_dir(root.join("examples").join(example))
                .args(["build", "--release", "-q", "--target", "wasm32-wasip2"]),
        )?;
    }
    Ok(root.join("examples/hello-rust/target/wasm32-wasip2/release/hello_rust.wasm"))
}

/// Adds the guests' target and builds `wisp` and the native baselines (release).
pub fn build_host(root: &Path) -> Result<()> {
    run_checked(Command::new("rustup").args(["target", "add", "wasm32-wasip2"]))?;
    run_checked(Command::new("cargo").current_dir(root).args([
        "build",
        "--release",
        "-q",
        "-p",
        "wisp-cli",
        "-p",
        "wisp-bench",
    ]))
}

/// Start-up times, then every connection count under load, for one server.
fn measure(spec: &Spec, args: &HttpArgs) -> Result<(Row, Startup)> {
    eprintln!("{}: start-up, cold then warm cache…", spec.name);
    let cold = server::time_to_first_200(spec, true)?;
    let warm = server::time_to_first_200(spec, false)?;
    let server = Server::start(spec, args.server_cpu)?;
    let idle_rss_kib = server.rss_kib()?;
    load::warm_up(&server.url, args.warmup, args.load_cpu)?;
    let mut measured = Vec::new();
    for &conns in &args.connections {
        let mut reps = Vec::new();
        for rep in 0..args.repetitions {
            eprintln!(
                "{}: {conns} connections, run {}/{}…",
                spec.name,
                rep + 1,
                args.repetitions
            );
            reps.push(load::wrk(&server.url, conns, args.duration, args.load_cpu)?);
        }
        measured.push((conns, reps));
    }
    let peak_rss_kib = server.peak_rss_kib()?;
    Ok((
        Row::measured(&spec.name, measured, idle_rss_kib, peak_rss_kib),
        Startup::measured(&spec.name, cold, warm),
    ))
}

/// Runs the whole benchmark.
pub fn run(args: HttpArgs) -> Result<()> {
    let root = repo_root();
    ensure_wrk()?;
    let guest = build(&root)?;
    let release = root.join("target/release");
    let wasmtime = args.wasmtime.clone().or_else(|| which("wasmtime"));
    let cache = tempfile::tempdir()?;
    let (wisp, hello) = (release.join("wisp"), root.join("examples/hello-rust"));
    let no_wasmtime = "no `wasmtime` on PATH (cargo install wasmtime-cli, or --wasmtime PATH)";
    let specs = [
        Spec::native(&release.join("native-hello")),
        Spec::wisp(&wisp, &hello, cache.path()),
        Spec::wisp_reuse(&wisp, &hello, cache.path()),
        match &wasmtime {
            Some(bin) => Spec::wasmtime_serve(bin, &guest, cache.path())?,
            None => Spec::not_run("wasmtime serve", no_wasmtime),
        },
        match &wasmtime {
            Some(bin) => Spec::wasmtime_serve_reuse(bin, &guest, cache.path())?,
            None => Spec::not_run("wasmtime serve, instance reuse", no_wasmtime),
        },
    ];
    let (rows, startups) = measure_all(&specs, &args)?;
    let results = report::Results::new(&args, rows, startups);
    write_results(&root, &args, &results, "")
}

/// `wisp-bench outbound`: a native upstream (`native-hello`, on the load generator's
/// CPU) behind three proxies, one after another on the server CPU — a native hyper proxy
/// with hyper-util's pooled client, and `examples/proxy-rust` under wisp, fresh
/// instance and instance reuse — so the ratios are outbound HTTP through a guest against
/// a native client to the same server.
pub fn run_outbound(args: HttpArgs) -> Result<()> {
    let root = repo_root();
    ensure_wrk()?;
    build(&root)?;
    let release = root.join("target/release");
    let upstream = Server::start(&Spec::native(&release.join("native-hello")), args.load_cpu)?;
    let base = upstream.base();
    eprintln!("upstream: native-hello at {base}");
    let cache = tempfile::tempdir()?;
    let (wisp, proxy) = (release.join("wisp"), root.join("examples/proxy-rust"));
    // The guest reads its upstream from its environment (`[component.proxy]
    // environment`), which `--env` overrides.
    let upstream_env = format!("UPSTREAM={base}");
    let to_upstream = ["--env", upstream_env.as_str()];
    let specs = [
        Spec::native_proxy(&release.join("native-proxy"), &base),
        Spec::wisp(&wisp, &proxy, cache.path()).with_args(&to_upstream),
        Spec::wisp_reuse(&wisp, &proxy, cache.path()).with_args(&to_upstream),
    ];
    let (rows, startups) = measure_all(&specs, &args)?;
    let results = report::Results::new(&args, rows, startups);
    write_results(&root, &args, &results, "-outbound")
}

/// Measures every spec in turn; a peer that will not run is a row saying why.
fn measure_all(specs: &[Spec], args: &HttpArgs) -> Result<(Vec<Row>, Vec<Startup>)> {
    let mut rows = Vec::new();
    let mut startups = Vec::new();
    for spec in specs {
        if let Some(why) = &spec.not_run {
            eprintln!("{}: not run ({why})", spec.name);
            rows.push(Row::not_run(&spec.name, why));
            startups.push(Startup::not_run(&spec.name));
            continue;
        }
        match measure(spec, args) {
            Ok((row, startup)) => {
                rows.push(row);
                startups.push(startup);
            }
            // A peer that will not run here is reported, not fatal.
            Err(e) if spec.optional => {
                let why = format!("failed: {e:#}");
                eprintln!("{}: {why}", spec.name);
                rows.push(Row::not_run(&spec.name, &why));
                startups.push(Startup::not_run(&spec.name));
            }
            Err(e) => return Err(e.context(format!("measuring {}", spec.name))),
        }
    }
    Ok((rows, startups))
}

/// `<dir>/<stem>.json`, or `<stem>-2.json`, `-3`… if that exists: a second run on the
/// same day must not overwrite the first, which commits and docs may cite.
fn unused_results_path(dir: &Path, stem: &str) -> std::path::PathBuf {
    (1..)
        .map(|n| match n {
            1 => dir.join(format!("{stem}.json")),
            n => dir.join(format!("{stem}-{n}.json")),
        })
        .find(|p| !p.exists())
        .expect("an unbounded range always has an unused name")
}

/// Prints the table and writes the JSON (`bench/results/<date><suffix>.json`, numbered
/// if a run of that day is already there, unless `--out` says otherwise).
fn write_results(
    root: &Path,
    args: &HttpArgs,
    results: &report::Results,
    suffix: &str,
) -> Result<()> {
    println!("{}", results.markdown());
    write_json(root, args.out.as_ref(), suffix, results)
}

/// Writes `results` as JSON to `out`, or to `bench/results/<date><suffix>.json`
/// (numbered if a run of that day is already there).
pub fn write_json(
    root: &Path,
    out: Option<&PathBuf>,
    suffix: &str,
    results: &impl serde::Serialize,
) -> Result<()> {
    let out = match out {
        Some(p) => p.clone(),
        None => unused_results_path(
            &root.join("bench/results"),
            &format!("{}{suffix}", chrono::Utc::now().format("%Y-%m-%d")),
        ),
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(results)?)?;
    eprintln!("results written to {}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::unused_results_path;

    #[test]
    fn a_second_run_of_the_day_gets_a_numbered_file() {
        let dir = std::env::temp_dir().join(format!("wisp-bench-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = unused_results_path(&dir, "2026-11-21");
        assert_eq!(first, dir.join("2026-11-21.json"));
        std::fs::write(&first, "{}").unwrap();
        let second = unused_results_path(&dir, "2026-11-21");
        assert_eq!(second, dir.join("2026-11-21-2.json"));
        std::fs::write(&second, "{}").unwrap();
        assert_eq!(
            unused_results_path(&dir, "2026-11-21"),
            dir.join("2026-11-21-3.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
