//! WASI 0.3 components (`wasi:http/handler@0.3.0`) built with the real spin-sdk 7.0.0:
//! served through the same router, headers, limits and outbound rules as 0.2 ones, with
//! streaming bodies and concurrent outbound requests inside one instance.

use crate::harness::*;
use crate::upstream::{Upstream, encode};
use std::time::{Duration, Instant};

pub(crate) fn p3_app(allowed: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"p3\"\n\
         [[trigger.http]]\nroute = \"/p3/...\"\ncomponent = \"p3\"\n\
         [[trigger.http]]\nroute = \"/p2/...\"\ncomponent = \"p2\"\n\
         [component.p3]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n\
         [component.p2]\nsource = {}\n",
        toml_path(&guests().p3_app),
        toml_path(&guests().probe),
    ))
}

#[tokio::test]
async fn a_spin_sdk_7_component_is_served_next_to_a_0_2_one() {
    let app = p3_app("");
    let wisp = Wisp::start(&["-f", &app.manifest(), "--timeout", "1s"]);
    assert_eq!(
        get(&wisp.url("/p3/")).await,
        (200, "hello from p3\n".into())
    );
    assert_eq!(
        get(&wisp.url("/p2/")).await,
        (200, "hello from probe\n".into())
    );

    // The same spin-* headers as a 0.2 guest gets.
    let (status, headers) = get(&wisp.url("/p3/a/b?op=headers")).await;
    assert_eq!(status, 200);
    assert!(headers.contains("spin-path-info: /a/b\n"), "{headers}");
    assert!(headers.contains("spin-component-route: /p3\n"), "{headers}");
    // The request URI carries the scheme and authority, as Spin gives it.
    assert_eq!(
        get(&wisp.url("/p3/a?op=uri")).await,
        (200, format!("http://{}/p3/a?op=uri", wisp.addr))
    );

    // A trap fails only its request; a loop is stopped by the timeout.
    assert_eq!(get(&wisp.url("/p3/?op=trap")).await.0, 500);
    let started = Instant::now();
    assert_eq!(get(&wisp.url("/p3/?op=loop")).await.0, 504);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        get(&wisp.url("/p3/")).await,
        (200, "hello from p3\n".into())
    );
    assert_eq!(
        get(&wisp.url("/p2/")).await,
        (200, "hello from probe\n".into())
    );
}

