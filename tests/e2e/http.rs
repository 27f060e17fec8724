//! What crosses the wire: Spin headers, response headers, bodies, protocols.

use crate::harness::*;
use futures::StreamExt;
use std::collections::BTreeMap;

pub(crate) fn probe_app(route: &str, base: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"h\"\n[application.trigger.http]\nbase = \"{base}\"\n\
         [[trigger.http]]\nroute = \"{route}\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = {}\n",
        toml_path(&guests().probe)
    ))
}

pub(crate) fn parse_report(body: &str) -> BTreeMap<String, String> {
    body.lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn guest_sees_spin_headers_and_request_parts() {
    let app = probe_app("/users/:id/...", "/v1");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let client = reqwest::Client::new();
    let resp = client
        .post(wisp.url("/v1/users/42/posts/7?op=headers&x=1"))
        // A client must not be able to spoof what the router decided.
        .header("spin-path-info", "/spoofed")
        .header("spin-path-match-id", "999")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = parse_report(&resp.text().await.unwrap());
    let port = wisp.addr.rsplit_once(':').unwrap().1;
    let expect = [
        ("method", "POST".to_owned()),
        (
            "path-with-query",
            "/v1/users/42/posts/7?op=headers&x=1".to_owned(),
        ),
        ("authority", wisp.addr.clone()),
        ("scheme", "http".to_owned()),
        (
            "spin-full-url",
            format!("http://{}/v1/users/42/posts/7?op=headers&x=1", wisp.addr),
        ),
        ("spin-path-info", "/posts/7".to_owned()),
        ("spin-matched-route", "/v1/users/:id/...".to_owned()),
        ("spin-raw-component-route", "/users/:id/...".to_owned()),
        ("spin-component-route", "/users/:id".to_owned()),
        ("spin-base-path", "/v1".to_owned()),
        ("spin-path-match-id", "42".to_owned()),
        ("x-custom", "kept".to_owned()),
    ];
    for (k, v) in expect {
        assert_eq!(r.get(k), Some(&v), "header {k} in {r:?}");
    }
    let client_addr = r.get("spin-client-addr").expect("spin-client-addr");
    assert!(
        client_addr.starts_with("127.0.0.1:") && !client_addr.ends_with(port),
        "{client_addr}"
    );
}

#[tokio::test]
async fn the_http_executor_may_be_named_http_or_spin() {
    let probe = toml_path(&guests().probe);
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"exec\"\n\
         [[trigger.http]]\nroute = \"/named-http/...\"\ncomponent = \"probe\"\n\
         executor = {{ type = \"http\" }}\n\
         [[trigger.http]]\nroute = \"/named-spin/...\"\ncomponent = \"probe\"\n\
         executor = {{ type = \"spin\" }}\n\
         [component.probe]\nsource = {probe}\n"
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    for path in ["/named-http/x?op=headers", "/named-spin/x?op=headers"] {
        assert_eq!(get(&wisp.url(path)).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn path_match_headers_name_underscored_segments_as_spin_does() {
    // Spin's own test shape: `/base` + `/:path_segment/:path_end/...`.
    let app = probe_app("/:path_segment/:path_end/...", "/base");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url("/base/path/end/rest?op=headers")).await;
    assert_eq!(status, 200, "{body}");
    let r = parse_report(&body);
    assert_eq!(
        r.get("spin-path-match-path-segment").map(String::as_str),
        Some("path")
    );
    assert_eq!(
        r.get("spin-path-match-path-end").map(String::as_str),
        Some("end")
    );
    assert_eq!(r.get("spin-path-info").map(String::as_str), Some("/rest"));
    let matches: Vec<&String> = r
        .keys()
        .filter(|k| k.starts_with("spin-path-match-"))
        .collect();
    assert_eq!(matches.len(), 2, "only Spin's names: {matches:?}");
}

#[tokio::test]
async fn host_adds_no_headers_and_empty_body_has_zero_length() {
    let app = probe_app("/...", "/");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    for (path, len) in [("/?op=empty", "0"), ("/", "17")] {
        let resp = reqwest::get(wisp.url(path)).await.unwrap();
        let mut names: Vec<&str> = resp.headers().keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["content-length", "date", "x-probe"], "{path}");
        assert_eq!(resp.headers()["content-length"], len, "{path}");
    }
    let resp = reqwest::get(wisp.url("/?op=status&code=418"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 418);
}

#[tokio::test]
async fn the_host_answers_spins_well_known_paths_itself() {
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"known\"\nversion = \"1.2.3\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = {}\n",
        toml_path(&guests().probe)
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(
        get(&wisp.url("/.well-known/spin/health")).await,
        (200, "OK".into())
    );
    // Spin's JSON, byte for byte (pretty-printed by serde_json there too).
    let info = reqwest::get(wisp.url("/.well-known/spin/info"))
        .await
        .unwrap();
    assert_eq!(
        info.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(
        info.text().await.unwrap(),
        "{\n  \"name\": \"known\",\n  \"version\": \"1.2.3\"\n}"
    );
    // The rest of the prefix is the host's too: a 404, though `/...` would match.
    assert_eq!(get(&wisp.url("/.well-known/spin/other")).await.0, 404);
    assert_eq!(
        get(&wisp.url("/.well-known/other")).await,
        (200, "hello from probe\n".into())
    );
}

#[tokio::test]
async fn keep_alive_and_h2c() {
    let app = probe_app("/...", "/");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // HTTP/1.1: several requests over one pooled connection.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for _ in 0..5 {
        let resp = client.get(wisp.url("/")).send().await.unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_11);
        assert!(resp.headers().get("connection").is_none());
        assert_eq!(resp.text().await.unwrap(), "hello from probe\n");
    }
    // h2c with prior knowledge.
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2.get(wisp.url("/?op=headers")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let r = parse_report(&resp.text().await.unwrap());
    assert_eq!(r.get("authority"), Some(&wisp.addr));
}

#[tokio::test]
async fn large_bodies_stream_with_bounded_memory() {
    let app = probe_app("/...", "/");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // Warm up an instance so the baseline includes the pool's first slot.
    assert_eq!(get(&wisp.url("/")).await.0, 200);
    let baseline = wisp.rss_kib();

    const MIB: usize = 1024 * 1024;
    const TOTAL: usize = 200 * MIB;
    let chunks = futures::stream::iter(
        (0..TOTAL / MIB)
            .map(|i| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![(i % 251) as u8; MIB]))),
    );
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling, pid) = (peak.clone(), sampling.clone(), wisp.child.id());
        std::thread::spawn(move || {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = s
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let resp = reqwest::Client::new()
        .post(wisp.url("/?op=echo"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut received = 0usize;
    let mut stream = resp.bytes_stream();
    let mut checked = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        // Spot-check content: byte at offset o belongs to MiB o / MIB.
        for (i, b) in chunk.iter().enumerate().step_by(4096) {
            let offset = received + i;
            assert_eq!(*b, ((offset / MIB) % 251) as u8, "byte {offset}");
            checked += 1;
        }
        received += chunk.len();
    }
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(received, TOTAL);
    assert!(checked > 1000);
    let growth_mib = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(baseline)
        / 1024;
    assert!(
        growth_mib < 64,
        "host memory grew by {growth_mib} MiB while streaming 200 MiB"
    );

    // And a large response the guest writes itself.
    let resp = reqwest::get(wisp.url(&format!("/?op=big&n={}", 50 * MIB)))
        .await
        .unwrap();
    assert_eq!(resp.bytes().await.unwrap().len(), 50 * MIB);
}
