//! A real containerd (Debian's package) on a private socket and state folder, with
//! wisp's shim (`containerd-shim-wisp-v1`, beside the `wisp` under test) as runtime
//! `io.containerd.wisp.v1`, driven through containerd's own client, `ctr`.

use crate::harness::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The runtime type the shim answers to.
pub const RUNTIME: &str = "io.containerd.wisp.v1";
/// The containerd namespace the tests work in.
const NAMESPACE: &str = "wisp-tests";

/// The shim binary built with the `wisp` under test (`scripts/test` builds the workspace).
pub fn shim_bin() -> PathBuf {
    let shim = Path::new(wisp_bin())
        .parent()
        .unwrap()
        .join("containerd-shim-wisp-v1");
    assert!(
        shim.is_file(),
        "{} is missing: build it with `cargo build --release -p containerd-shim-wisp`",
        shim.display()
    );
    shim
}

/// Which Debian release's containerd (and `ctr`) to run.
#[derive(Debug, Clone, Copy)]
pub enum Release {
    /// Debian 12's package, containerd 1.6: installed by `scripts/test`.
    Debian12,
    /// Debian 13's package, containerd 1.7: unpacked (not installed) under `target/` by
    /// `scripts/test`, since Debian 12's 1.6 cannot hand Spin's artifact to a shim.
    Debian13,
}

impl Release {
    /// The folder holding `containerd` and `ctr`, or `None` for the ones on `PATH`.
    fn bin_dir(self) -> Option<PathBuf> {
        match self {
            Self::Debian12 => None,
            Self::Debian13 => {
                let dir = repo_root().join("target/containerd-debian13/usr/bin");
                assert!(
                    dir.join("containerd").is_file(),
                    "{} is missing: `scripts/fetch-containerd` unpacks Debian 13's containerd",
                    dir.display()
                );
                Some(dir)
            }
        }
    }

    fn command(self, name: &str) -> Command {
        match self.bin_dir() {
            Some(dir) => Command::new(dir.join(name)),
            None => Command::new(name),
        }
    }
}

/// A running containerd; stopped, with every task it ran, when dropped.
pub struct Containerd {
    release: Release,
    dir: tempfile::TempDir,
    daemon: Child,
    containers: Mutex<Vec<String>>,
}

impl Containerd {
    /// Starts `release`'s containerd with the shim on its `PATH` and waits until it
    /// answers.
    pub fn start(release: Release) -> Containerd {
        let shim_dir = shim_bin().parent().unwrap().to_path_buf();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/debug.sock\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let path = format!(
            "{}:{}",
            shim_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let daemon = release
            .command("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .env("PATH", path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start containerd (scripts/test installs it)");
        let containerd = Containerd {
            release,
            dir,
            daemon,
            containers: Mutex::default(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !containerd.ctr(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start: {}",
                containerd.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        containerd
    }

    /// containerd's own log, for failure messages.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// Runs `ctr` against this containerd, in the tests' namespace.
    pub fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_command(args).output().expect("run ctr")
    }

    /// The root folder of running container `id`, as the host sees it.
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.dir
            .path()
            .join("state/io.containerd.runtime.v2.task")
            .join(NAMESPACE)
            .join(id)
            .join("rootfs")
    }

    fn ctr_command(&self, args: &[&str]) -> Command {
        let mut command = self.release.command("ctr");
        command
            .arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .arg("--namespace")
            .arg(NAMESPACE)
            .args(args);
        command
    }

    /// Runs `ctr` and insists that it succeeds; its stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ctr image pull --plain-http` of `reference`.
    pub fn pull(&self, reference: &str) {
        self.ctr_ok(&["image", "pull", "--plain-http", reference]);
    }

    /// `ctr run --rm --runtime io.containerd.wisp.v1 --net-host` of `image` as container
    /// `id`, attached (its output is collected; its exit status is the task's), with
    /// `env` and the process arguments `args`.
    pub fn run(&self, image: &str, id: &str, env: &[(&str, &str)], args: &[&str]) -> Task {
        let envs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut ctr_args = vec!["run", "--rm", "--runtime", RUNTIME, "--net-host"];
        for e in &envs {
            ctr_args.extend(["--env", e.as_str()]);
        }
        ctr_args.extend([image, id]);
        ctr_args.extend_from_slice(args);
        let mut child = self
            .ctr_command(&ctr_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ctr");
        self.containers.lock().unwrap().push(id.to_owned());
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Task {
            id: id.to_owned(),
            ctr: child,
            output,
        }
    }

    /// Sends `signal` to task `id`'s process.
    pub fn kill(&self, id: &str, signal: &str) {
        self.ctr_ok(&["task", "kill", "--signal", signal, id]);
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Shims outlive containerd: every task is stopped and deleted first.
        for id in self.containers.lock().unwrap().iter() {
            let _ = self.ctr(&["task", "kill", "--signal", "SIGKILL", id]);
            let _ = self.ctr(&["task", "delete", "--force", id]);
            let _ = self.ctr(&["container", "delete", id]);
        }
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.daemon.id() as i32, libc::SIGTERM) };
        let _ = self.daemon.wait();
    }
}

/// A container run attached by `ctr run`.
pub struct Task {
    /// The container id.
    pub id: String,
    ctr: Child,
    output: Arc<Mutex<String>>,
}

impl Task {
    /// Everything the task wrote so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the task's output contains `needle`; the output.
    pub fn wait_for_output(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.output();
            if text.contains(needle) {
                return text;
            }
            if let Ok(Some(status)) = self.ctr.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "task {} ended ({status}) without printing `{needle}`:\n{}",
                    self.id,
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "task {} did not print `{needle}` in {limit:?}:\n{text}",
                self.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the task to end; its exit status and output.
    pub fn wait(&mut self, limit: Duration) -> (i32, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.ctr.try_wait().unwrap() {
                // The readers finish once the pipes close.
                std::thread::sleep(Duration::from_millis(200));
                return (status.code().unwrap_or(-1), self.output());
            }
            assert!(
                Instant::now() < deadline,
                "task {} still running after {limit:?}:\n{}",
                self.id,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = self.ctr.kill();
        let _ = self.ctr.wait();
    }
}
