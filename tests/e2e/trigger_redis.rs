//! `[[trigger.redis]]` against a real `redis-server`: messages run the component (built
//! with spin-sdk 5.2 and with spin-sdk 7), their effects read back through an HTTP route
//! of the same app; failures stay with their message; the trigger outlives a server
//! restart; shutdown lets a running handler finish.

use crate::harness::{AppDir, Wisp, free_port, get, guests, toml_path, up_fails};
use crate::servers::Redis;
use std::time::{Duration, Instant};

/// An app with an HTTP route reading the default store (`web`) and both Redis guests:
/// `sub` (spin-sdk 5.2) on channel `events`, `sub3` (spin-sdk 7) on `events3`. The
/// address comes from a variable, as Spin apps write it.
pub(crate) fn redis_app(address: &str) -> AppDir {
    let g = guests();
    AppDir::new(&format!(
        r#"spin_manifest_version = 2
[application]
name = "redis-events"
[application.trigger.redis]
address = "{{{{ redis_address }}}}"
[variables]
redis_address = {{ default = "{address}" }}

[[trigger.redis]]
channel = "events"
component = "sub"
[[trigger.redis]]
channel = "events3"
component = "sub3"

[component.sub]
source = {sub}
key_value_stores = ["default"]
[component.sub3]
source = {sub3}
key_value_stores = ["default"]
{web}"#,
        web = store_reader(),
        sub = toml_path(&g.redis_sub),
        sub3 = toml_path(&g.redis_sub_p3),
    ))
}

/// The `web` component every event test app carries: an HTTP route (`/...`) on the
/// default store, through which a test reads what the handlers wrote.
pub fn store_reader() -> String {
    format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n\
         [component.web]\nsource = {}\nkey_value_stores = [\"default\"]\n",
        toml_path(&guests().spin_app)
    )
}

