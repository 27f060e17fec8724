//! A WASI 0.3 guest built with the real `spin-sdk` 7.0.0 (`#[http_service]`, exporting
//! `wasi:http/handler@0.3.0`), driven by the query: `?op=echo`, `?op=fetch2&a=…&b=…`, …

mod pg;

use http_body_util::BodyExt;
use spin_sdk::http::{IntoResponse, Request, Response, StatusCode};
use spin_sdk::http_service;

fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            v.replace("%2F", "/")
                .replace("%3A", ":")
                .replace("%3F", "?")
                .replace("%3D", "=")
                .replace("%26", "&")
                .replace("%40", "@")
        })
}

/// GETs `url`; "status body" or the error.
async fn fetch(url: &str) -> String {
    match spin_sdk::http::get(url).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.into_body().collect().await {
                Ok(body) => format!("{status} {}", String::from_utf8_lossy(&body.to_bytes())),
                Err(e) => format!("body error: {e}"),
            }
        }
        Err(e) => format!("error: {e:?}"),
    }
}

async fn kv(label: &str, key: &str, value: &str) -> String {
    use spin_sdk::key_value::Store;
    let store = match Store::open(label).await {
        Ok(s) => s,
        Err(e) => return format!("open error: {e:?}"),
    };
    let steps = async {
        store.set(key, value).await?;
        let back = store.get(key).await?.unwrap_or_default();
        let exists = store.exists(key).await?;
        store.set("other", b"x").await?;
        let mut keys = store.get_keys().await.collect().await?;
        keys.sort();
        store.delete("other").await?;
        let gone = !store.exists("other").await?;
        Ok::<_, spin_sdk::key_value::Error>(format!(
            "back={} exists={exists} keys={} gone={gone}",
            String::from_utf8_lossy(&back),
            keys.join(",")
        ))
    };
    steps.await.unwrap_or_else(|e| format!("error: {e:?}"))
}

async fn sql() -> String {
    use spin_sdk::sqlite::{Connection, Value};
    let steps = async {
        let db = Connection::open_default().await?;
        db.execute("CREATE TABLE IF NOT EXISTS p3 (i INTEGER, r REAL, t TEXT, b BLOB, n)", [])
            .await?
            .result()
            .await?;
        db.execute("DELETE FROM p3", []).await?.result().await?;
        let row = [
            Value::Integer(-7),
            Value::Real(2.5),
            Value::Text("héllo ✓".into()),
            Value::Blob(vec![0, 255]),
            Value::Null,
        ];
        db.execute("INSERT INTO p3 VALUES (?, ?, ?, ?, ?)", row.clone())
            .await?
            .result()
            .await?;
        db.execute("INSERT INTO p3 VALUES (?, ?, ?, ?, ?)", row.clone())
            .await?
            .result()
            .await?;
        let rowid = db.last_insert_rowid().await;
        db.execute("UPDATE p3 SET i = i + 1", []).await?.result().await?;
        let changes = db.changes().await;
        let result = db.execute("SELECT * FROM p3 ORDER BY rowid", []).await?;
        let columns = result.columns().join(",");
        let rows = result.collect().await?;
        let first = format!("{:?}", rows[0].values);
        Ok::<_, spin_sdk::sqlite::Error>(format!(
            "rowid={rowid} changes={changes} rows={} columns={columns} first={first}",
            rows.len()
        ))
    };
    steps.await.unwrap_or_else(|e| format!("error: {e:?}"))
}

async fn redis(addr: &str) -> String {
    use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
    let steps = async {
        let c = Connection::open(addr).await?;
        c.set("p3-key", b"p3-value").await?;
        let got = c.get("p3-key").await?.unwrap_or_default();
        let n = c.incr("p3-n").await?;
        let deleted = c.del(["p3-n"]).await?;
        let echoed = c
            .execute("ECHO", [RedisParameter::Binary(b"hi".to_vec())])
            .await?;
        let echoed = matches!(echoed.as_slice(), [RedisResult::Binary(b)] if b == b"hi");
        Ok::<_, spin_sdk::redis::Error>(format!(
            "got={} incr={n} deleted={deleted} echo={echoed}",
            String::from_utf8_lossy(&got)
        ))
    };
    steps.await.unwrap_or_else(|e| format!("error: {e:?}"))
}

