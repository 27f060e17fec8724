//! Real servers the end-to-end tests start for themselves: each its own instance from
//! the installed binary, on a free loopback port, with throwaway state, stopped on drop.
//! `scripts/test` installs the binaries where they are missing.

use crate::harness::free_port;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until something accepts connections on loopback `port`, failing the test
/// (naming `server`) after `limit`.
pub fn wait_for_port(port: u16, server: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{server} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` of our own on a free loopback port, stopped on drop.
pub struct Redis {
    child: Child,
    _tls_dir: Option<tempfile::TempDir>,
    /// Its port.
    pub port: u16,
}

impl Redis {
    /// Starts one (the test command installs `redis-server` where it is missing).
    pub fn start() -> Redis {
        let port = free_port();
        Self::start_on(port)
    }

    /// Starts one on `port` (to bring a stopped one back at the same address).
    pub fn start_on(port: u16) -> Redis {
        Self::launch(port, None)
    }

    /// Starts one speaking only TLS with `ca`'s server certificate, demanding a client
    /// certificate `ca` signed.
    pub fn start_tls(ca: &TestCa) -> Redis {
        Self::launch(free_port(), Some(ca))
    }

    fn launch(port: u16, tls: Option<&TestCa>) -> Redis {
        let mut args: Vec<String> = Vec::new();
        let tls_dir = tls.map(|ca| {
            let dir = tempfile::tempdir().unwrap();
            ca.write_to(dir.path());
            let file = |name: &str| dir.path().join(name).display().to_string();
            args.extend(
                [
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
                    "--tls-cert-file",
                    &file("server.pem"),
                    "--tls-key-file",
                    &file("server.key"),
                    "--tls-ca-cert-file",
                    &file("ca.pem"),
                    "--tls-auth-clients",
                    "yes",
                ]
                .map(str::to_owned),
            );
            dir
        });
        if tls.is_none() {
            args.extend(["--port".to_owned(), port.to_string()]);
        }
        let child = Command::new("redis-server")
            .args(&args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (is it installed? scripts/test installs it)");
        wait_for_port(port, "redis-server", Duration::from_secs(10));
        Redis {
            child,
            _tls_dir: tls_dir,
            port,
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` against it and returns its trimmed output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Stops it now.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL server of our own: a fresh cluster in a temporary folder, on a free
/// loopback port, with trust authentication; stopped and removed on drop.
pub struct Postgres {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
}

impl Postgres {
    /// Starts one from the installed server (the test command installs `postgresql`
    /// where it is missing). As root, it runs as the `postgres` user: the server refuses
    /// to run as root.
    pub fn start() -> Postgres {
        Self::start_with(None, false)
    }

    /// Like [`Postgres::start`], with `ssl = on` serving `ca`'s server certificate.
    pub fn start_tls(ca: &TestCa) -> Postgres {
        Self::start_with(Some(ca), false)
    }

    /// Like [`Postgres::start_tls`], accepting only TLS connections that present a
    /// client certificate `ca` signed.
    pub fn start_mutual_tls(ca: &TestCa) -> Postgres {
        Self::start_with(Some(ca), true)
    }

    fn start_with(tls: Option<&TestCa>, client_auth: bool) -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed (scripts/test installs it)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("no PostgreSQL server binaries under /usr/lib/postgresql");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // SAFETY: geteuid has no preconditions.
        let as_root = unsafe { libc::geteuid() } == 0;
        let run_as = |program: &Path| {
            if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            }
        };
        if as_root {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown the cluster folder to postgres");
        }
        let out = run_as(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut ssl_args = Vec::new();
        if let Some(ca) = tls {
            let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            let root = dir.path().join("ca.crt");
            std::fs::write(&cert, &ca.server_cert_pem).unwrap();
            std::fs::write(&key, &ca.server_key_pem).unwrap();
            std::fs::write(&root, &ca.ca_pem).unwrap();
            // The server insists on a private key only its own user can read.
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            if as_root {
                let ok = Command::new("chown")
                    .arg("postgres:postgres")
                    .args([&cert, &key, &root])
                    .status()
                    .unwrap()
                    .success();
                assert!(ok, "chown the server's certificate and key to postgres");
            }
            ssl_args = vec![
                "-c".to_owned(),
                "ssl=on".to_owned(),
                "-c".to_owned(),
                format!("ssl_cert_file={}", cert.display()),
                "-c".to_owned(),
                format!("ssl_key_file={}", key.display()),
                "-c".to_owned(),
                format!("ssl_ca_file={}", root.display()),
            ];
            if client_auth {
                // TCP clients must speak TLS and present a certificate the CA signed.
                std::fs::write(
                    data.join("pg_hba.conf"),
                    "local all all trust\n\
                     hostssl all all 127.0.0.1/32 trust clientcert=verify-ca\n\
                     hostssl all all ::1/128 trust clientcert=verify-ca\n",
                )
                .unwrap();
            }
        }
        let port = free_port();
        let child = run_as(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "max_connections=50"])
            .args(&ssl_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        // An open port is not enough: while starting up, the server accepts connections
        // and then refuses them ("the database system is starting up").
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = || {
            Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        };
        while !ready() {
            assert!(
                Instant::now() < deadline,
                "postgres did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Postgres {
            child,
            _dir: dir,
            port,
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT to the server itself (its pid heads postmaster.pid; `runuser` does not
        // pass the signal on): immediate shutdown, all a throwaway cluster needs.
        let pid_file = self._dir.path().join("data").join("postmaster.pid");
        let pid = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.lines().next()?.trim().parse::<i32>().ok())
            .unwrap_or(self.child.id() as i32);
        // SAFETY: plain kill(2) on the server we started.
        unsafe {
            libc::kill(pid, libc::SIGQUIT);
        }
        let _ = self.child.wait();
    }
}

/// A Mosquitto broker of our own on a free loopback port, requiring a user name and
/// password (`wisp` / `secret`); stopped on drop.
pub struct Mosquitto {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
}

impl Mosquitto {
    /// The user and password the broker accepts.
    pub const USER: (&str, &str) = ("wisp", "secret");

    /// Starts one (the test command installs `mosquitto` where it is missing).
    pub fn start() -> Mosquitto {
        Self::launch(None).0
    }

    /// Starts one that also listens for TLS with `ca`'s server certificate, demanding a
    /// client certificate `ca` signed; returns it and its TLS port.
    pub fn start_tls(ca: &TestCa) -> (Mosquitto, u16) {
        let (broker, tls_port) = Self::launch(Some(ca));
        (broker, tls_port.expect("a TLS listener"))
    }

    fn launch(tls: Option<&TestCa>) -> (Mosquitto, Option<u16>) {
        let dir = tempfile::tempdir().unwrap();
        let passwords = dir.path().join("passwd");
        let ok = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwords)
            .args([Self::USER.0, Self::USER.1])
            .status()
            .expect("run mosquitto_passwd")
            .success();
        assert!(ok, "mosquitto_passwd failed");
        let port = free_port();
        let config = dir.path().join("mosquitto.conf");
        let mut text = format!(
            "allow_anonymous false\npassword_file {}\npersistence false\nuser root\n\
             listener {port} 127.0.0.1\n",
            passwords.display()
        );
        let tls_port = tls.map(|ca| {
            ca.write_to(dir.path());
            let file = |name: &str| dir.path().join(name).display().to_string();
            let tls_port = free_port();
            text.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
                 require_certificate true\n",
                file("ca.pem"),
                file("server.pem"),
                file("server.key")
            ));
            tls_port
        });
        std::fs::write(&config, text).unwrap();
        let ports: Vec<u16> = std::iter::once(port).chain(tls_port).collect();
        let broker = Mosquitto {
            child: Self::spawn(&config, &ports),
            _dir: dir,
            port,
        };
        (broker, tls_port)
    }

    /// Runs `mosquitto -c config` and waits until it listens on every one of `ports`.
    fn spawn(config: &Path, ports: &[u16]) -> Child {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto (scripts/test installs it)");
        for &p in ports {
            wait_for_port(p, "mosquitto", Duration::from_secs(10));
        }
        child
    }

    /// Stops the broker (its sessions and queued messages are lost: it keeps nothing).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again, with the same configuration, on the same port.
    pub fn start_again(&mut self) {
        self.child = Self::spawn(&self._dir.path().join("mosquitto.conf"), &[self.port]);
    }

    /// Publishes `message` on `topic` at `qos` with `mosquitto_pub`.
    pub fn publish(&self, topic: &str, message: &str, qos: u8) {
        let ok = Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-u", Self::USER.0, "-P", Self::USER.1])
            .args(["-t", topic, "-m", message, "-q", &qos.to_string()])
            .status()
            .expect("run mosquitto_pub")
            .success();
        assert!(ok, "mosquitto_pub failed");
    }

    /// Subscribes to `topic` with `mosquitto_sub` and returns once the subscription is
    /// live; the returned child prints each message's payload on its own line.
    pub fn subscribe(
        &self,
        topic: &str,
    ) -> (Child, std::io::Lines<BufReader<std::process::ChildStdout>>) {
        // Line-buffered: mosquitto_sub's stdout is a pipe here.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-q",
                "2",
                "-d",
            ])
            .args(["-u", Self::USER.0, "-P", Self::USER.1, "-t", topic])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run mosquitto_sub");
        // A test waiting for a message that never comes must fail, not hang: the
        // subscriber ends after 30 s whatever happens.
        let pid = child.id() as i32;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            // SAFETY: plain kill(2); at worst the process is already gone.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // With -d it reports the granted subscription: from then on, messages reach it.
        for line in lines.by_ref().map_while(Result::ok) {
            if line.starts_with("Subscribed") {
                break;
            }
        }
        (child, lines)
    }
}

