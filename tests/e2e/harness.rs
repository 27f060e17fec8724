//! The end-to-end harness: builds the guest fixtures once per run, starts the real `wisp`
//! binary on an ephemeral loopback port, and talks to it over real HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The `wisp` binary under test (same profile as the tests: build once, share).
pub fn wisp_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wisp")
}

/// Paths of the compiled guest fixtures.
pub struct Guests {
    /// wasi 0.2.4 probe component (`tests/guests/probe`).
    pub probe: PathBuf,
    /// The probe as a `wasm32-wasip1` core module (needs the preview 1 adapter).
    pub probe_wasip1_module: PathBuf,
    /// A wasi 0.2.0 hello component.
    pub hello_020: PathBuf,
    /// The wasi 0.2.0 hello as a `wasm32-unknown-unknown` core module.
    pub hello_020_module: PathBuf,
    /// A `wasi:cli` command component (wrong world for HTTP).
    pub not_http: PathBuf,
    /// A guest built with spin-sdk 5.2.0 using key-value, SQLite and variables.
    pub spin_app: PathBuf,
    /// A WASI 0.3 guest (`wasi:http/handler@0.3.0`) built with spin-sdk 7.0.0.
    pub p3_app: PathBuf,
    /// A guest importing `fermyon:spin@2.0.0` through plain wit-bindgen over `wit/`.
    pub raw_spin: PathBuf,
    /// A Redis trigger guest built with spin-sdk 5.2 (`#[redis_component]`).
    pub redis_sub: PathBuf,
    /// A Redis trigger guest built with spin-sdk 7 (`#[redis_subscriber]`, WASI 0.3).
    pub redis_sub_p3: PathBuf,
    /// A cron trigger guest (`fermyon:spin-cron@2.0.0`).
    pub cron_tick: PathBuf,
    /// An MQTT trigger guest (`spin:mqtt-trigger@3.0.0`).
    pub mqtt_sub: PathBuf,
    /// An MQTT trigger guest of the earlier, unversioned `spin:mqtt-trigger` (WASI 0.2).
    pub mqtt_sub_v2: PathBuf,
    /// `memory-front` (an HTTP component) composed with `memory-hog` (which it imports):
    /// one component whose instances have two linear memories.
    pub memory_pair: PathBuf,
}

/// Builds the guests once per test run.
pub fn guests() -> &'static Guests {
    static GUESTS: OnceLock<Guests> = OnceLock::new();
    GUESTS.get_or_init(|| {
        let dir = repo_root().join("tests/guests");
        let target = dir.join("target");
        for args in [
            &["--target", "wasm32-wasip2"][..],
            &["--target", "wasm32-wasip1", "-p", "probe"][..],
            &["--target", "wasm32-unknown-unknown", "-p", "hello-020"][..],
        ] {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .arg("build")
                .arg("--release")
                .args(args)
                .arg("--manifest-path")
                .arg(dir.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&target)
                // The host build's settings must not leak into the guest build.
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .status()
                .expect("run cargo to build guest fixtures");
            assert!(status.success(), "building guest fixtures {args:?} failed");
        }
        let out = |t: &str, f: &str| target.join(t).join("release").join(f);
        Guests {
            probe: out("wasm32-wasip2", "probe.wasm"),
            probe_wasip1_module: out("wasm32-wasip1", "probe.wasm"),
            hello_020: out("wasm32-wasip2", "hello_020.wasm"),
            hello_020_module: out("wasm32-unknown-unknown", "hello_020.wasm"),
            not_http: out("wasm32-wasip2", "not-http.wasm"),
            spin_app: out("wasm32-wasip2", "spin_app.wasm"),
            p3_app: out("wasm32-wasip2", "p3_app.wasm"),
            raw_spin: out("wasm32-wasip2", "raw_spin.wasm"),
            redis_sub: out("wasm32-wasip2", "redis_sub.wasm"),
            redis_sub_p3: out("wasm32-wasip2", "redis_sub_p3.wasm"),
            cron_tick: out("wasm32-wasip2", "cron_tick.wasm"),
            mqtt_sub: out("wasm32-wasip2", "mqtt_sub.wasm"),
            mqtt_sub_v2: out("wasm32-wasip2", "mqtt_sub_v2.wasm"),
            memory_pair: compose_memory_pair(
                &out("wasm32-wasip2", "memory_front.wasm"),
                &out("wasm32-wasip2", "memory_hog.wasm"),
                &target.join("memory_pair.wasm"),
            ),
        }
    })
}

