//! Per-instance limits and fault isolation: a hostile component gets a clear status, and a
//! good component on the same host keeps answering during and after.

use crate::harness::*;
use std::time::{Duration, Instant};

fn hostile_app() -> AppDir {
    let probe = toml_path(&guests().probe);
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"limits\"\n\
         [[trigger.http]]\nroute = \"/bad/...\"\ncomponent = \"bad\"\n\
         [[trigger.http]]\nroute = \"/slow/...\"\ncomponent = \"slow\"\n\
         [[trigger.http]]\nroute = \"/good/...\"\ncomponent = \"good\"\n\
         [component.bad]\nsource = {probe}\nenvironment = {{ WHOAMI = \"bad\" }}\n\
         [component.bad.limits]\nmemory = \"16MiB\"\ntimeout = \"1s\"\n\
         [component.slow]\nsource = {probe}\n\
         [component.slow.limits]\nmax_instances = 2\n\
         [component.good]\nsource = {probe}\nenvironment = {{ WHOAMI = \"good\" }}\n"
    ))
}

async fn good_answers(wisp: &Wisp) {
    assert_eq!(
        get(&wisp.url("/good/")).await,
        (200, "hello from good\n".into())
    );
}

#[tokio::test]
async fn infinite_loop_gets_504_within_its_timeout() {
    let app = hostile_app();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let started = Instant::now();
    let looping = tokio::spawn(get_owned(wisp.url("/bad/?op=loop")));
    // While it spins, the good component answers.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        good_answers(&wisp).await;
    }
    let (status, body) = looping.await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!((status, body.as_str()), (504, "Gateway Timeout"));
    assert!(
        elapsed >= Duration::from_secs(1),
        "stopped before its timeout: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(3),
        "took {elapsed:?} to stop a 1 s loop"
    );
    good_answers(&wisp).await;
    assert_eq!(
        get(&wisp.url("/bad/")).await,
        (200, "hello from bad\n".into())
    );
}

#[tokio::test]
async fn memory_bomb_and_stack_overflow_fail_only_their_request() {
    let app = hostile_app();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let rss_before = wisp.rss_kib();
    for op in ["membomb", "recurse", "membomb"] {
        let (status, _) = get(&wisp.url(&format!("/bad/?op={op}"))).await;
        assert_eq!(status, 500, "{op}");
        good_answers(&wisp).await;
    }
    // The 16 MiB limit held: three bombs did not grow the host by anything like a GiB.
    let growth_mib = wisp.rss_kib().saturating_sub(rss_before) / 1024;
    assert!(growth_mib < 64, "host grew by {growth_mib} MiB");
    assert_eq!(get(&wisp.url("/bad/")).await.0, 200);
}

#[tokio::test]
async fn max_instances_queues_then_answers_503_with_retry_after() {
    let app = hostile_app();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let started = Instant::now();
    // `slow` allows 2 instances; each request holds one for 6 s, longer than the 5 s queue.
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let url = wisp.url("/slow/?op=sleep&ms=6000");
            tokio::spawn(async move {
                let resp = reqwest::get(url).await.unwrap();
                let retry = resp
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                (resp.status().as_u16(), retry)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    good_answers(&wisp).await;
    let mut ok = 0;
    let mut unavailable = 0;
    for r in requests {
        match r.await.unwrap() {
            (200, None) => ok += 1,
            (503, Some(retry)) => {
                assert_eq!(retry, "1");
                unavailable += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, unavailable), (2, 4));
    assert!(started.elapsed() < Duration::from_secs(12));
    good_answers(&wisp).await;
}

#[tokio::test]
async fn global_flags_set_the_defaults() {
    let app = hostile_app();
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--timeout",
        "500ms",
        "--memory-limit",
        "8MiB",
    ]);
    let started = Instant::now();
    assert_eq!(get(&wisp.url("/good/?op=loop")).await.0, 504);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(get(&wisp.url("/good/?op=membomb")).await.0, 500);
    // The component's own limits still win over the flags.
    let started = Instant::now();
    assert_eq!(get(&wisp.url("/bad/?op=loop")).await.0, 504);
    assert!(started.elapsed() >= Duration::from_secs(1));
    good_answers(&wisp).await;
}

#[tokio::test]
async fn client_disconnect_frees_the_instance_slot() {
    let probe = toml_path(&guests().probe);
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"one-slot\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"single\"\n\
         [component.single]\nsource = {probe}\n[component.single.limits]\nmax_instances = 1\n"
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // The client gives up long before the guest would finish.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(
        impatient
            .get(wisp.url("/?op=sleep&ms=20000"))
            .send()
            .await
            .is_err()
    );
    // The only slot must come back promptly: well before the 5 s queue wait runs out.
    let started = Instant::now();
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "slot freed after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn guest_log_files_are_capped_and_rotated() {
    let state = tempfile::tempdir().unwrap();
    let wisp = Wisp::start(&[
        "-f",
        guests().probe.to_str().unwrap(),
        "--state-dir",
        state.path().to_str().unwrap(),
        "--log-max-size",
        "64KiB",
    ]);
    for _ in 0..4 {
        assert_eq!(get(&wisp.url("/?op=spam&n=200&size=1000")).await.0, 200);
    }
    let logs = state.path().join("logs");
    let current = std::fs::metadata(logs.join("probe_stdout.txt"))
        .unwrap()
        .len();
    let rotated = std::fs::metadata(logs.join("probe_stdout.txt.1"))
        .unwrap()
        .len();
    assert!(
        current <= 64 * 1024 && rotated <= 64 * 1024,
        "{current} {rotated}"
    );
    // The newest output is kept.
    let text = std::fs::read_to_string(logs.join("probe_stdout.txt")).unwrap();
    assert!(
        text.trim_end().ends_with(&"x".repeat(990)),
        "last line missing"
    );
    assert!(text.contains("00000199 "), "last batch missing");
    good_after_spam(&wisp).await;
}