/// The next message payload a [`Mosquitto::subscribe`] child printed, skipping the
/// `Client …` lines its `-d` flag adds.
pub fn next_message(
    lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>,
) -> Option<String> {
    lines
        .map_while(Result::ok)
        .find(|l| !l.starts_with("Client "))
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A MariaDB server of our own: a fresh data folder, a free loopback port, no
/// authentication (`--skip-grant-tables`: a throwaway test server), a `wisp` database;
/// stopped on drop.
pub struct MariaDb {
    child: Child,
    _dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
}

impl MariaDb {
    /// Starts one (the test command installs `mariadb-server` where it is missing).
    pub fn start() -> MariaDb {
        Self::launch(None)
    }

    /// Starts one that offers TLS with `ca`'s server certificate.
    pub fn start_tls(ca: &TestCa) -> MariaDb {
        Self::launch(Some(ca))
    }

    fn launch(tls: Option<&TestCa>) -> MariaDb {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 {
            "root".to_owned()
        } else {
            std::env::var("USER").unwrap_or_default()
        };
        let out = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={user}"))
            .arg("--auth-root-authentication-method=normal")
            .output()
            .expect("run mariadb-install-db (scripts/test installs mariadb-server)");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let mut tls_args = Vec::new();
        if let Some(ca) = tls {
            ca.write_to(dir.path());
            let file = |name: &str| dir.path().join(name).display().to_string();
            tls_args = vec![
                format!("--ssl-ca={}", file("ca.pem")),
                format!("--ssl-cert={}", file("server.pem")),
                format!("--ssl-key={}", file("server.key")),
            ];
        }
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--user={user}"))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-grant-tables",
                "--skip-log-bin",
                "--character-set-server=utf8mb4",
            ])
            .args(&tls_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        let db = MariaDb {
            child,
            _dir: dir,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let created = Command::new("mariadb")
                .args(["--no-defaults", "-h", "127.0.0.1", "-u", "root"])
                .arg(format!("-P{port}"))
                .args(tls.map(|_| "--ssl"))
                .args(["-e", "CREATE DATABASE IF NOT EXISTS wisp"])
                .output()
                .is_ok_and(|o| o.status.success());
            if created {
                break db;
            }
            assert!(
                Instant::now() < deadline,
                "mariadbd did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `mysql://root@127.0.0.1:PORT/wisp`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/wisp", self.port)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway certificate authority and a server certificate it signed for `localhost`
/// and 127.0.0.1, for servers started with TLS.
pub struct TestCa {
    /// The CA's certificate: what a client must trust.
    pub ca_pem: String,
    /// The server's certificate.
    pub server_cert_pem: String,
    /// The server's private key.
    pub server_key_pem: String,
    /// A client certificate the CA signed, for mutual TLS.
    pub client_cert_pem: String,
    /// The client certificate's private key.
    pub client_key_pem: String,
}

impl TestCa {
    /// Generates a fresh CA and a server certificate for `localhost` and 127.0.0.1.
    pub fn new() -> TestCa {
        Self::for_names(&["localhost", "127.0.0.1"])
    }

    /// Generates a fresh CA and a server certificate for `names` (host names or IPs).
    pub fn for_names(names: &[&str]) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wisp test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "wisp test client");
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    /// Writes `ca.pem`, `server.pem`, `server.key`, `client.pem` and `client.key` into `dir`.
    pub fn write_to(&self, dir: &Path) {
        for (name, pem) in [
            ("ca.pem", &self.ca_pem),
            ("server.pem", &self.server_cert_pem),
            ("server.key", &self.server_key_pem),
            ("client.pem", &self.client_cert_pem),
            ("client.key", &self.client_key_pem),
        ] {
            std::fs::write(dir.join(name), pem).unwrap();
        }
    }

    /// A rustls server config with this CA's server certificate; with `client_auth`, it
    /// demands a client certificate the CA signed.
    pub fn server_config(&self, client_auth: bool) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                std::sync::Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        builder.with_single_cert(chain, key).unwrap()
    }
}
