//! The outbound HTTP client: HTTPS verified against `[[client_tls]]` CA roots with a
//! client certificate for mutual TLS, connections pooled per component (and not when
//! `[outbound_http] connection_pooling = false`), and link-local (metadata) addresses
//! refused unless an entry names them.

use crate::harness::*;
use crate::servers::TestCa;
use crate::upstream::{Upstream, encode};

fn probe_app(allowed: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"client\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(&guests().probe)
    ))
}

async fn fetch(wisp: &Wisp, url: &str) -> (u16, String) {
    get(&wisp.url(&format!("/?op=fetch&url={}", encode(url)))).await
}

#[tokio::test]
async fn https_trusts_client_tls_roots_and_presents_the_client_certificate() {
    let ca = TestCa::new();
    let upstream = Upstream::start_tls(ca.server_config(true));
    let url = format!("https://localhost:{}/secure", upstream.port);
    let app = probe_app(&format!("\"https://localhost:{}\"", upstream.port));
    ca.write_to(app.path());

    // The test CA is not among the webpki roots: the server is not trusted.
    let wisp = start_app(&app, None);
    let (status, body) = fetch(&wisp, &url).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("TlsCertificateError"), "{body}");
    drop(wisp);

    // Trusted now, but the server demands a client certificate.
    let entry = format!(
        "[[client_tls]]\ncomponent_ids = [\"probe\"]\nhosts = [\"localhost:{}\"]\n\
         ca_roots_file = \"ca.pem\"\n",
        upstream.port
    );
    let wisp = start_app(&app, Some(&entry));
    let (status, body) = fetch(&wisp, &url).await;
    assert_eq!(status, 502, "{body}");
    drop(wisp);

    // With the client certificate the request goes through.
    let with_identity = format!(
        "{entry}client_cert_file = \"client.pem\"\nclient_private_key_file = \"client.key\"\n"
    );
    let wisp = start_app(&app, Some(&with_identity));
    let (status, body) = fetch(&wisp, &url).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "upstream saw GET /secure body=0")
    );
    assert_eq!(
        upstream.seen().len(),
        1,
        "only the mutual-TLS request got through"
    );
    drop(wisp);

    // An entry for another component or another port does not apply.
    for (component, port) in [("other", upstream.port), ("probe", upstream.port + 1)] {
        let elsewhere = with_identity
            .replace("[\"probe\"]", &format!("[\"{component}\"]"))
            .replace(
                &format!("localhost:{}", upstream.port),
                &format!("localhost:{port}"),
            );
        let wisp = start_app(&app, Some(&elsewhere));
        let (status, body) = fetch(&wisp, &url).await;
        assert_eq!(status, 502, "{component}:{port}: {body}");
    }
    assert_eq!(upstream.seen().len(), 1);
}

#[tokio::test]
async fn a_client_tls_entry_with_a_missing_file_stops_the_load() {
    let app = probe_app("\"https://localhost\"");
    let err = up_fails_with_runtime_config(
        &app,
        "[[client_tls]]\ncomponent_ids = [\"probe\"]\nhosts = [\"localhost\"]\n\
         ca_roots_file = \"missing-ca.pem\"\n",
    );
    assert!(
        err.contains("[[client_tls]] entry 1") && err.contains("missing-ca.pem"),
        "{err}"
    );
}

#[tokio::test]
async fn connections_are_pooled_unless_the_runtime_config_turns_it_off() {
    for (runtime_config, expected) in [
        (None, 1),
        (Some("[outbound_http]\nconnection_pooling = false\n"), 4),
    ] {
        let upstream = Upstream::start();
        let app = probe_app(&format!("\"http://127.0.0.1:{}\"", upstream.port));
        let wisp = start_app(&app, runtime_config);
        for i in 0..4 {
            let url = format!("http://127.0.0.1:{}/n{i}", upstream.port);
            let (status, body) = fetch(&wisp, &url).await;
            assert_eq!(status, 200, "{body}");
        }
        assert_eq!(upstream.seen().len(), 4);
        assert_eq!(
            upstream.connections(),
            expected,
            "connections for 4 sequential requests with {runtime_config:?}"
        );
    }
}

#[tokio::test]
async fn an_instance_may_have_64_requests_in_flight() {
    let upstream = Upstream::start();
    let app = probe_app(&format!("\"http://127.0.0.1:{}\"", upstream.port));
    let wisp = start_app(&app, None);
    let url = format!("http://127.0.0.1:{}/slot", upstream.port);
    let fan_out = |n: usize| wisp.url(&format!("/?op=fan-out&n={n}&url={}", encode(&url)));
    let (status, body) = get(&fan_out(70)).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "responses=64 ErrorCode::ConnectionLimitReached=6")
    );
    // The slots were the instance's: the next request's instance has all of them.
    let (status, body) = get(&fan_out(64)).await;
    assert_eq!((status, body.as_str()), (200, "responses=64"));
}

#[tokio::test]
async fn link_local_addresses_are_refused_through_wildcards() {
    let app = probe_app("\"http://*:*\", \"tcp://*:*\"");
    let wisp = start_app(&app, None);
    let (status, body) = fetch(&wisp, "http://169.254.169.254/latest/meta-data/").await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("DestinationIpProhibited"), "{body}");
    let (status, body) = get(&wisp.url("/?op=tcp&addr=169.254.169.254:80")).await;
    assert_eq!(status, 403, "{body}");
    // Other addresses stay reachable through the same wildcard.
    let upstream = Upstream::start();
    let (status, _) = fetch(&wisp, &format!("http://127.0.0.1:{}/", upstream.port)).await;
    assert_eq!(status, 200);
}