async fn good_after_spam(wisp: &Wisp) {
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
}

mod listener {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn probe_with(extra: &[&str]) -> Wisp {
        let mut args = vec!["-f", guests().probe.to_str().unwrap()];
        args.extend_from_slice(extra);
        Wisp::start(&args)
    }

    /// Whether the server closed `stream` within `within` (reads EOF or a reset).
    fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        stream.set_read_timeout(Some(within)).unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue, // e.g. a 408 before the close
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }

    #[tokio::test]
    async fn oversized_headers_get_431() {
        let wisp = probe_with(&["--max-header-size", "16KiB"]);
        let resp = reqwest::Client::new()
            .get(wisp.url("/"))
            .header("x-big", "a".repeat(64 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 431);
        assert_eq!(get(&wisp.url("/")).await.0, 200);
    }

    #[test]
    fn slow_headers_and_idle_keep_alive_are_dropped() {
        let wisp = probe_with(&["--header-read-timeout", "1s"]);
        // A client sending its head one byte at a time is cut off at the timeout.
        let mut slow = TcpStream::connect(&wisp.addr).unwrap();
        let started = Instant::now();
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut cut_off = false;
        for byte in head {
            if slow.write_all(&[*byte]).is_err() {
                cut_off = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            if started.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        assert!(
            cut_off || closed_within(&mut slow, Duration::from_millis(500)),
            "slow client kept"
        );
        assert!(started.elapsed() < Duration::from_secs(4));

        // An idle keep-alive connection is closed after the same timeout.
        let mut idle = TcpStream::connect(&wisp.addr).unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        idle.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 1024];
        let n = idle.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(
            closed_within(&mut idle, Duration::from_secs(3)),
            "idle connection kept open"
        );
    }

    #[tokio::test]
    async fn bodies_over_the_limit_get_413() {
        let wisp = probe_with(&["--max-body-size", "1KiB"]);
        let client = reqwest::Client::new();
        let small = client
            .post(wisp.url("/?op=echo"))
            .body(vec![b'a'; 512])
            .send()
            .await
            .unwrap();
        assert_eq!(small.status(), 200);
        assert_eq!(small.bytes().await.unwrap().len(), 512);
        // Declared too large: refused before the guest runs.
        let big = client
            .post(wisp.url("/?op=echo"))
            .body(vec![b'a'; 4096])
            .send()
            .await
            .unwrap();
        assert_eq!(big.status(), 413);
        // Chunked, no length: refused when the limit is crossed.
        let chunks = futures::stream::iter(
            (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; 512]))),
        );
        let status = match client
            .post(wisp.url("/?op=count-body"))
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
        {
            Ok(resp) => resp.status().as_u16(),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(status, 413);
        assert_eq!(get(&wisp.url("/")).await.0, 200);
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait() {
        let wisp = probe_with(&["--max-connections", "2"]);
        let hold: Vec<TcpStream> = (0..2)
            .map(|_| TcpStream::connect(&wisp.addr).unwrap())
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let quick = reqwest::Client::builder()
            .timeout(Duration::from_millis(700))
            .build()
            .unwrap();
        assert!(
            quick.get(wisp.url("/")).send().await.is_err(),
            "a third connection was served"
        );
        drop(hold);
        assert_eq!(get(&wisp.url("/")).await.0, 200);
    }
}