/// Composes `front` (which imports `wisp:test/hog`) with `hog` (which exports it) into
/// one component at `to` exporting `front`'s HTTP handler, with wac-graph.
fn compose_memory_pair(front: &Path, hog: &Path, to: &Path) -> PathBuf {
    use wac_graph::{CompositionGraph, EncodeOptions, types::Package};
    const HOG: &str = "wisp:test/hog";
    const HANDLER: &str = "wasi:http/incoming-handler@0.2.0";
    let mut graph = CompositionGraph::new();
    let mut register = |name: &str, path: &Path| {
        let package = Package::from_file(name, None, path, graph.types_mut())
            .unwrap_or_else(|e| panic!("read {}: {e:#}", path.display()));
        graph.register_package(package).unwrap()
    };
    let (hog, front) = (register("wisp:hog", hog), register("wisp:front", front));
    let hog = graph.instantiate(hog);
    let held = graph.alias_instance_export(hog, HOG).unwrap();
    let front = graph.instantiate(front);
    graph.set_instantiation_argument(front, HOG, held).unwrap();
    let handler = graph.alias_instance_export(front, HANDLER).unwrap();
    graph.export(handler, HANDLER).unwrap();
    let bytes = graph
        .encode(EncodeOptions::default())
        .expect("compose memory pair");
    std::fs::write(to, bytes).unwrap();
    to.to_owned()
}

/// A compile cache shared by tests that do not test the cache itself, so each
/// component is compiled once per run.
pub fn shared_cache() -> PathBuf {
    repo_root().join("target/e2e-compile-cache")
}

/// A running `wisp up`.
pub struct Wisp {
    pub child: Child,
    pub addr: String,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Wisp {
    /// Starts `wisp up` with `args` (plus a free port and the shared cache unless given)
    /// and waits until it serves.
    pub fn start(args: &[&str]) -> Wisp {
        Self::start_with_env(args, &[])
    }

    /// Like [`Wisp::start`], with extra environment variables for the process.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Wisp {
        Self::start_subcommand("up", args, env)
    }