/// The default store's keys, as the app's HTTP route lists them.
pub async fn kv_keys(wisp: &Wisp) -> Vec<String> {
    let (status, body) = get(&wisp.url("/?op=kv-keys")).await;
    assert_eq!(status, 200, "{body}");
    body.split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Polls the store (bounded) until it holds every one of `keys`; returns its keys.
pub async fn wait_for_keys(wisp: &Wisp, keys: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = kv_keys(wisp).await;
        if keys.iter().all(|k| now.iter().any(|n| n == k)) || Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn each_message_runs_its_channels_component_whatever_sdk_built_it() {
    let redis = Redis::start();
    let app = redis_app(&redis.url());
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert!(
        wisp.stdout_text()
            .contains(&format!("Redis: channel `events` on {}", redis.url())),
        "{}",
        wisp.stdout_text()
    );
    for message in ["one", "two", "three"] {
        assert_eq!(redis.cli(&["publish", "events", message]), "1");
    }
    assert_eq!(redis.cli(&["publish", "events3", "async"]), "1");
    let keys = wait_for_keys(
        &wisp,
        &["redis:one", "redis:two", "redis:three", "redis3:async"],
    )
    .await;
    assert_eq!(
        keys,
        ["redis3:async", "redis:one", "redis:three", "redis:two"],
        "each message on its own channel's component, once"
    );
}

#[tokio::test]
async fn a_trap_or_a_timeout_fails_only_its_own_message() {
    let redis = Redis::start();
    let app = redis_app(&redis.url());
    let wisp = Wisp::start(&["-f", &app.manifest(), "--timeout", "1s"]);
    redis.cli(&["publish", "events", "trap"]);
    redis.cli(&["publish", "events", "loop"]);
    redis.cli(&["publish", "events3", "trap"]);
    redis.cli(&["publish", "events", "after"]);
    let keys = wait_for_keys(&wisp, &["redis:after"]).await;
    assert_eq!(keys, ["redis:after"]);
    let stderr = wisp.wait_for_stderr("ran past its 1s timeout");
    assert!(stderr.contains("ran past its 1s timeout"), "{stderr}");
    for component in ["\"sub\"", "\"sub3\""] {
        assert!(
            stderr.lines().any(|l| l.contains("guest failed")
                && l.contains(component)
                && l.contains("channel")),
            "the trap is logged with the component and channel: {stderr}"
        );
    }
    // The trigger is still serving.
    redis.cli(&["publish", "events3", "later"]);
    let keys = wait_for_keys(&wisp, &["redis3:later"]).await;
    assert!(keys.contains(&"redis3:later".to_owned()), "{keys:?}");
}

#[tokio::test]
async fn the_trigger_resubscribes_after_the_server_restarts() {
    let port = free_port();
    let redis = Redis::start_on(port);
    let app = redis_app(&redis.url());
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    redis.cli(&["publish", "events", "before"]);
    wait_for_keys(&wisp, &["redis:before"]).await;

    redis.stop();
    let stderr = wisp.wait_for_stderr("lost the connection");
    assert!(stderr.contains("lost the connection"), "{stderr}");
    // HTTP keeps serving while the server is away.
    assert_eq!(kv_keys(&wisp).await, ["redis:before"]);

    let redis = Redis::start_on(port);
    // Both components' subscriptions come back.
    let deadline = Instant::now() + Duration::from_secs(20);
    while wisp.stderr_text().matches("resubscribed").count() < 2 {
        assert!(Instant::now() < deadline, "{}", wisp.stderr_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    let stderr = wisp.stderr_text();
    assert_eq!(redis.cli(&["publish", "events", "after"]), "1");
    let keys = wait_for_keys(&wisp, &["redis:after"]).await;
    assert_eq!(keys, ["redis:after", "redis:before"]);
    // One subscription per component: each logs the outage once, not per attempt.
    // (The component is the line's last field.)
    for component in ["sub", "sub3"] {
        let lost = stderr
            .lines()
            .filter(|l| l.contains("lost the connection") && l.ends_with(component))
            .count();
        assert_eq!(lost, 1, "{component}: {stderr}");
    }
}

#[tokio::test]
async fn shutdown_lets_a_running_handler_finish_then_unsubscribes() {
    let redis = Redis::start();
    let app = redis_app(&redis.url());
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let mut wisp = Wisp::start(&["-f", &app.manifest(), "--state-dir", state_dir]);
    assert_eq!(redis.cli(&["publish", "events", "sleep:1500"]), "1");
    // The handler is running (it sleeps before writing) when the signal comes.
    std::thread::sleep(Duration::from_millis(300));
    wisp.terminate();
    let status = wisp.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        redis.cli(&["pubsub", "numsub", "events"]),
        "events\n0",
        "unsubscribed"
    );
    // The finished handler's write is in the store the next run reads.
    let again = Wisp::start(&["-f", &app.manifest(), "--state-dir", state_dir]);
    assert_eq!(kv_keys(&again).await, ["redis:sleep:1500"]);
}

#[test]
fn an_unreachable_server_at_startup_is_one_clear_error() {
    let address = format!("redis://127.0.0.1:{}", free_port());
    let app = redis_app(&address);
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains(&format!("cannot subscribe on {address}")),
        "{err}"
    );
}

#[test]
fn a_component_without_the_redis_export_is_refused() {
    let g = guests();
    let app = AppDir::new(&format!(
        r#"spin_manifest_version = 2
[application]
name = "wrong"
[application.trigger.redis]
address = "redis://127.0.0.1:1"
[[trigger.redis]]
channel = "events"
component = "web"
[component.web]
source = {}
"#,
        toml_path(&g.spin_app)
    ));
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("component `web` does not export `fermyon:spin/inbound-redis`"),
        "{err}"
    );
}

#[test]
fn a_bad_address_names_the_trigger_and_field() {
    let app = redis_app("not a url");
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("redis trigger `redis-trigger-1`: `address` \"not a url\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_burst_past_the_instance_limit_and_its_queue_waits_instead_of_being_dropped() {
    let redis = Redis::start();
    let app = redis_app(&redis.url());
    // Two instances, and more messages at once than they and the executor's queue
    // (1,024) hold: the subscription must stop reading, not drop the excess.
    let wisp = Wisp::start(&["-f", &app.manifest(), "--max-instances-per-component", "2"]);
    let burst = 1_500;
    redis.cli(&[
        "eval",
        "for i = 1, tonumber(ARGV[1]) do redis.call('PUBLISH', KEYS[1], 'm' .. i) end",
        "1",
        "events",
        &burst.to_string(),
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut handled = 0;
    while Instant::now() < deadline {
        handled = kv_keys(&wisp).await.len();
        if handled == burst {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(handled, burst, "{}", wisp.stderr_text());
    assert!(
        !wisp.stderr_text().contains("dropped"),
        "{}",
        wisp.stderr_text()
    );
}

#[tokio::test]
async fn a_tls_server_is_verified_with_the_components_client_tls_settings() {
    let ca = crate::servers::TestCa::new();
    let redis = Redis::start_tls(&ca);
    let host = format!("localhost:{}", redis.port);
    let app = redis_app(&format!("rediss://{host}"));
    ca.write_to(app.path());
    // The test CA is not trusted by default, and the server wants a client certificate.
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains(&format!("cannot subscribe on rediss://{host}")),
        "{err}"
    );
    let mut config = String::new();
    for component in ["sub", "sub3"] {
        config.push_str(&format!(
            "[[client_tls]]\ncomponent_ids = [\"{component}\"]\nhosts = [\"{host}\"]\n\
             ca_roots_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\n\
             client_private_key_file = \"client.key\"\n"
        ));
    }
    let runtime_config = app.write_runtime_config(&config);
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--runtime-config-file",
        &runtime_config,
    ]);
    let file = |name: &str| app.path().join(name).display().to_string();
    let (ca_file, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let tls = [
        "--tls", "--cacert", &ca_file, "--cert", &cert, "--key", &key,
    ];
    let publish = |channel: &str, message: &str| {
        let mut args = tls.to_vec();
        args.extend(["publish", channel, message]);
        redis.cli(&args)
    };
    assert_eq!(publish("events", "secure"), "1");
    assert_eq!(publish("events3", "secure"), "1");
    let keys = wait_for_keys(&wisp, &["redis:secure", "redis3:secure"]).await;
    assert_eq!(keys, ["redis3:secure", "redis:secure"]);
}

#[tokio::test]
async fn a_server_that_stops_answering_is_noticed_by_its_pings_and_reconnected() {
    let redis = Redis::start();
    let app = redis_app(&redis.url());
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // For 25 s the server keeps the socket open but answers nothing, as behind a
    // partition: only the subscription's pings (every 10 s, 5 s to answer) can tell.
    // (CLIENT UNPAUSE would wait for the pause itself: the pause just runs out.)
    assert_eq!(redis.cli(&["client", "pause", "25000", "ALL"]), "OK");
    let deadline = Instant::now() + Duration::from_secs(24);
    while !wisp.stderr_text().contains("lost the connection") {
        assert!(Instant::now() < deadline, "{}", wisp.stderr_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    while wisp.stderr_text().matches("resubscribed").count() < 2 {
        assert!(Instant::now() < deadline, "{}", wisp.stderr_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(redis.cli(&["publish", "events", "after-pause"]), "1");
    let keys = wait_for_keys(&wisp, &["redis:after-pause"]).await;
    assert!(keys.contains(&"redis:after-pause".to_owned()), "{keys:?}");
}
