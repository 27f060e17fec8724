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
