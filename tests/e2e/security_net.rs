//! Network-side attacks (issue: security, items 3 and 5): connections that stall in
//! every state before or between requests, and a request that fans out through service
//! chaining.

use crate::harness::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads `stream` until the server closes it; false if it is still open after `wait`.
async fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut sink = Vec::new();
    tokio::time::timeout(wait, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

#[tokio::test]
async fn stalled_connections_lose_their_slot() {
    let probe = guests().probe.to_str().unwrap();
    let wisp = Wisp::start(&[
        "-f",
        probe,
        "--max-connections",
        "4",
        "--header-read-timeout",
        "1s",
    ]);
    let stalls: [&[u8]; 4] = [
        b"",                                 // connects and says nothing
        b"PRI * HTTP/2.0\r\n",               // half an HTTP/2 preface
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", // the preface, then nothing
        b"GET / HTTP/1.1\r\nHost: x\r\n",    // half an HTTP/1 head
    ];
    // Twice the cap: on today's code the first four hold every slot forever.
    for round in 0..2 {
        let mut held = Vec::new();
        for bytes in stalls {
            let mut s = TcpStream::connect(&wisp.addr).await.unwrap();
            s.write_all(bytes).await.unwrap();
            held.push(s);
        }
        for (i, s) in held.iter_mut().enumerate() {
            assert!(
                closed_by_server(s, Duration::from_secs(30)).await,
                "round {round}: stall {i} was never closed"
            );
        }
    }
    assert_eq!(get(&wisp.url("/")).await.0, 200);
}

#[tokio::test]
async fn an_idle_http2_connection_is_shut_down() {
    use http_body_util::{BodyExt, Empty};
    let probe = guests().probe.to_str().unwrap();
    let wisp = Wisp::start(&["-f", probe, "--idle-timeout", "1s"]);
    let stream = TcpStream::connect(&wisp.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let driver = tokio::spawn(conn);
    let req = http::Request::get(wisp.url("/"))
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    // The client keeps the connection (and answers pings) but sends nothing more: the
    // server says GOAWAY and closes it.
    let ended = tokio::time::timeout(Duration::from_secs(30), driver).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection was kept open");
}

#[tokio::test]
async fn a_fan_out_through_service_chaining_is_bounded_and_spares_other_components() {
    let probe = toml_path(&guests().probe);
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"fan\"\n\
         [[trigger.http]]\nroute = \"/tree/...\"\ncomponent = \"tree\"\n\
         [[trigger.http]]\nroute = \"/good/...\"\ncomponent = \"good\"\n\
         [component.tree]\nsource = {probe}\nallowed_outbound_hosts = [\"http://self\"]\n\
         [component.good]\nsource = {probe}\n"
    ));
    // A pool of 64: on today's code the tree's 3^6 = 729 instances take all of it.
    let wisp = Wisp::start(&["-f", &app.manifest(), "--max-instances", "64"]);
    let tree = tokio::spawn(get_owned(wisp.url("/tree/?op=tree&k=3&d=6")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // While the tree runs, another component still gets instances.
    for _ in 0..5 {
        assert_eq!(
            get(&wisp.url("/good/")).await,
            (200, "hello from probe\n".into())
        );
    }
    let (status, body) = tree.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let (instances, refused) = body
        .strip_prefix("instances=")
        .and_then(|r| r.split_once(" refused="))
        .map(|(n, m)| (n.parse::<u64>().unwrap(), m.parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("{body}"));
    // The first instance plus at most 64 chained ones (--max-fanout's default).
    assert!(instances <= 65, "{body}");
    assert!(refused > 0, "nothing was refused: {body}");
    // The budget is per request from the network: a small tree runs whole afterwards.
    assert_eq!(
        get(&wisp.url("/tree/?op=tree&k=2&d=2")).await,
        (200, "instances=7 refused=0".into())
    );
}

#[tokio::test]
async fn credentials_in_urls_and_chosen_bind_ports_are_refused() {
    let upstream = crate::upstream::Upstream::start();
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"edges\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = {}\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:{}\", \"udp://127.0.0.1:*\"]\n",
        toml_path(&guests().probe),
        upstream.port
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let fetch = |url: String| {
        let wisp_url = wisp.url(&format!("/?op=fetch&url={}", crate::upstream::encode(&url)));
        async move { get(&wisp_url).await }
    };
    assert_eq!(
        fetch(format!("http://127.0.0.1:{}/", upstream.port))
            .await
            .0,
        200
    );
    let (status, body) = fetch(format!("http://user:secret@127.0.0.1:{}/", upstream.port)).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestUriInvalid"), "{body}");
    assert_eq!(
        upstream.connections(),
        1,
        "the request with credentials reached the server"
    );

    // An ephemeral bind (what a send needs) is fine; a port of the guest's choosing is not.
    assert_eq!(
        get(&wisp.url("/?op=udp-bind&addr=127.0.0.1:0")).await,
        (200, "bound".into())
    );
    let port = free_port();
    let (status, body) = get(&wisp.url(&format!("/?op=udp-bind&addr=127.0.0.1:{port}"))).await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_busy_keep_alive_connection_outlives_the_first_request_deadline() {
    use http_body_util::{BodyExt, Empty};
    let probe = guests().probe.to_str().unwrap();
    let wisp = Wisp::start(&["-f", probe, "--header-read-timeout", "1s"]);
    let stream = TcpStream::connect(&wisp.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    // Requests every 300 ms for 3 s on one connection: three times the deadline a
    // connection has for its first request, which must not end it once it is served.
    for i in 0..10 {
        let req = http::Request::get(wisp.url("/"))
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = sender
            .send_request(req)
            .await
            .unwrap_or_else(|e| panic!("request {i} on the kept connection: {e}"));
        assert_eq!(resp.status(), 200);
        resp.into_body().collect().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