async fn mysql(addr: &str) -> String {
    use spin_sdk::mysql::{Connection, ParameterValue};
    let steps = async {
        let c = Connection::open(addr).await?;
        c.execute("CREATE TABLE IF NOT EXISTS m3 (i BIGINT, t VARCHAR(20))", vec![])
            .await?;
        c.execute("DELETE FROM m3", vec![]).await?;
        c.execute(
            "INSERT INTO m3 VALUES (?, ?)",
            vec![ParameterValue::Int64(42), ParameterValue::Str("v3".into())],
        )
        .await?;
        let rows = c.query("SELECT i, t FROM m3", vec![]).await?.collect().await?;
        let i: Option<i64> = rows[0].get("i");
        let t: Option<String> = rows[0].get("t");
        Ok::<_, spin_sdk::mysql::Error>(format!("rows={} i={i:?} t={t:?}", rows.len()))
    };
    steps.await.unwrap_or_else(|e| format!("error: {e:?}"))
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let query = req.uri().query().unwrap_or("").to_owned();
    let p = |name: &str| param(&query, name);
    match p("op").as_deref() {
        None => (StatusCode::OK, "hello from p3\n".to_owned()).into_response(),
        // A static in the guest: 1 on a fresh instance, more on a reused one.
        Some("count") => {
            static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            (StatusCode::OK, n.to_string()).into_response()
        }
        // The request's URI as the guest sees it: absolute, as under Spin.
        Some("uri") => (StatusCode::OK, req.uri().to_string()).into_response(),
        Some("headers") => {
            let mut out = String::new();
            for (name, value) in req.headers() {
                out.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("?")));
            }
            (StatusCode::OK, out).into_response()
        }
        // Streams the request body straight back.
        Some("echo") => Response::new(req.into_body()).into_response(),
        Some("trap") => panic!("p3 guest was asked to trap"),
        // Allocates (and touches) 1 MiB at a time until memory runs out.
        Some("membomb") => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        // Waits `ms` milliseconds like `sleep`, and says how many requests this instance
        // has started (`started`) and how many it was serving when this one began,
        // this one included (`in_flight`): more than 1 only on a shared instance.
        Some("overlap") => {
            use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
            static STARTED: AtomicU32 = AtomicU32::new(0);
            static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
            let started = STARTED.fetch_add(1, SeqCst) + 1;
            let in_flight = IN_FLIGHT.fetch_add(1, SeqCst) + 1;
            let ms: u64 = p("ms").and_then(|v| v.parse().ok()).unwrap_or(0);
            spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
            IN_FLIGHT.fetch_sub(1, SeqCst);
            let body = format!("started={started} in_flight={in_flight}");
            (StatusCode::OK, body).into_response()
        }
        // Waits `ms` milliseconds without blocking its instance's event loop.
        Some("sleep") => {
            let ms: u64 = p("ms").and_then(|v| v.parse().ok()).unwrap_or(0);
            spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
            (StatusCode::OK, "slept".to_owned()).into_response()
        }
        Some("loop") => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        Some("fetch") => {
            let url = p("url").unwrap_or_default();
            (StatusCode::OK, fetch(&url).await).into_response()
        }
        // Two requests in flight at once, from one instance.
        Some("fetch2") => {
            let (a, b) = (p("a").unwrap_or_default(), p("b").unwrap_or_default());
            let (ra, rb) = futures::join!(fetch(&a), fetch(&b));
            (StatusCode::OK, format!("{ra}\n{rb}")).into_response()
        }
        // spin:key-value@3.0.0: set, read back, list and delete through the async API.
        Some("kv") => {
            let label = p("store").unwrap_or_else(|| "default".into());
            let key = p("key").unwrap_or_default();
            let value = p("value").unwrap_or_default();
            (StatusCode::OK, kv(&label, &key, &value).await).into_response()
        }
        Some("kv-get") => {
            let key = p("key").unwrap_or_default();
            let got = match spin_sdk::key_value::Store::open_default().await {
                Ok(store) => match store.get(&key).await {
                    Ok(Some(v)) => String::from_utf8_lossy(&v).into_owned(),
                    Ok(None) => "missing".into(),
                    Err(e) => format!("error: {e:?}"),
                },
                Err(e) => format!("error: {e:?}"),
            };
            (StatusCode::OK, got).into_response()
        }
        // spin:sqlite@3.1.0: row ids, change counts and every value type, rows streamed.
        Some("sql") => (StatusCode::OK, sql().await).into_response(),
        // spin:redis@3.0.0 against `addr`.
        Some("redis") => {
            let addr = p("addr").unwrap_or_default();
            (StatusCode::OK, redis(&addr).await).into_response()
        }
        // spin:mqtt@3.0.0: publish `value` to `topic` at QoS 1.
        Some("mqtt") => {
            let addr = p("addr").unwrap_or_default();
            let user = p("user").unwrap_or_default();
            let pass = p("pass").unwrap_or_default();
            let topic = p("topic").unwrap_or_default();
            let value = p("value").unwrap_or_default();
            let sent = async {
                let c = spin_sdk::mqtt::Connection::open(&addr, &user, &pass, 30).await?;
                c.publish(&topic, value.into_bytes(), spin_sdk::mqtt::Qos::AtLeastOnce)
                    .await
            };
            let body = match sent.await {
                Ok(()) => "published".to_owned(),
                Err(e) => format!("error: {e:?}"),
            };
            (StatusCode::OK, body).into_response()
        }
        // spin:mysql@3.0.0 against `addr`: rows come back through a stream.
        Some("mysql") => {
            let addr = p("addr").unwrap_or_default();
            (StatusCode::OK, mysql(&addr).await).into_response()
        }
        // spin:postgres@4.2.0 against `addr`; `pg4-tls` trusts the CA root in the body.
        Some(op @ ("pg4-types" | "pg4-errors" | "pg4-tls")) => {
            let addr = p("addr").unwrap_or_default();
            let result = match op {
                "pg4-types" => pg::types(&addr).await,
                "pg4-errors" => pg::errors(&addr).await,
                _ => {
                    let body = req.into_body().collect().await.map(|b| b.to_bytes());
                    let ca = body.ok().filter(|b| !b.is_empty());
                    let ca = ca.map(|b| String::from_utf8_lossy(&b).into_owned());
                    pg::tls(&addr, ca).await
                }
            };
            match result {
                Ok(out) => (StatusCode::OK, out).into_response(),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:?}")).into_response(),
            }
        }
        // spin:variables@3.0.0.
        Some("var") => {
            let name = p("name").unwrap_or_default();
            let got = match spin_sdk::variables::get(&name).await {
                Ok(v) => v,
                Err(e) => format!("error: {e:?}"),
            };
            (StatusCode::OK, got).into_response()
        }
        Some(other) => (StatusCode::BAD_REQUEST, format!("unknown op {other}")).into_response(),
    }
}
