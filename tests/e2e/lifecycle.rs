//! Process lifecycle: the compile cache across restarts, graceful shutdown.

use crate::harness::*;
use std::time::Duration;

#[tokio::test]
async fn second_start_loads_from_the_compile_cache() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let probe = guests().probe.to_str().unwrap();
    let first = Wisp::start(&["-f", probe, "--cache-dir", cache_dir]);
    assert!(
        first.stdout_text().contains("probe: compiled in"),
        "{}",
        first.stdout_text()
    );
    assert_eq!(get(&first.url("/")).await.0, 200);
    drop(first);

    let second = Wisp::start(&["-f", probe, "--cache-dir", cache_dir]);
    assert!(
        second
            .stdout_text()
            .contains("probe: loaded from compile cache in"),
        "{}",
        second.stdout_text()
    );
    assert_eq!(
        get(&second.url("/")).await,
        (200, "hello from probe\n".into())
    );
    drop(second);

    // A damaged entry is detected, discarded and recompiled.
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    }
    let third = Wisp::start(&["-f", probe, "--cache-dir", cache_dir]);
    assert!(
        third.stdout_text().contains("probe: compiled in"),
        "{}",
        third.stdout_text()
    );
    assert_eq!(get(&third.url("/")).await.0, 200);
}

#[tokio::test]
async fn each_component_runs_on_the_engine_it_needs_and_is_cached_for_it() {
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    // p2: WASI 0.2 only; p3: spin-sdk 7, WASI 0.3, needs component-model-async.
    let app = crate::wasi_p3::p3_app("");
    let engines = |wisp: &Wisp, how: &str| {
        let out = wisp.stdout_text();
        assert!(
            out.contains(&format!("p2: {how} in"))
                && out.contains(&format!("p3: {how} in"))
                && out
                    .lines()
                    .any(|l| l.starts_with("p2: ") && l.ends_with("runs on the WASI 0.2 engine"))
                && out.lines().any(|l| l.starts_with("p3: ")
                    && l.ends_with("runs on the component-model-async engine")),
            "{out}"
        );
    };
    for how in ["compiled", "loaded from compile cache"] {
        let wisp = Wisp::start(&["-f", &app.manifest(), "--cache-dir", cache_dir]);
        engines(&wisp, how);
        assert_eq!(
            get(&wisp.url("/p2/")).await,
            (200, "hello from probe\n".into())
        );
        assert_eq!(
            get(&wisp.url("/p3/")).await,
            (200, "hello from p3\n".into())
        );
    }
    // One entry per component, each under its own engine's key.
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    let mut wisp = Wisp::start(&["-f", guests().probe.to_str().unwrap()]);
    let slow = tokio::spawn(get_string(wisp.url("/?op=sleep&ms=1500")));
    tokio::time::sleep(Duration::from_millis(400)).await;
    wisp.terminate();
    let (status, body) = slow.await.unwrap();
    assert_eq!((status, body.as_str()), (200, "slept"));
    let exit = tokio::task::spawn_blocking(move || {
        let status = wisp.child.wait().unwrap();
        (status, wisp)
    })
    .await
    .unwrap();
    assert_eq!(exit.0.code(), Some(0));
    let wisp = exit.1;
    assert!(wisp.wait_for_stdout("Stopped"), "{}", wisp.stdout_text());
    // No longer accepting.
    assert!(reqwest::get(wisp.url("/")).await.is_err());
}

async fn get_string(url: String) -> (u16, String) {
    get(&url).await
}