#[tokio::test]
async fn trap_after_partial_body_cuts_the_connection() {
    let app = hostile_app();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let resp = reqwest::get(wisp.url("/bad/?op=partial")).await.unwrap();
    assert_eq!(resp.status(), 200, "headers had gone out before the trap");
    assert!(
        resp.bytes().await.is_err(),
        "a truncated body must not look complete"
    );
    good_answers(&wisp).await;
}

#[tokio::test]
async fn a_guest_reading_an_endless_body_is_stopped_by_its_timeout() {
    let app = hostile_app();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let endless = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"more ")),
            (),
        ))
    });
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(wisp.url("/bad/?op=count-body"))
        .body(reqwest::Body::wrap_stream(endless))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    good_answers(&wisp).await;
}

#[tokio::test]
async fn a_thousand_slow_requests_against_ten_instances() {
    let probe = toml_path(&guests().probe);
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"crowd\"\n\
         [[trigger.http]]\nroute = \"/ten/...\"\ncomponent = \"ten\"\n\
         [[trigger.http]]\nroute = \"/good/...\"\ncomponent = \"good\"\n\
         [component.ten]\nsource = {probe}\n[component.ten.limits]\nmax_instances = 10\n\
         [component.good]\nsource = {probe}\nenvironment = {{ WHOAMI = \"good\" }}\n"
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let rss_before = wisp.rss_kib();
    let client = reqwest::Client::new();
    let crowd: Vec<_> = (0..1000)
        .map(|_| {
            let (client, url) = (client.clone(), wisp.url("/ten/?op=sleep&ms=100"));
            tokio::spawn(async move {
                let resp = client.get(url).send().await.unwrap();
                let retry = resp.headers().contains_key("retry-after");
                (resp.status().as_u16(), retry)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    good_answers(&wisp).await;
    let (mut ok, mut unavailable) = (0, 0);
    for r in crowd {
        match r.await.unwrap() {
            (200, false) => ok += 1,
            (503, true) => unavailable += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(ok + unavailable, 1000);
    // Ten slots for ~5 s of queueing at 100 ms each serve a few hundred at least.
    assert!(ok >= 200, "only {ok} served");
    good_answers(&wisp).await;
    let growth_mib = wisp.rss_kib().saturating_sub(rss_before) / 1024;
    assert!(growth_mib < 256, "host grew by {growth_mib} MiB");
}

#[tokio::test]
async fn a_full_instance_pool_answers_503_with_retry_after() {
    // The pool holds two instances in all, though the component would allow ten.
    let wisp = Wisp::start(&[
        "-f",
        guests().probe.to_str().unwrap(),
        "--max-instances",
        "2",
        "--max-instances-per-component",
        "10",
    ]);
    let requests: Vec<_> = (0..5)
        .map(|_| {
            let url = wisp.url("/?op=sleep&ms=1500");
            tokio::spawn(async move {
                let resp = reqwest::get(url).await.unwrap();
                (
                    resp.status().as_u16(),
                    resp.headers().contains_key("retry-after"),
                )
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            (200, false),
            (200, false),
            (503, true),
            (503, true),
            (503, true)
        ]
    );
    // Slots come back: the host serves normally afterwards.
    assert_eq!(get(&wisp.url("/")).await.0, 200);
}

#[tokio::test]
async fn the_memory_limit_covers_every_memory_of_a_composed_instance() {
    // Two components composed into one (wac): each instance has two linear memories.
    let pair = toml_path(&guests().memory_pair);
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"pair\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"pair\"\n\
         [component.pair]\nsource = {pair}\n[component.pair.limits]\nmemory = \"128MiB\"\n"
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // 40 MiB in each memory: 80 MiB, within the instance's 128.
    assert_eq!(
        get(&wisp.url("/?hold=40&own=40")).await,
        (200, "held 40 own 40".into())
    );
    // 100 MiB in either memory alone is within the limit…
    for query in ["hold=100&own=0", "hold=0&own=100"] {
        let (status, body) = get(&wisp.url(&format!("/?{query}"))).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    let rss_before = wisp.rss_kib();
    // …but not in both: the instance's memories together are over 128 MiB, and the
    // second allocation fails in the guest (a per-memory limit would allow it).
    for _ in 0..4 {
        let (status, body) = get(&wisp.url("/?hold=100&own=100")).await;
        assert_eq!(status, 500, "{body}");
    }
    let growth_mib = wisp.rss_kib().saturating_sub(rss_before) / 1024;
    assert!(
        growth_mib < 160,
        "four 200 MiB attempts grew the host by {growth_mib} MiB"
    );
    assert_eq!(
        get(&wisp.url("/?hold=1&own=1")).await,
        (200, "held 1 own 1".into())
    );
}
