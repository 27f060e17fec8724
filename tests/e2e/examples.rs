//! The spin-sdk example apps, run with `wisp up --build` on their unchanged spin.toml.

use crate::harness::*;

#[tokio::test]
async fn kv_counter_counts_and_survives_restart() {
    let example = repo_root().join("examples/kv-counter-rust");
    let state = tempfile::tempdir().unwrap();
    let args = [
        "--build",
        "-f",
        example.to_str().unwrap(),
        "--state-dir",
        state.path().to_str().unwrap(),
    ];
    let client = reqwest::Client::new();
    {
        let wisp = Wisp::start(&args);
        assert_eq!(get(&wisp.url("/count")).await, (200, "0\n".into()));
        for n in 1..=3 {
            let resp = client.post(wisp.url("/count")).send().await.unwrap();
            assert_eq!(resp.text().await.unwrap(), format!("{n}\n"));
        }
    }
    let wisp = Wisp::start(&args);
    assert_eq!(get(&wisp.url("/count")).await, (200, "3\n".into()));
    let resp = client.delete(wisp.url("/count")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "0\n");
}

#[tokio::test]
async fn sqlite_todo_lists_adds_completes_and_deletes() {
    let example = repo_root().join("examples/sqlite-todo-rust");
    let state = tempfile::tempdir().unwrap();
    let migration = format!("@{}", example.join("migration.sql").display());
    let wisp = Wisp::start(&[
        "--build",
        "-f",
        example.to_str().unwrap(),
        "--state-dir",
        state.path().to_str().unwrap(),
        "--sqlite",
        &migration,
    ]);
    let client = reqwest::Client::new();
    for text in ["buy milk", "walk the dog"] {
        let resp = client
            .post(wisp.url("/todos"))
            .body(text)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    assert_eq!(
        get(&wisp.url("/todos")).await,
        (200, "1 [ ] buy milk\n2 [ ] walk the dog\n".into())
    );
    assert_eq!(
        client
            .put(wisp.url("/todos/1"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        client
            .delete(wisp.url("/todos/2"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(&wisp.url("/todos")).await,
        (200, "1 [x] buy milk\n".into())
    );
    assert!(state.path().join("sqlite_db.db").is_file());
}

#[tokio::test]
async fn hello_p3_builds_and_serves_with_spin_sdk_7() {
    let example = repo_root().join("examples/hello-p3-rust");
    let wisp = Wisp::start(&["--build", "-f", example.to_str().unwrap()]);
    assert_eq!(
        get(&wisp.url("/hello/there")).await,
        (
            200,
            "Hello from wisp (WASI 0.3)! You asked for /hello/there\n".into()
        )
    );
}

#[test]
fn hello_command_builds_runs_once_and_exits_with_its_status() {
    let example = repo_root().join("examples/hello-command-rust");
    let state = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let up = |guest_args: &[&str]| {
        let mut args = vec![
            "up",
            "--build",
            "-f",
            example.to_str().unwrap(),
            "--state-dir",
            state.path().to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--",
        ];
        args.extend_from_slice(guest_args);
        run_wisp(&args, None)
    };
    let out = up(&["world", "wasm"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("[greet] Hello from wisp, world!\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[greet] Hello from wisp, wasm!\n"),
        "{stdout}"
    );
    // No names: the guest's usage message and a failing status.
    let out = up(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[greet] usage:"));
}

/// `wisp up --build` on `examples/<name>` with `env`, in a state folder of its own
/// (returned, to keep it as long as the server).
fn up_example(name: &str, env: &[(&str, &str)]) -> (Wisp, tempfile::TempDir) {
    let example = repo_root().join("examples").join(name);
    let state = tempfile::tempdir().unwrap();
    let wisp = Wisp::start_with_env(
        &[
            "--build",
            "-f",
            example.to_str().unwrap(),
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        env,
    );
    (wisp, state)
}

#[test]
fn redis_example_handles_each_published_message() {
    let redis = crate::servers::Redis::start();
    let (wisp, _state) = up_example(
        "redis-rust",
        &[("SPIN_VARIABLE_REDIS_ADDRESS", &redis.url())],
    );
    assert_eq!(redis.cli(&["publish", "messages", "hello"]), "1");
    assert!(
        wisp.wait_for_stdout("[listener] got a message: hello"),
        "{}",
        wisp.stdout_text()
    );
}

#[test]
fn cron_example_ticks_on_its_schedule() {
    let (wisp, _state) = up_example("cron-rust", &[]);
    assert!(
        wisp.wait_for_stdout("[tick] tick at "),
        "{}",
        wisp.stdout_text()
    );
    let text = wisp.stdout_text();
    let stamp: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("[tick] tick at "))
        .and_then(|t| t.parse().ok())
        .expect("a timestamp");
    assert_eq!(stamp % 2, 0, "`*/2` fires on even seconds: {text}");
}

#[test]
fn mqtt_example_logs_each_message_on_its_topic() {
    let broker = crate::servers::Mosquitto::start();
    let address = format!("mqtt://127.0.0.1:{}", broker.port);
    let (wisp, _state) = up_example(
        "mqtt-rust",
        &[
            ("SPIN_VARIABLE_MQTT_ADDRESS", &address),
            (
                "SPIN_VARIABLE_MQTT_USERNAME",
                crate::servers::Mosquitto::USER.0,
            ),
            (
                "SPIN_VARIABLE_MQTT_PASSWORD",
                crate::servers::Mosquitto::USER.1,
            ),
        ],
    );
    broker.publish("sensors/kitchen", "21.5", 1);
    assert!(
        wisp.wait_for_stdout("[listener] sensors/kitchen: 21.5"),
        "{}",
        wisp.stdout_text()
    );
}
