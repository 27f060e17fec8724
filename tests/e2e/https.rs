//! HTTPS on the listener: `--tls-cert` and `--tls-key` on `wisp up` and `wisp serve`,
//! HTTP/2 and HTTP/1.1 chosen by ALPN, guests seeing the `https` scheme, and clients that
//! do not speak TLS (or stall in the handshake) turned away without harm.

use crate::harness::*;
use crate::http::{parse_report, probe_app};
use crate::platform::Host;
use crate::servers::TestCa;
use crate::wasi_p3::p3_app;
use std::io::Read;
use std::path::Path;

/// A client trusting only `ca` that offers exactly `alpn`, resolving `names` to `addr`.
fn https_client(ca: &TestCa, alpn: &[u8], names: &[&str], addr: &str) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let mut builder = reqwest::Client::builder().use_preconfigured_tls(config);
    for name in names {
        builder = builder.resolve(name, addr.parse().unwrap());
    }
    builder.build().unwrap()
}

/// `--tls-cert DIR/server.pem --tls-key DIR/server.key`.
fn tls_flags(dir: &Path) -> [String; 4] {
    [
        "--tls-cert".to_owned(),
        dir.join("server.pem").display().to_string(),
        "--tls-key".to_owned(),
        dir.join("server.key").display().to_string(),
    ]
}

#[tokio::test]
async fn wisp_up_serves_https_over_h2_and_http1_and_guests_see_the_https_scheme() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    ca.write_to(certs.path());
    let app = probe_app("/...", "/");
    let manifest = app.manifest();
    let tls = tls_flags(certs.path());
    let mut args = vec!["-f", manifest.as_str(), "--header-read-timeout", "1s"];
    args.extend(tls.iter().map(String::as_str));
    let wisp = Wisp::start(&args);
    let port = wisp.addr.rsplit_once(':').unwrap().1.to_owned();
    let banner = wisp.stdout_text();
    assert!(
        banner.contains(&format!("probe: https://{}/...", wisp.addr)),
        "{banner}"
    );

    for (alpn, version) in [
        (&b"h2"[..], reqwest::Version::HTTP_2),
        (&b"http/1.1"[..], reqwest::Version::HTTP_11),
    ] {
        let client = https_client(&ca, alpn, &["localhost"], &wisp.addr);
        let url = format!("https://localhost:{port}/x?op=headers");
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.version(), version);
        assert_eq!(response.status(), 200);
        let report = parse_report(&response.text().await.unwrap());
        assert_eq!(report.get("scheme").map(String::as_str), Some("https"));
        assert_eq!(report.get("spin-full-url"), Some(&url));
        assert_eq!(
            report.get("authority"),
            Some(&format!("localhost:{port}")),
            "{report:?}"
        );
    }

    // A client speaking plain HTTP to the TLS port gets no response, and nothing else
    // is disturbed.
    let plain = reqwest::get(wisp.url("/")).await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // A client that connects and never starts the handshake is closed at the
    // header-read timeout instead of holding its connection slot.
    let mut silent = std::net::TcpStream::connect(&wisp.addr).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = silent.read(&mut buf);
    assert!(
        matches!(read, Ok(0))
            || matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "a silent client was not closed: {read:?}"
    );

    let client = https_client(&ca, b"h2", &["localhost"], &wisp.addr);
    let response = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "hello from probe\n");
}

#[tokio::test]
async fn a_wasi_0_3_guest_sees_the_https_uri() {
    let ca = TestCa::new();
    let certs = tempfile::tempdir().unwrap();
    ca.write_to(certs.path());
    let app = p3_app("");
    let manifest = app.manifest();
    let tls = tls_flags(certs.path());
    let mut args = vec!["-f", manifest.as_str()];
    args.extend(tls.iter().map(String::as_str));
    let wisp = Wisp::start(&args);
    let url = format!("https://{}/p3/a?op=uri", wisp.addr);
    let client = https_client(&ca, b"h2", &[], &wisp.addr);
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), url);
}

#[tokio::test]
async fn wisp_serve_routes_https_requests_by_host() {
    let ca = TestCa::for_names(&["shop.test"]);
    let certs = tempfile::tempdir().unwrap();
    ca.write_to(certs.path());
    let state = tempfile::tempdir().unwrap();
    let tls = tls_flags(certs.path());
    let flags: Vec<&str> = tls.iter().map(String::as_str).collect();
    let host = Host::start_with(state.path(), &flags);
    assert!(
        host.wisp.stdout_text().contains("Serving https://"),
        "{}",
        host.wisp.stdout_text()
    );
    let app = probe_app("/...", "/");
    host.deploy(&[
        app.path().to_str().unwrap(),
        "--name",
        "shop",
        "--host",
        "shop.test",
    ]);
    let port = host.wisp.addr.rsplit_once(':').unwrap().1;
    let client = https_client(&ca, b"h2", &["shop.test"], &host.wisp.addr);
    let url = format!("https://shop.test:{port}/?op=headers");
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let report = parse_report(&response.text().await.unwrap());
    assert_eq!(report.get("spin-full-url"), Some(&url));
    assert_eq!(report.get("scheme").map(String::as_str), Some("https"));
}

#[test]
fn bad_tls_files_stop_wisp_up_with_a_clear_error() {
    let certs = tempfile::tempdir().unwrap();
    TestCa::new().write_to(certs.path());
    let app = probe_app("/...", "/");
    let manifest = app.manifest();
    let cert = certs.path().join("server.pem");
    // A key file that is not there; the client certificate's key, which does not
    // belong to the server's certificate.
    for (key, expect) in [
        ("missing.key", "missing.key"),
        ("client.key", "cannot be used together"),
    ] {
        let key = certs.path().join(key);
        let err = up_fails(&[
            "-f",
            &manifest,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        assert!(err.contains(expect), "{err}");
    }
    // A certificate without its key is refused by the command line itself.
    let out = run_wisp(
        &["up", "-f", &manifest, "--tls-cert", cert.to_str().unwrap()],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--tls-key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
