//! Outbound networking under `allowed_outbound_hosts`: HTTP to granted hosts only (denied
//! ones fail before any connection), templates resolved from variables, service chaining
//! in process with a loop cut-off, and sockets only to granted addresses.

use crate::harness::*;
use crate::upstream::{Upstream, encode};

fn probe_app(allowed: &str, extra: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"out\"\n{extra}\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(&guests().probe)
    ))
}

async fn fetch(wisp: &Wisp, url: &str, extra: &str) -> (u16, String) {
    get(&wisp.url(&format!("/?op=fetch&url={}{extra}", encode(url)))).await
}

#[tokio::test]
async fn granted_hosts_are_reached_and_others_denied_before_connecting() {
    let upstream = Upstream::start();
    let other = Upstream::start();
    let app = probe_app(&format!("\"http://127.0.0.1:{}\"", upstream.port), "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let base = format!("http://127.0.0.1:{}", upstream.port);

    let (status, body) = fetch(&wisp, &format!("{base}/hello?x=1"), "").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "upstream saw GET /hello?x=1 body=0")
    );

    // Streaming a request body out: 300 KB arrive intact.
    let (status, body) = fetch(&wisp, &format!("{base}/upload"), "&method=POST&send=300000").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "upstream saw POST /upload body=300000")
    );

    // Redirects are the guest's business: it sees the 302 itself.
    let (status, _) = fetch(&wisp, &format!("{base}/redirect"), "").await;
    assert_eq!(status, 302);
    assert!(!upstream.seen().iter().any(|s| s.path == "/elsewhere"));

    for denied in [
        format!("http://127.0.0.1:{}/", other.port),
        format!("https://127.0.0.1:{}/", upstream.port),
        format!("http://localhost:{}/", upstream.port),
        "http://example.com/".to_owned(),
    ] {
        let (status, body) = fetch(&wisp, &denied, "").await;
        assert_eq!(status, 502, "{denied}: {body}");
        assert!(body.contains("HttpRequestDenied"), "{denied}: {body}");
    }
    assert!(other.seen().is_empty(), "a denied request reached a server");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    // The request went out as the guest built it, addressed to the granted host.
    let host = seen[0].headers.iter().find(|(k, _)| k == "host");
    assert_eq!(
        host.map(|(_, v)| v.as_str()),
        Some(base.trim_start_matches("http://"))
    );
}

#[tokio::test]
async fn without_a_grant_nothing_is_reachable() {
    let upstream = Upstream::start();
    let wisp = Wisp::start(&["-f", guests().probe.to_str().unwrap()]);
    let (status, body) = fetch(&wisp, &format!("http://127.0.0.1:{}/", upstream.port), "").await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn templated_hosts_resolve_from_variables_at_load() {
    let upstream = Upstream::start();
    let vars = "[variables]\nupstream_host = { default = \"127.0.0.1\" }\n\
                upstream_port = { required = true }\n";
    let app = probe_app("\"http://{{ upstream_host }}:{{ upstream_port }}\"", vars);
    let port = upstream.port.to_string();
    let wisp = Wisp::start_with_env(
        &["-f", &app.manifest()],
        &[("SPIN_VARIABLE_UPSTREAM_PORT", &port)],
    );
    let (status, body) = fetch(&wisp, &format!("http://127.0.0.1:{port}/t"), "").await;
    assert_eq!((status, body.as_str()), (200, "upstream saw GET /t body=0"));

    // A value that does not make a host pattern is a load error naming the entry.
    let bad = probe_app(
        "\"http://{{ upstream_host }}\"",
        "[variables]\nupstream_host = { default = \"not a host\" }\n",
    );
    let err = up_fails(&["-f", &bad.manifest()]);
    assert!(
        err.contains("component `probe`") && err.contains("{{ upstream_host }}"),
        "{err}"
    );
    assert!(
        !err.contains("not a host"),
        "the rendered value leaked: {err}"
    );
}

fn chaining_app() -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"chain\"\n\
         [[trigger.http]]\nroute = \"/front/...\"\ncomponent = \"front\"\n\
         [[trigger.http]]\nroute = \"/open/...\"\ncomponent = \"open\"\n\
         [[trigger.http]]\nroute = {{ private = true }}\ncomponent = \"back\"\n\
         [component.front]\nsource = {probe}\nenvironment = {{ WHOAMI = \"front\" }}\n\
         allowed_outbound_hosts = [\"http://back.spin.internal\", \"http://self\"]\n\
         [component.open]\nsource = {probe}\nenvironment = {{ WHOAMI = \"open\" }}\n\
         allowed_outbound_hosts = [\"http://*.spin.internal\"]\n\
         [component.back]\nsource = {probe}\nenvironment = {{ WHOAMI = \"back\" }}\n",
        probe = toml_path(&guests().probe)
    ))
}

#[tokio::test]
async fn service_chaining_reaches_granted_components_in_process() {
    let app = chaining_app();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let chain = |url: &str, via: &str| {
        let url = wisp.url(&format!("/{via}/?op=fetch&url={}", encode(url)));
        async move { get(&url).await }
    };
    // To a private component by id.
    assert_eq!(
        chain("http://back.spin.internal/any", "front").await,
        (200, "hello from back\n".into())
    );
    // With the headers a routed request gets.
    let (status, headers) = chain("http://back.spin.internal/x/y?op=headers", "front").await;
    assert_eq!(status, 200, "{headers}");
    assert!(headers.contains("spin-path-info: /x/y\n"), "{headers}");
    assert!(
        headers.contains("spin-full-url: http://back.spin.internal/x/y?op=headers\n"),
        "{headers}"
    );
    // To the app itself, through the router.
    assert_eq!(
        chain("http://self.alt/open/", "front").await,
        (200, "hello from open\n".into())
    );
    // Not granted: `front` may reach `back` and itself only.
    let (status, body) = chain("http://open.spin.internal/", "front").await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
    // `open` may reach every component, but not the app's router or a missing component.
    assert_eq!(
        chain("http://front.spin.internal/", "open").await,
        (200, "hello from front\n".into())
    );
    let (status, body) = chain("http://self.alt/front/", "open").await;
    assert!(
        status == 502 && body.contains("HttpRequestDenied"),
        "{body}"
    );
    let (status, body) = chain("http://nosuch.spin.internal/", "open").await;
    assert!(
        status == 502 && body.contains("DestinationNotFound"),
        "{body}"
    );
}

#[tokio::test]
async fn a_chain_loop_is_cut_off_with_loop_detected() {
    let app = probe_app("\"http://self\"", "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url("/?op=chain-self")).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("LoopDetected"), "{body}");
    // Every instance of the chain is gone: the app still answers.
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
}

#[tokio::test]
async fn sockets_reach_only_granted_addresses() {
    let granted = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let granted_addr = granted.local_addr().unwrap().to_string();
    let refused_addr = refused.local_addr().unwrap().to_string();
    let app = probe_app(&format!("\"tcp://{granted_addr}\""), "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url(&format!("/?op=tcp&addr={granted_addr}"))).await;
    assert_eq!((status, body.as_str()), (200, "connected"));
    let (status, body) = get(&wisp.url(&format!("/?op=tcp&addr={refused_addr}"))).await;
    assert_eq!(status, 403, "{body}");
    refused.set_nonblocking(true).unwrap();
    assert!(
        refused.accept().is_err(),
        "the guest reached an address it was not granted"
    );
}
