//! Outbound Redis through `spin_sdk::redis` (`fermyon:spin/redis@2.0.0`).

use spin_sdk::http::Response;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

/// Runs `op` against the Redis at `addr`; `None` when `op` is not a Redis op.
pub fn run(op: &str, p: &dyn Fn(&str) -> Option<String>) -> Option<Response> {
    let addr = p("addr").unwrap_or_default();
    let key = p("key").unwrap_or_default();
    let value = p("value").unwrap_or_default();
    let result = match op {
        "redis-open" => Connection::open(&addr).map(|_| "opened".to_owned()),
        "redis-set-get" => Connection::open(&addr).and_then(|c| {
            c.set(&key, &value.clone().into_bytes())?;
            let back = c.get(&key)?.unwrap_or_default();
            Ok(String::from_utf8_lossy(&back).into_owned())
        }),
        "redis-get" => Connection::open(&addr).and_then(|c| {
            Ok(c.get(&key)?
                .map_or("(nil)".to_owned(), |v| String::from_utf8_lossy(&v).into_owned()))
        }),
        "redis-incr" => Connection::open(&addr).and_then(|c| c.incr(&key).map(|n| n.to_string())),
        "redis-del" => {
            Connection::open(&addr).and_then(|c| c.del(&[key.clone()]).map(|n| n.to_string()))
        }
        "redis-sets" => Connection::open(&addr).and_then(|c| {
            let members: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
            let added = c.sadd(&key, &members)?;
            let removed = c.srem(&key, &["b".to_owned()])?;
            let mut left = c.smembers(&key)?;
            left.sort();
            Ok(format!("added={added} removed={removed} left={}", left.join(",")))
        }),
        "redis-execute" => Connection::open(&addr).and_then(|c| {
            let appended = c.execute(
                "APPEND",
                &[
                    RedisParameter::Binary(key.clone().into_bytes()),
                    RedisParameter::Binary(b"xyz".to_vec()),
                ],
            )?;
            let got = c.execute("GET", &[RedisParameter::Binary(key.clone().into_bytes())])?;
            let pong = c.execute("PING", &[])?;
            let listed = c.execute(
                "LRANGE",
                &[
                    RedisParameter::Binary(b"wisp-list".to_vec()),
                    RedisParameter::Int64(0),
                    RedisParameter::Int64(-1),
                ],
            )?;
            Ok(format!(
                "{} | {} | {} | {}",
                show(&appended),
                show(&got),
                show(&pong),
                show(&listed)
            ))
        }),
        "redis-publish" => Connection::open(&addr)
            .and_then(|c| c.publish(&key, &value.clone().into_bytes()).map(|()| "published".into())),
        "redis-wrongtype" => Connection::open(&addr).and_then(|c| {
            c.sadd(&key, &["x".to_owned()])?;
            c.get(&key).map(|_| "no error".into())
        }),
        _ => return None,
    };
    Some(match result {
        Ok(body) => Response::new(200, body),
        Err(e) => Response::new(500, format!("{e:?}")),
    })
}

fn show(results: &[RedisResult]) -> String {
    results
        .iter()
        .map(|r| match r {
            RedisResult::Nil => "nil".to_owned(),
            RedisResult::Status(s) => format!("status:{s}"),
            RedisResult::Int64(i) => format!("int:{i}"),
            RedisResult::Binary(b) => format!("bin:{}", String::from_utf8_lossy(b)),
        })
        .collect::<Vec<_>>()
        .join(",")
}
