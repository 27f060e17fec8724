//! Key-value on a real `redis-server` started on loopback: mapping by runtime config,
//! exact concurrent atomics, and a Redis that goes away and comes back.

use crate::harness::*;
use crate::state::{concurrent_atomics, spin_app};

fn redis_app(redis: &Redis) -> (AppDir, String) {
    let app = spin_app("key_value_stores = [\"default\", \"local\"]", "");
    app.write(
        "runtime-config.toml",
        &format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n[key_value_store.local]\ntype = \"spin\"\npath = \"local.db\"\n",
            redis.url()
        ),
    );
    let rc = app.path().join("runtime-config.toml").display().to_string();
    (app, rc)
}

#[tokio::test]
async fn redis_backend_serves_the_spin_and_wasi_interfaces() {
    let redis = Redis::start();
    let (app, rc) = redis_app(&redis);
    let wisp = Wisp::start(&["-f", &app.manifest(), "--runtime-config-file", &rc]);
    let op = |q: &str| wisp.url(&format!("/?op={q}"));
    assert_eq!(
        get(&op("kv-set&key=a&value=hello")).await,
        (200, "ok".into())
    );
    assert_eq!(get(&op("kv-get&key=a")).await, (200, "hello".into()));
    assert_eq!(get(&op("kv-exists&key=a")).await, (200, "true".into()));
    assert_eq!(get(&op("kv-keys")).await, (200, "a".into()));
    assert_eq!(get(&op("kv-delete&key=missing")).await.0, 200);
    assert_eq!(get(&op("kv-batch")).await.0, 200);
    let n = 16 * 1024 * 1024;
    assert_eq!(
        get(&op(&format!("kv-big&key=big&n={n}"))).await,
        (200, n.to_string())
    );
    concurrent_atomics(&wisp).await;
    // The value really is in Redis: read it back over the protocol.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET counter\r\n").unwrap();
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"$4\r\n2000\r\n");
}

#[tokio::test]
async fn redis_going_away_fails_requests_then_recovers() {
    let redis = Redis::start();
    let port = redis.port;
    let (app, rc) = redis_app(&redis);
    let wisp = Wisp::start(&["-f", &app.manifest(), "--runtime-config-file", &rc]);
    assert_eq!(get(&wisp.url("/?op=kv-set&key=a&value=1")).await.0, 200);

    redis.stop();
    let (status, body) = get(&wisp.url("/?op=kv-get&key=a")).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Other") && body.contains("redis"), "{body}");
    // The host keeps serving: the SQLite-backed store and the health check still answer.
    assert_eq!(
        get(&wisp.url("/?op=kv-set&store=local&key=b&value=2"))
            .await
            .0,
        200
    );
    assert_eq!(get(&wisp.url("/.well-known/spin/health")).await.0, 200);

    let _back = Redis::start_on(port);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, _) = get(&wisp.url("/?op=kv-set&key=a&value=2")).await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "wisp did not recover when Redis came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(get(&wisp.url("/?op=kv-get&key=a")).await, (200, "2".into()));
}
