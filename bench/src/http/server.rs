//! The servers under test: how to start each (pinned to a CPU), when it is ready, how
//! long it took to answer its first request, and how much memory it holds.

use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path every server answers with its hello-world.
const PATH: &str = "/hello";
/// How long a server may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How to run one server: `{addr}` in `args` becomes the address it must listen on.
pub struct Spec {
    pub name: String,
    program: PathBuf,
    args: Vec<String>,
    /// A compile cache the server uses, emptied before a cold start.
    cache_dir: Option<PathBuf>,
    /// Why this server is skipped, when it is.
    pub not_run: Option<String>,
    /// A peer whose failure to run is reported in the table rather than fatal.
    pub optional: bool,
}

impl Spec {
    /// The native hyper hello-world in `bench/src/bin/native_hello.rs`.
    pub fn native(bin: &Path) -> Spec {
        Spec {
            name: "native hyper".into(),
            program: bin.to_path_buf(),
            args: vec!["{addr}".into()],
            cache_dir: None,
            not_run: None,
            optional: false,
        }
    }

    /// The native outbound baseline in `bench/src/bin/native_proxy.rs`, forwarding to
    /// `upstream`.
    pub fn native_proxy(bin: &Path, upstream: &str) -> Spec {
        Spec {
            name: "native hyper proxy".into(),
            program: bin.to_path_buf(),
            args: vec!["{addr}".into(), upstream.into()],
            cache_dir: None,
            not_run: None,
            optional: false,
        }
    }

    /// This spec with `extra` after its arguments.
    pub fn with_args(mut self, extra: &[&str]) -> Spec {
        self.args.extend(extra.iter().map(|a| a.to_string()));
        self
    }

    /// `wisp up` on the hello example, with its own compile cache.
    pub fn wisp(bin: &Path, app: &Path, cache: &Path) -> Spec {
        let cache_dir = cache.join("wisp");
        Spec {
            name: "wisp".into(),
            program: bin.to_path_buf(),
            args: vec![
                "up".into(),
                "-f".into(),
                app.display().to_string(),
                "--listen".into(),
                "{addr}".into(),
                "--cache-dir".into(),
                cache_dir.display().to_string(),
            ],
            cache_dir: Some(cache_dir),
            not_run: None,
            optional: false,
        }
    }

    /// [`Spec::wisp`] with opt-in instance reuse (each instance serves up to 1000
    /// sequential requests).
    pub fn wisp_reuse(bin: &Path, app: &Path, cache: &Path) -> Spec {
        let mut spec = Self::wisp(bin, app, cache);
        spec.name = "wisp, instance reuse".into();
        spec.args.extend(["--instance-reuse".into(), "1000".into()]);
        spec
    }

    /// `wasmtime serve` on the same guest, with the pooling allocator and a compile cache
    /// in a folder of its own (a cache config file pointing there).
    pub fn wasmtime_serve(bin: &Path, guest: &Path, cache: &Path) -> Result<Spec> {
        let cache_dir = cache.join("wasmtime");
        let config = cache.join("wasmtime-cache.toml");
        std::fs::write(
            &config,
            format!(
                "[cache]\ndirectory = {:?}\n",
                cache_dir.display().to_string()
            ),
        )?;
        Ok(Spec {
            name: "wasmtime serve".into(),
            program: bin.to_path_buf(),
            args: vec![
                "serve".into(),
                "--addr".into(),
                "{addr}".into(),
                "-O".into(),
                "pooling-allocator=y".into(),
                // The guest is built with std, which imports `wasi:cli`; `serve` links
                // only the proxy world's interfaces unless asked.
                "-S".into(),
                "cli=y".into(),
                "-C".into(),
                format!("cache-config={}", config.display()),
                guest.display().to_string(),
            ],
            cache_dir: Some(cache_dir),
            not_run: None,
            optional: true,
        })
    }

    /// `wasmtime serve` with its own instance reuse, up to as many requests per instance
    /// as wisp's reuse row.
    pub fn wasmtime_serve_reuse(bin: &Path, guest: &Path, cache: &Path) -> Result<Spec> {
        let mut spec = Self::wasmtime_serve(bin, guest, cache)?;
        spec.name = "wasmtime serve, instance reuse".into();
        let at = spec.args.len() - 1;
        spec.args
            .splice(at..at, ["--max-instance-reuse-count".into(), "1000".into()]);
        Ok(spec)
    }

    /// A column that cannot be measured on this machine, and why.
    pub fn not_run(name: &str, why: &str) -> Spec {
        Spec {
            name: name.into(),
            program: PathBuf::new(),
            args: Vec::new(),
            cache_dir: None,
            not_run: Some(why.into()),
            optional: true,
        }
    }

    fn command(&self, addr: &str, cpu: Option<u32>) -> Command {
        let args = self.args.iter().map(|a| a.replace("{addr}", addr));
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &cpu.to_string()]).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        // A backtrace setting inherited from the shell would make wasmtime-based servers
        // capture a Rust backtrace on internal errors, which is a per-request cost for
        // some of them: every server runs as a user's would, without it.
        cmd.args(args)
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }
}

/// A loopback address with a port nothing listens on.
fn free_addr() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// One `GET` with a fresh connection; the status code, if a response came.
fn get_status(addr: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Polls `addr` until it answers 200 or `child` exits.
fn wait_ready(child: &mut Child, addr: &str) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if get_status(addr) == Some(200) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!("server exited before answering: {status}");
        }
        if Instant::now() > deadline {
            bail!("server did not answer 200 within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Milliseconds from spawning the server to its first 200. A cold start begins with an
/// empty compile cache; a warm one reuses what the previous start left.
pub fn time_to_first_200(spec: &Spec, cold: bool) -> Result<f64> {
    if let (true, Some(dir)) = (cold, &spec.cache_dir) {
        let _ = std::fs::remove_dir_all(dir);
    }
    let addr = free_addr()?;
    let start = Instant::now();
    let mut child = spec.command(&addr, None).spawn().context("spawn server")?;
    let ready = wait_ready(&mut child, &addr);
    let elapsed = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    ready?;
    Ok(elapsed.as_secs_f64() * 1e3)
}

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    /// `http://ADDR/hello`.
    pub url: String,
}

impl Server {
    /// Starts `spec` pinned to `cpu` and waits until it answers.
    pub fn start(spec: &Spec, cpu: u32) -> Result<Server> {
        let addr = free_addr()?;
        let mut child = spec
            .command(&addr, Some(cpu))
            .spawn()
            .context("spawn server")?;
        wait_ready(&mut child, &addr)?;
        Ok(Server {
            child,
            url: format!("http://{addr}{PATH}"),
        })
    }

    fn status_field(&self, field: &str) -> Result<u64> {
        // taskset execs the server, so the child's pid is the server's.
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {field} in /proc/{}/status", self.child.id()))
    }

    /// `http://ADDR`, without the path.
    pub fn base(&self) -> String {
        self.url.trim_end_matches(PATH).to_owned()
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> Result<u64> {
        self.status_field("VmRSS:")
    }

    /// The most resident memory the process has held, in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64> {
        self.status_field("VmHWM:")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