    /// Starts `wisp SUBCOMMAND args` (`up` or `serve`) as [`Wisp::start`] does.
    pub fn start_subcommand(subcommand: &str, args: &[&str], env: &[(&str, &str)]) -> Wisp {
        let mut cmd = Command::new(wisp_bin());
        cmd.envs(env.iter().copied());
        cmd.arg(subcommand).args(args);
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        if !args.contains(&"--cache-dir") && !args.contains(&"--no-cache") {
            cmd.arg("--cache-dir").arg(shared_cache());
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("start wisp");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let lines = stdout.clone();
            let pipe = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                // wisp writes its banner (address, then routes) in one write: report the
                // address only once every line of that read is recorded, so tests see
                // the full route list.
                let mut reader = BufReader::new(pipe);
                let mut addr = None;
                let mut line = String::new();
                while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                    let text = line.trim_end_matches(['\n', '\r']).to_owned();
                    line.clear();
                    if let Some(a) = text
                        .strip_prefix("Serving http://")
                        .or_else(|| text.strip_prefix("Serving https://"))
                    {
                        addr = Some(a.to_owned());
                    }
                    // An app with only event triggers is up once it says it has no
                    // listener (its subscriptions are live by then); it has no address.
                    if text == "No HTTP triggers: not listening" {
                        addr = Some(String::new());
                    }
                    lines.lock().unwrap().push(text);
                    if reader.buffer().is_empty()
                        && let Some(a) = addr.take()
                    {
                        let _ = tx.send(a);
                    }
                }
            });
        }
        {
            let lines = stderr.clone();
            let pipe = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        // `--build` compiles a guest from scratch first (minutes on two busy cores); the
        // wait only stops a server that never comes up from hanging the suite.
        let startup = if args.contains(&"--build") { 900 } else { 120 };
        let addr = match rx.recv_timeout(Duration::from_secs(startup)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "wisp did not start serving.\nstdout: {:?}\nstderr: {:?}",
                    stdout.lock().unwrap(),
                    stderr.lock().unwrap()
                );
            }
        };
        Wisp {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything printed to stdout so far.
    pub fn stdout_text(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// Everything printed to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits until stdout has a line containing `needle`.
    pub fn wait_for_stdout(&self, needle: &str) -> bool {
        wait_for_text(&self.stdout, needle).contains(needle)
    }

    /// Waits (bounded) until stderr contains `needle`, then returns all of stderr.
    /// stderr is read on its own thread, so a line the server printed before it
    /// started serving may still be in flight when a test first looks.
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        wait_for_text(&self.stderr, needle)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

/// Polls `lines` for up to 10 s until their text contains `needle`; returns the text.
fn wait_for_text(lines: &Mutex<Vec<String>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = lines.lock().unwrap().join("\n");
        if text.contains(needle) || Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Wisp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `wisp` to completion with `args`.
pub fn run_wisp(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(wisp_bin());
    cmd.args(args).stdin(Stdio::null());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.output().expect("run wisp")
}

/// An app folder with a `spin.toml`.
pub struct AppDir {
    pub dir: tempfile::TempDir,
}

impl AppDir {
    /// A folder holding `manifest` as its spin.toml.
    pub fn new(manifest: &str) -> AppDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spin.toml"), manifest).unwrap();
        AppDir { dir }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The manifest path as a string.
    pub fn manifest(&self) -> String {
        self.dir.path().join("spin.toml").display().to_string()
    }

    /// Writes `runtime-config.toml` next to the manifest; its path.
    pub fn write_runtime_config(&self, text: &str) -> String {
        self.write("runtime-config.toml", text);
        self.path()
            .join("runtime-config.toml")
            .display()
            .to_string()
    }

    /// Writes a file inside the app folder.
    pub fn write(&self, rel: &str, contents: &str) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }
}

/// Starts wisp on `app`, with `runtime_config` (if any) written next to its manifest
/// and passed with `--runtime-config-file`.
pub fn start_app(app: &AppDir, runtime_config: Option<&str>) -> Wisp {
    let manifest = app.manifest();
    match runtime_config {
        None => Wisp::start(&["-f", &manifest]),
        Some(text) => {
            let rc = app.write_runtime_config(text);
            Wisp::start(&["-f", &manifest, "--runtime-config-file", &rc])
        }
    }
}

/// `wisp up` on `app` with `runtime_config` must fail: its stderr.
pub fn up_fails_with_runtime_config(app: &AppDir, runtime_config: &str) -> String {
    let rc = app.write_runtime_config(runtime_config);
    up_fails(&["-f", &app.manifest(), "--runtime-config-file", &rc])
}

/// A TOML string literal for a path.
pub fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

/// GET `url`, returning status and body text.
pub async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// [`get`] taking an owned URL, for `tokio::spawn`.
pub async fn get_owned(url: String) -> (u16, String) {
    get(&url).await
}

/// Runs `wisp up` with `args` (on a free port, no cache) expecting it to refuse: exit 1,
/// one line on stderr, no panic or backtrace. Returns that line.
pub fn up_fails(args: &[&str]) -> String {
    let mut all = vec!["up"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--listen", "127.0.0.1:0", "--no-cache"]);
    let out = run_wisp(&all, None);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    err
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub use crate::servers::{MariaDb, Mosquitto, Postgres, Redis, TestCa};
