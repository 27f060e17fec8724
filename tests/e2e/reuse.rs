//! Opt-in instance reuse: an instance (WASI 0.2 or 0.3) serves up to `instance_reuse` sequential
//! requests of its own component (the probe's `count` is a static in the guest, so it
//! shows which instance answered), and is dropped after a trap; fresh-per-request stays
//! the default.

use crate::harness::*;

async fn counts(wisp: &Wisp, path: &str, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (status, body) = get(&wisp.url(&format!("{path}?op=count"))).await;
        assert_eq!(status, 200, "{body}");
        seen.push(body);
    }
    seen
}

#[tokio::test]
async fn instances_serve_up_to_n_requests_of_their_own_component_and_die_on_a_trap() {
    let probe = toml_path(&guests().probe);
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"reuse\"\n\
         [[trigger.http]]\nroute = \"/kept/...\"\ncomponent = \"kept\"\n\
         [[trigger.http]]\nroute = \"/fresh/...\"\ncomponent = \"fresh\"\n\
         [component.kept]\nsource = {probe}\n\
         [component.kept.limits]\ninstance_reuse = 3\n\
         [component.fresh]\nsource = {probe}\n"
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(
        counts(&wisp, "/kept/", 7).await,
        ["1", "2", "3", "1", "2", "3", "1"]
    );
    // The other component's requests never land on a kept instance.
    assert_eq!(counts(&wisp, "/fresh/", 3).await, ["1", "1", "1"]);
    assert_eq!(counts(&wisp, "/kept/", 1).await, ["2"]);
    // A trap drops the instance: the next request starts over.
    assert_eq!(get(&wisp.url("/kept/?op=trap")).await.0, 500);
    assert_eq!(counts(&wisp, "/kept/", 2).await, ["1", "2"]);
}

#[tokio::test]
async fn the_global_flag_sets_the_default_and_one_means_fresh() {
    let probe = guests().probe.to_str().unwrap();
    let wisp = Wisp::start(&["-f", probe, "--instance-reuse", "2"]);
    assert_eq!(counts(&wisp, "/", 4).await, ["1", "2", "1", "2"]);
    let wisp = Wisp::start(&["-f", probe, "--instance-reuse", "1"]);
    assert_eq!(counts(&wisp, "/", 3).await, ["1", "1", "1"]);
    let out = run_wisp(&["up", "-f", probe, "--instance-reuse", "0"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--instance-reuse"),
        "{err}"
    );
}

#[tokio::test]
async fn an_idle_instance_is_dropped_after_its_timeout() {
    let probe = guests().probe.to_str().unwrap();
    let wisp = Wisp::start(&["-f", probe, "--instance-reuse", "1000"]);
    assert_eq!(counts(&wisp, "/", 2).await, ["1", "2"]);
    // Kept instances live 10 s unused (the sweeper looks once a second).
    tokio::time::sleep(std::time::Duration::from_millis(11_500)).await;
    assert_eq!(counts(&wisp, "/", 2).await, ["1", "2"]);
}

#[tokio::test]
async fn wasi_0_3_instances_are_reused_one_request_at_a_time_when_asked() {
    let p3 = toml_path(&guests().p3_app);
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"reuse3\"\n\
         [[trigger.http]]\nroute = \"/kept/...\"\ncomponent = \"kept\"\n\
         [[trigger.http]]\nroute = \"/fresh/...\"\ncomponent = \"fresh\"\n\
         [component.kept]\nsource = {p3}\n\
         [component.kept.limits]\ninstance_reuse = 3\n\
         [component.fresh]\nsource = {p3}\n"
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // A WASI 0.3 instance goes back to the pool when its event loop returns, just after
    // its body's last byte; a client quick enough to send its next request first gets a
    // fresh instance. So: no instance serves more than 3, and instances are reused.
    let seen: Vec<u32> = counts(&wisp, "/kept/", 12)
        .await
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(seen.iter().all(|n| (1..=3).contains(n)), "{seen:?}");
    assert!(
        seen.contains(&3),
        "no instance was reused up to its limit: {seen:?}"
    );
    assert_eq!(counts(&wisp, "/fresh/", 3).await, ["1", "1", "1"]);
    // A streamed body (the echo) ends cleanly, and a trap is a 500; the component serves
    // on, within its limit.
    let echoed = reqwest::Client::new()
        .post(wisp.url("/kept/?op=echo"))
        .body("round trip")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.text().await.unwrap(), "round trip");
    assert_eq!(get(&wisp.url("/kept/?op=trap")).await.0, 500);
    for n in counts(&wisp, "/kept/", 6).await {
        assert!(["1", "2", "3"].contains(&n.as_str()), "{n}");
    }
}

/// `(started, in_flight)` from the p3 guest's `overlap` answer.
fn overlap(body: &str) -> (u32, u32) {
    let field = |name: &str| -> u32 {
        body.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {body:?}"))
    };
    (field("started"), field("in_flight"))
}

/// An app whose one WASI 0.3 component shares each instance between up to 4 requests.
fn shared_app(timeout: &str) -> AppDir {
    let p3 = toml_path(&guests().p3_app);
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"shared3\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"shared\"\n\
         [component.shared]\nsource = {p3}\n\
         [component.shared.limits]\ninstance_reuse = 100\ninstance_concurrency = 4\n\
         timeout = \"{timeout}\"\n"
    ))
}

#[tokio::test]
async fn wasi_0_3_instances_serve_concurrent_requests_when_asked() {
    let app = shared_app("30s");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let url = |ms: u32| wisp.url(&format!("/?op=overlap&ms={ms}"));
    // The first request makes the instance, which then waits for more.
    let (status, body) = get(&url(0)).await;
    assert_eq!((status, overlap(&body)), (200, (1, 1)), "{body}");
    // Four requests that overlap in time, sent one after another: each joins the
    // instance the earlier ones are still waiting in.
    let mut waiting = Vec::new();
    for ms in [1_600, 1_400, 1_200, 1_000] {
        waiting.push(tokio::spawn(get_owned(url(ms))));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // With four in flight the instance is full: a fifth gets an instance of its own.
    let (status, body) = get(&url(0)).await;
    assert_eq!((status, overlap(&body)), (200, (1, 1)), "{body}");
    let mut seen = Vec::new();
    for request in waiting {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        seen.push(overlap(&body));
    }
    assert_eq!(seen, [(2, 1), (3, 2), (4, 3), (5, 4)]);
}

#[tokio::test]
async fn a_trap_or_timeout_on_a_shared_instance_fails_the_requests_it_was_serving() {
    let app = shared_app("2s");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let url = |op: &str| wisp.url(&format!("/?op={op}"));
    // A trap ends the instance at once; a busy loop holds it (and the request waiting
    // beside it) until the timeout ends it, and both report the timeout.
    for (op, status) in [("trap", 500), ("loop", 504)] {
        assert_eq!(get(&url("overlap&ms=0")).await.0, 200);
        // A request waiting in the one instance, then a failing one beside it.
        let waiting = tokio::spawn(get_owned(url("overlap&ms=1500")));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(get(&url(op)).await.0, status, "{op}");
        let (got, body) = waiting.await.unwrap();
        assert_eq!(got, status, "{op}: the instance ended under it: {body}");
        // The next request gets a fresh instance, and it answers.
        let (got, body) = get(&url("overlap&ms=0")).await;
        assert_eq!((got, overlap(&body)), (200, (1, 1)), "{op}: {body}");
    }
}
