//! `[[trigger.cron]]`: schedules fire the component with the scheduled time, never two
//! runs of one trigger at once, traps fail one tick; a bad schedule stops `wisp up`
//! before anything loads. Mixed with HTTP and Redis in one app.

use crate::harness::{AppDir, Wisp, guests, toml_path, up_fails};
use crate::servers::Redis;
use crate::trigger_redis::{store_reader, wait_for_keys};
use std::time::{Duration, Instant};

/// An app with an HTTP route reading the default store (`web`) and the cron guest
/// (`tick`) on `schedule`, with `MODE` set to `mode`; `extra` is appended.
fn cron_app(schedule: &str, mode: &str, extra: &str) -> AppDir {
    let g = guests();
    AppDir::new(&format!(
        r#"spin_manifest_version = 2
[application]
name = "cron-events"

[[trigger.cron]]
cron_expression = "{schedule}"
component = "tick"

[component.tick]
source = {tick}
key_value_stores = ["default"]
environment = {{ MODE = "{mode}" }}
{web}{extra}"#,
        web = store_reader(),
        tick = toml_path(&g.cron_tick),
    ))
}

/// An app whose one trigger is an every-second schedule running `source` as `tick`.
fn cron_only_app(source: &std::path::Path) -> AppDir {
    AppDir::new(&format!(
        r#"spin_manifest_version = 2
[application]
name = "cron-only"
[[trigger.cron]]
cron_expression = "* * * * * *"
component = "tick"
[component.tick]
source = {}
key_value_stores = ["default"]
"#,
        toml_path(source)
    ))
}

/// The scheduled times (Unix seconds) the ticks recorded, in order.
fn tick_times(keys: &[String]) -> Vec<u64> {
    let mut times: Vec<u64> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("tick:"))
        .map(|t| t.parse().expect("a timestamp"))
        .collect();
    times.sort();
    times
}

/// Polls (bounded) until the store holds at least `n` ticks; their times.
async fn wait_for_ticks(wisp: &Wisp, n: usize) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let times = tick_times(&crate::trigger_redis::kv_keys(wisp).await);
        if times.len() >= n || Instant::now() > deadline {
            return times;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_schedule_fires_at_its_times_with_the_scheduled_timestamp() {
    let app = cron_app("*/2 * * * * *", "", "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert!(
        wisp.stdout_text()
            .contains("Cron: cron-trigger-1: `*/2 * * * * *` (UTC)"),
        "{}",
        wisp.stdout_text()
    );
    let times = wait_for_ticks(&wisp, 3).await;
    assert!(times.len() >= 3, "{times:?}");
    assert!(
        times.iter().all(|t| t % 2 == 0),
        "every even second, as scheduled: {times:?}"
    );
    assert!(
        times.windows(2).all(|w| w[1] > w[0]),
        "one run per scheduled time: {times:?}"
    );
}

#[tokio::test]
async fn a_tick_that_comes_while_the_last_run_is_going_is_skipped() {
    let app = cron_app("* * * * * *", "sleep:2500", "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let stderr = wisp.wait_for_stderr("tick skipped");
    assert!(
        stderr.contains("previous run still going: tick skipped"),
        "{stderr}"
    );
    let times = wait_for_ticks(&wisp, 2).await;
    assert!(
        times.windows(2).all(|w| w[1] - w[0] >= 2),
        "runs never overlap: {times:?}"
    );
}

#[tokio::test]
async fn a_trapping_run_fails_alone_and_the_schedule_goes_on() {
    let app = cron_app("* * * * * *", "trap", "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stderr = String::new();
    while Instant::now() < deadline {
        stderr = wisp.stderr_text();
        if stderr.matches("guest failed").count() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        stderr
            .lines()
            .filter(|l| l.contains("guest failed") && l.contains("cron-trigger-1"))
            .count()
            >= 2,
        "each tick traps on its own and the next still fires: {stderr}"
    );
}

#[tokio::test]
async fn http_redis_and_cron_share_one_app_and_its_store() {
    let g = guests();
    let redis = Redis::start();
    let app = cron_app(
        "* * * * * *",
        "",
        &format!(
            r#"[application.trigger.redis]
address = "{}"
[[trigger.redis]]
channel = "events"
component = "sub"
[component.sub]
source = {}
key_value_stores = ["default"]
"#,
            redis.url(),
            toml_path(&g.redis_sub)
        ),
    );
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    redis.cli(&["publish", "events", "mixed"]);
    let keys = wait_for_keys(&wisp, &["redis:mixed"]).await;
    assert!(keys.contains(&"redis:mixed".to_owned()), "{keys:?}");
    let times = wait_for_ticks(&wisp, 1).await;
    assert!(!times.is_empty(), "the schedule ran beside the others");
}

#[test]
fn a_malformed_schedule_is_refused_before_anything_loads() {
    let app = cron_app("every minute", "", "");
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("cron trigger `cron-trigger-1`: `cron_expression` \"every minute\" is not a cron schedule"),
        "{err}"
    );
}

#[test]
fn an_events_only_app_starts_no_listener_and_stops_cleanly() {
    let app = cron_only_app(&guests().cron_tick);
    let mut wisp = Wisp::start(&["-f", &app.manifest()]);
    assert!(wisp.addr.is_empty());
    assert!(!wisp.stdout_text().contains("Serving"));
    wisp.terminate();
    assert_eq!(wisp.child.wait().unwrap().code(), Some(0));
}

#[test]
fn a_component_without_the_cron_handler_is_refused() {
    let app = cron_only_app(&guests().spin_app);
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("component `tick` does not export `fermyon:spin-cron/spin-cron@2.0.0`"),
        "{err}"
    );
}