#[tokio::test]
async fn request_bodies_stream_back_intact() {
    let app = p3_app("");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let body: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let resp = reqwest::Client::new()
        .post(wisp.url("/p3/?op=echo"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let back = resp.bytes().await.unwrap();
    assert_eq!(back.len(), body.len());
    assert!(back.as_ref() == body.as_slice(), "echoed body differs");
}

#[tokio::test]
async fn outbound_requests_are_granted_denied_and_concurrent() {
    let upstream = Upstream::start();
    let app = p3_app(&format!("\"http://127.0.0.1:{}\"", upstream.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let base = format!("http://127.0.0.1:{}", upstream.port);

    let url = wisp.url(&format!(
        "/p3/?op=fetch&url={}",
        encode(&format!("{base}/hi"))
    ));
    assert_eq!(
        get(&url).await,
        (200, "200 upstream saw GET /hi body=0".into())
    );

    let denied = wisp.url(&format!(
        "/p3/?op=fetch&url={}",
        encode("http://127.0.0.1:1/")
    ));
    let (status, body) = get(&denied).await;
    assert_eq!(status, 200);
    assert!(body.contains("HttpRequestDenied"), "{body}");

    // Two 1 s requests from one instance overlap: done in about 1 s, never 2.
    let slow = |tag: &str| encode(&format!("{base}/delay?ms=1000&{tag}"));
    let url = wisp.url(&format!("/p3/?op=fetch2&a={}&b={}", slow("a"), slow("b")));
    let started = Instant::now();
    let (status, body) = get(&url).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body.lines().filter(|l| l.starts_with("200 ")).count(),
        2,
        "{body}"
    );
    assert!(
        took < Duration::from_millis(1900),
        "two 1 s requests took {took:?}: they ran one after the other"
    );
}

#[tokio::test]
async fn spin_sdk_7_key_value_sqlite_and_variables_work_and_share_state_with_0_2() {
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"p3-state\"\n\
         [variables]\nwho = {{ default = \"world\" }}\n\
         [[trigger.http]]\nroute = \"/p3/...\"\ncomponent = \"p3\"\n\
         [[trigger.http]]\nroute = \"/v2/...\"\ncomponent = \"v2\"\n\
         [component.p3]\nsource = {}\nkey_value_stores = [\"default\"]\n\
         sqlite_databases = [\"default\"]\n\
         [component.p3.variables]\ngreeting = \"hello {{{{ who }}}}\"\n\
         [component.v2]\nsource = {}\nkey_value_stores = [\"default\"]\n",
        toml_path(&guests().p3_app),
        toml_path(&guests().spin_app),
    ));
    let state = tempfile::tempdir().unwrap();
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_eq!(
        get(&wisp.url("/p3/?op=kv&key=colour&value=teal")).await,
        (
            200,
            "back=teal exists=true keys=colour,other gone=true".into()
        )
    );
    // One store behind both interface versions: the 0.2 spin-sdk 5 guest reads it.
    assert_eq!(
        get(&wisp.url("/v2/?op=kv-get&key=colour")).await,
        (200, "teal".into())
    );
    assert_eq!(
        get(&wisp.url("/p3/?op=kv-get&key=colour")).await,
        (200, "teal".into())
    );
    let (status, body) = get(&wisp.url("/p3/?op=kv&store=secret&key=a&value=b")).await;
    assert_eq!(status, 200);
    assert!(body.contains("AccessDenied"), "{body}");

    assert_eq!(
        get(&wisp.url("/p3/?op=var&name=greeting")).await,
        (200, "hello world".into())
    );
    let (_, body) = get(&wisp.url("/p3/?op=var&name=nothing")).await;
    assert!(body.contains("Undefined"), "{body}");

    // spin:sqlite@3.1.0: the second insert's row id, the update's change count, and
    // every value type back through the row stream.
    assert_eq!(
        get(&wisp.url("/p3/?op=sql")).await,
        (
            200,
            "rowid=2 changes=2 rows=2 columns=i,r,t,b,n first=[Value::Integer(-6), \
             Value::Real(2.5), Value::Text(\"héllo ✓\"), Value::Blob([0, 255]), Value::Null]"
                .into()
        )
    );
}

#[tokio::test]
async fn spin_sdk_7_redis_and_mqtt_reach_granted_servers_only() {
    let redis = Redis::start();
    let broker = Mosquitto::start();
    let app = p3_app(&format!(
        "\"redis://127.0.0.1:{}\", \"mqtt://127.0.0.1:{}\"",
        redis.port, broker.port
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(
        get(&wisp.url(&format!("/p3/?op=redis&addr={}", redis.url()))).await,
        (200, "got=p3-value incr=1 deleted=1 echo=true".into())
    );
    assert_eq!(redis.cli(&["GET", "p3-key"]), "p3-value");

    let (mut sub, mut lines) = broker.subscribe("p3/news");
    let (user, pass) = Mosquitto::USER;
    let url = wisp.url(&format!(
        "/p3/?op=mqtt&addr=mqtt://127.0.0.1:{}&user={user}&pass={pass}&topic=p3/news&value=v3",
        broker.port
    ));
    assert_eq!(get(&url).await, (200, "published".into()));
    let got = crate::servers::next_message(&mut lines);
    let _ = sub.kill();
    let _ = sub.wait();
    assert_eq!(got.as_deref(), Some("v3"));

    // Ungranted: another Redis port, and a broker the manifest does not name.
    let other = free_port();
    let (_, body) = get(&wisp.url(&format!("/p3/?op=redis&addr=redis://127.0.0.1:{other}"))).await;
    assert!(body.contains("InvalidAddress"), "{body}");
    let (_, body) = get(&wisp.url(&format!(
        "/p3/?op=mqtt&addr=mqtt://127.0.0.1:{other}&topic=t&value=v"
    )))
    .await;
    let spin_says = format!("address mqtt://127.0.0.1:{other} is not permitted");
    assert!(
        body.contains("ConnectionFailed") && body.contains(&spin_says),
        "{body}"
    );
}

#[tokio::test]
async fn memory_and_instance_limits_apply_to_0_3_guests() {
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"p3-limits\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"p3\"\n\
         [component.p3]\nsource = {}\n\
         [component.p3.limits]\nmemory = \"32MiB\"\nmax_instances = 1\n",
        toml_path(&guests().p3_app),
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // Memory growth past 32 MiB fails inside the guest; only its request fails.
    assert_eq!(get(&wisp.url("/?op=membomb")).await.0, 500);
    assert_eq!(get(&wisp.url("/")).await, (200, "hello from p3\n".into()));

    // One instance at a time: two 300 ms requests are served one after the other.
    let sleep = wisp.url("/?op=sleep&ms=300");
    let started = Instant::now();
    let (a, b) = tokio::join!(get(&sleep), get(&sleep));
    assert_eq!((a.0, b.0), (200, 200));
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "two requests shared a component limited to one instance"
    );
}

#[tokio::test]
async fn spin_sdk_7_mysql_streams_rows_from_a_granted_server_only() {
    let db = MariaDb::start();
    let app = p3_app(&format!("\"mysql://127.0.0.1:{}\"", db.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(
        get(&wisp.url(&format!("/p3/?op=mysql&addr={}", db.url()))).await,
        (200, "rows=1 i=Some(42) t=Some(\"v3\")".into())
    );
    let other = free_port();
    let (_, body) = get(&wisp.url(&format!(
        "/p3/?op=mysql&addr=mysql://root@127.0.0.1:{other}/wisp"
    )))
    .await;
    assert!(body.contains("is not permitted"), "{body}");
}
