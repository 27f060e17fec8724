//! Outbound Redis (`fermyon:spin/redis@2.0.0`) from a real spin-sdk guest against a real
//! redis-server: every command, publish to a subscriber, and denial by
//! `allowed_outbound_hosts` before any connection.

use crate::harness::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn redis_app(allowed: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"redis-out\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(&guests().spin_app)
    ))
}

#[tokio::test]
async fn commands_reach_a_granted_redis() {
    let redis = Redis::start();
    redis.cli(&["RPUSH", "wisp-list", "one", "two"]);
    let app = redis_app(&format!("\"redis://127.0.0.1:{}\"", redis.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let addr = redis.url();
    let op = |op: &str, rest: &str| wisp.url(&format!("/?op={op}&addr={addr}{rest}"));

    assert_eq!(
        get(&op("redis-set-get", "&key=greeting&value=hello")).await,
        (200, "hello".into())
    );
    assert_eq!(redis.cli(&["GET", "greeting"]), "hello");
    assert_eq!(
        get(&op("redis-get", "&key=nothing")).await,
        (200, "(nil)".into())
    );
    assert_eq!(get(&op("redis-incr", "&key=n")).await, (200, "1".into()));
    assert_eq!(get(&op("redis-incr", "&key=n")).await, (200, "2".into()));
    assert_eq!(get(&op("redis-del", "&key=n")).await, (200, "1".into()));
    assert_eq!(redis.cli(&["EXISTS", "n"]), "0");
    assert_eq!(
        get(&op("redis-sets", "&key=letters")).await,
        (200, "added=3 removed=1 left=a,c".into())
    );
    assert_eq!(
        get(&op("redis-execute", "&key=greeting")).await,
        (
            200,
            "int:8 | bin:helloxyz | status:PONG | bin:one,bin:two".into()
        )
    );
    let (status, body) = get(&op("redis-wrongtype", "&key=aset")).await;
    assert_eq!(status, 500);
    assert!(body.contains("TypeError"), "{body}");
}

#[tokio::test]
async fn publish_reaches_a_subscriber() {
    let redis = Redis::start();
    let mut sub = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "SUBSCRIBE", "news"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli subscribe");
    let mut lines = BufReader::new(sub.stdout.take().unwrap()).lines();
    // `subscribe`, `news`, `1`: the subscription is live.
    for _ in 0..3 {
        lines.next();
    }
    let app = redis_app(&format!("\"redis://127.0.0.1:{}\"", redis.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let url = wisp.url(&format!(
        "/?op=redis-publish&addr={}&key=news&value=extra",
        redis.url()
    ));
    assert_eq!(get(&url).await, (200, "published".into()));
    let got: Vec<String> = lines.by_ref().take(3).map_while(Result::ok).collect();
    let _ = sub.kill();
    let _ = sub.wait();
    assert_eq!(got, ["message", "news", "extra"]);
}

#[tokio::test]
async fn ungranted_addresses_are_invalid_and_never_connected() {
    let granted = Redis::start();
    let other = Redis::start();
    let app = redis_app(&format!("\"redis://127.0.0.1:{}\"", granted.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    for addr in [
        other.url(),
        format!("redis://localhost:{}", granted.port),
        format!("rediss://127.0.0.1:{}", granted.port),
        "not a url".to_owned(),
    ] {
        let (status, body) = get(&wisp.url(&format!("/?op=redis-open&addr={addr}"))).await;
        assert_eq!(status, 500, "{addr}: {body}");
        assert!(body.contains("InvalidAddress"), "{addr}: {body}");
    }
    // Only redis-cli itself is connected to the other server.
    assert!(
        other
            .cli(&["INFO", "clients"])
            .contains("connected_clients:1"),
        "{}",
        other.cli(&["CLIENT", "LIST"])
    );
    // Without any grant, nothing is reachable.
    let plain = Wisp::start(&["-f", guests().spin_app.to_str().unwrap()]);
    let (status, body) = get(&plain.url(&format!("/?op=redis-open&addr={}", granted.url()))).await;
    assert!(status == 500 && body.contains("InvalidAddress"), "{body}");
}

#[tokio::test]
async fn wildcards_do_not_reach_link_local_addresses() {
    let app = redis_app("\"redis://*:*\", \"mysql://*:*\"");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url("/?op=redis-open&addr=redis://169.254.169.254:6379")).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("InvalidAddress"), "{body}");
    let (status, body) =
        get(&wisp.url("/?op=mysql-open&addr=mysql://root@169.254.169.254/db")).await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains(
            "ConnectionFailed(\"address mysql://root@169.254.169.254/db is not permitted\")"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn a_reply_over_the_cap_fails_its_command_without_the_host_holding_it() {
    let redis = Redis::start();
    // 200 MiB in one string (a guest with the grant could build it with one SETRANGE).
    redis.cli(&["SETRANGE", "huge", "209715200", "x"]);
    redis.cli(&["SET", "small", "fine"]);
    let app = redis_app(&format!("\"redis://127.0.0.1:{}\"", redis.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let addr = redis.url();
    let op = |op: &str, key: &str| wisp.url(&format!("/?op={op}&addr={addr}&key={key}"));
    assert_eq!(get(&op("redis-get", "small")).await, (200, "fine".into()));
    let before = wisp.rss_kib();
    for _ in 0..3 {
        let (status, body) = get(&op("redis-get", "huge")).await;
        assert_eq!(status, 500, "{body}");
        assert!(body.contains("larger than 64 MiB"), "{body}");
    }
    let growth_mib = wisp.rss_kib().saturating_sub(before) / 1024;
    assert!(
        growth_mib < 100,
        "the host grew by {growth_mib} MiB reading a 200 MiB reply"
    );
    // The connection the oversized reply ended is made again for the next command.
    assert_eq!(get(&op("redis-get", "small")).await, (200, "fine".into()));
}
