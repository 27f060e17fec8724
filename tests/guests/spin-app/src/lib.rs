//! A guest built with the real `spin-sdk` 5.2.0: every state and configuration interface
//! it can reach, driven by the query (`?op=kv-set&key=k&value=v`, …), so end-to-end tests
//! prove wisp runs unchanged spin-sdk code.

mod mqtt_ops;
mod mysql_ops;
mod pg_ops;
mod redis_ops;

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value};
use spin_sdk::wit::wasi::config::store as wasi_config;
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store as wasi_kv};

fn param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
}

/// Decodes `%XX` escapes (addresses with their own query strings arrive encoded).
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn text(status: u16, body: impl Into<String>) -> Response {
    Response::new(status, body.into())
}

#[http_component]
fn handle(req: Request) -> Response {
    let q = req.query().to_owned();
    let p = |name: &str| param(&q, name);
    let label = p("store").unwrap_or_else(|| "default".into());
    let key = p("key").unwrap_or_default();
    let op = p("op").unwrap_or_default();
    let outbound = redis_ops::run(&op, &p)
        .or_else(|| pg_ops::run(&op, &p))
        .or_else(|| pg_ops::run_v3(&op, &p))
        .or_else(|| pg_ops::run_v4(&op, &p))
        .or_else(|| mqtt_ops::run(&op, &p))
        .or_else(|| mysql_ops::run(&op, &p));
    if let Some(resp) = outbound {
        return resp;
    }
    match op.as_str() {
        "kv-set" => match Store::open(&label).and_then(|s| s.set(&key, p("value").unwrap_or_default().as_bytes())) {
            Ok(()) => text(200, "ok"),
            Err(e) => text(500, format!("{e:?}")),
        },
        "kv-get" => match Store::open(&label).and_then(|s| s.get(&key)) {
            Ok(Some(v)) => text(200, String::from_utf8_lossy(&v)),
            Ok(None) => text(404, "missing"),
            Err(e) => text(500, format!("{e:?}")),
        },
        "kv-delete" => match Store::open(&label).and_then(|s| s.delete(&key)) {
            Ok(()) => text(200, "deleted"),
            Err(e) => text(500, format!("{e:?}")),
        },
        "kv-exists" => match Store::open(&label).and_then(|s| s.exists(&key)) {
            Ok(e) => text(200, e.to_string()),
            Err(e) => text(500, format!("{e:?}")),
        },
        "kv-keys" => match Store::open(&label).and_then(|s| s.get_keys()) {
            Ok(mut keys) => {
                keys.sort();
                text(200, keys.join(","))
            }
            Err(e) => text(500, format!("{e:?}")),
        },
        "kv-open" => match Store::open(&label) {
            Ok(_) => text(200, "opened"),
            Err(e) => text(403, format!("{e:?}")),
        },
        "kv-big" => {
            // Write `n` bytes, read them back, and report the length and a checksum.
            let n: usize = p("n").and_then(|n| n.parse().ok()).unwrap_or(0);
            let value: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let result = Store::open(&label).and_then(|s| {
                s.set(&key, &value)?;
                s.get(&key)
            });
            match result {
                Ok(Some(back)) if back == value => text(200, back.len().to_string()),
                Ok(other) => text(500, format!("mismatch: {:?} bytes", other.map(|v| v.len()))),
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        "kv-many" => {
            // Sets keys `prefix0..prefixN` in one batch, then counts them with get-keys.
            let n: usize = p("n").and_then(|n| n.parse().ok()).unwrap_or(0);
            let prefix = p("prefix").unwrap_or_else(|| "k".into());
            let pairs: Vec<(String, Vec<u8>)> = (0..n).map(|i| (format!("{prefix}{i}"), i.to_string().into_bytes())).collect();
            let result = wasi_kv::open(&label).map_err(|e| format!("{e:?}")).and_then(|b| {
                for chunk in pairs.chunks(1000) {
                    batch::set_many(&b, chunk).map_err(|e| format!("{e:?}"))?;
                }
                Store::open(&label).and_then(|s| s.get_keys()).map_err(|e| format!("{e:?}"))
            });
            match result {
                Ok(keys) => text(200, keys.iter().filter(|k| k.starts_with(&prefix)).count().to_string()),
                Err(e) => text(500, e),
            }
        }
        "kv-incr" => {
            let n: i64 = p("n").and_then(|n| n.parse().ok()).unwrap_or(1);
            let times: usize = p("times").and_then(|n| n.parse().ok()).unwrap_or(1);
            let result = wasi_kv::open(&label).and_then(|b| {
                let mut last = 0;
                for _ in 0..times {
                    last = atomics::increment(&b, &key, n)?;
                }
                Ok(last)
            });
            match result {
                Ok(v) => text(200, v.to_string()),
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        "kv-cas" => {
            // Appends `value` to the key with compare-and-swap, retrying on conflict.
            let add = p("value").unwrap_or_default();
            let result = wasi_kv::open(&label).map_err(|e| format!("{e:?}")).and_then(|b| {
                let mut cas = atomics::Cas::new(&b, &key).map_err(|e| format!("{e:?}"))?;
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let mut next = cas.current().map_err(|e| format!("{e:?}"))?.unwrap_or_default();
                    next.extend_from_slice(add.as_bytes());
                    match atomics::swap(cas, &next) {
                        Ok(()) => return Ok(attempts),
                        Err(atomics::CasError::CasFailed(fresh)) => cas = fresh,
                        Err(e) => return Err(format!("{e:?}")),
                    }
                }
            });
            match result {
                Ok(attempts) => text(200, attempts.to_string()),
                Err(e) => text(500, e),
            }
        }
        "kv-batch" => {
            let result = wasi_kv::open(&label).and_then(|b| {
                batch::set_many(&b, &[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])?;
                let got = batch::get_many(&b, &["a".into(), "b".into(), "zz".into()])?;
                batch::delete_many(&b, &["a".into()])?;
                let after = b.exists("a")?;
                Ok(format!("{got:?} a-exists-after-delete={after}"))
            });
            match result {
                Ok(s) => text(200, s),
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        "kv-bench" => {
            // `n` sets then `n` gets of distinct keys through the Spin interface, timed
            // with the guest's monotonic clock; answers "<sets/s> <gets/s>".
            let n: u64 = p("n").and_then(|n| n.parse().ok()).unwrap_or(1000);
            let now = std::time::Instant::now;
            let result = Store::open(&label).and_then(|s| {
                let t0 = now();
                for i in 0..n {
                    s.set(&format!("bench{i}"), b"0123456789abcdef")?;
                }
                let t1 = now();
                for i in 0..n {
                    s.get(&format!("bench{i}"))?;
                }
                let t2 = now();
                Ok(((t1 - t0).as_nanos() as u64, (t2 - t1).as_nanos() as u64))
            });
            match result {
                Ok((set_ns, get_ns)) => {
                    let rate = |ns: u64| (n as f64) / (ns.max(1) as f64 / 1e9);
                    text(200, format!("{:.0} {:.0}", rate(set_ns), rate(get_ns)))
                }
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        "var" => match spin_sdk::variables::get(&p("name").unwrap_or_default()) {
            Ok(v) => text(200, v),
            Err(e) => text(404, format!("{e:?}")),
        },
        "config" => match wasi_config::get(&p("name").unwrap_or_default()) {
            Ok(Some(v)) => text(200, v),
            Ok(None) => text(404, "none"),
            Err(e) => text(500, format!("{e:?}")),
        },
        "config-all" => match wasi_config::get_all() {
            Ok(mut all) => {
                all.sort();
                text(200, format!("{all:?}"))
            }
            Err(e) => text(500, format!("{e:?}")),
        },
        "sql-open" => match Connection::open(&p("db").unwrap_or_else(|| "default".into())) {
            Ok(_) => text(200, "opened"),
            Err(e) => text(403, format!("{e:?}")),
        },
        "sql" => {
            // Runs the request body as one statement against `db`; rows as Debug text.
            let db = p("db").unwrap_or_else(|| "default".into());
            let statement = String::from_utf8_lossy(req.body()).into_owned();
            match Connection::open(&db).and_then(|c| c.execute(&statement, &[])) {
                Ok(result) => {
                    let rows: Vec<_> = result.rows.iter().map(|r| format!("{:?}", r.values)).collect();
                    text(200, format!("{:?}\n{}", result.columns, rows.join("\n")))
                }
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        "sql-types" => {
            // Every column type through parameters and back, compared exactly.
            let values = vec![
                Value::Integer(i64::MIN),
                Value::Integer(i64::MAX),
                Value::Real(std::f64::consts::PI),
                Value::Real(-0.0),
                Value::Text("héllo, wörld ✓".into()),
                Value::Blob(vec![0, 1, 2, 254, 255]),
                Value::Null,
            ];
            let result = Connection::open_default().and_then(|c| {
                c.execute("CREATE TABLE IF NOT EXISTS types (v)", &[])?;
                c.execute("DELETE FROM types", &[])?;
                for v in &values {
                    c.execute("INSERT INTO types (v) VALUES (?)", std::slice::from_ref(v))?;
                }
                c.execute("SELECT v FROM types ORDER BY rowid", &[])
            });
            match result {
                Ok(r) => {
                    let back: Vec<Value> = r.rows.into_iter().map(|row| row.values.into_iter().next().unwrap()).collect();
                    let same = back.len() == values.len()
                        && back.iter().zip(&values).all(|(a, b)| match (a, b) {
                            (Value::Integer(x), Value::Integer(y)) => x == y,
                            (Value::Real(x), Value::Real(y)) => x.to_bits() == y.to_bits(),
                            (Value::Text(x), Value::Text(y)) => x == y,
                            (Value::Blob(x), Value::Blob(y)) => x == y,
                            (Value::Null, Value::Null) => true,
                            _ => false,
                        });
                    text(if same { 200 } else { 500 }, format!("{back:?}"))
                }
                Err(e) => text(500, format!("{e:?}")),
            }
        }
        other => text(400, format!("unknown op `{other}`")),
    }
}
