//! Outbound Redis for `fermyon:spin/redis@2.0.0` (`v2.rs`) and `spin:redis/redis@3.0.0`
//! (`v3.rs`), both on the commands here. A component may open a connection only to an
//! address its `allowed_outbound_hosts` grants (`redis://host:port`); any other address
//! is `invalid-address`, as in Spin, and no connection is attempted. Connections are
//! pooled per URL across the app.

use crate::ComponentGrants;
use crate::outbound::OutboundDenied;
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};

/// How many Redis connections one instance may hold open at once.
pub const MAX_CONNECTIONS_PER_INSTANCE: usize = 64;

crate::capability::shared_capability!(
    std::sync::Arc<crate::redis_client::RedisPool>,
    instance: crate::OpenConnections,
    |linker, get, kind| {
        use crate::CapabilitiesData as D;
        crate::bindings::fermyon::spin::redis::add_to_linker::<T, D>(linker, get)?;
        if kind == crate::LinkerKind::Concurrent {
            crate::bindings::spin::redis::redis::add_to_linker::<T, D>(linker, get)?;
        }
        Ok(())
    }
);

/// The `connection` resource of both versions: a handle on a pooled connection.
pub struct RedisConnection(MultiplexedConnection);

/// Failures, mapped onto each version's error variant of the same name.
pub(crate) enum RedisErr {
    InvalidAddress,
    TooManyConnections,
    TypeError,
    Other(String),
}

/// A command argument.
pub(crate) enum Arg {
    Int64(i64),
    Binary(Vec<u8>),
}

/// One item of a command's reply.
pub(crate) enum Reply {
    Nil,
    Status(String),
    Int64(i64),
    Binary(Vec<u8>),
}

fn other(e: redis::RedisError) -> RedisErr {
    // A reply of the wrong shape, or Redis's own WRONGTYPE.
    if e.kind() == redis::ErrorKind::UnexpectedReturnType || e.code() == Some("WRONGTYPE") {
        RedisErr::TypeError
    } else {
        RedisErr::Other(e.to_string())
    }
}

/// Flattens a reply into the interface's results (arrays become their elements).
fn flatten(value: Value, out: &mut Vec<Reply>) -> Result<(), RedisErr> {
    match value {
        Value::Nil => out.push(Reply::Nil),
        Value::Okay => out.push(Reply::Status("OK".into())),
        Value::SimpleString(s) => out.push(Reply::Status(s)),
        Value::Int(i) => out.push(Reply::Int64(i)),
        Value::BulkString(b) => out.push(Reply::Binary(b)),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::Double(d) => out.push(Reply::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(Reply::Int64(i64::from(b))),
        Value::VerbatimString { text, .. } => out.push(Reply::Binary(text.into_bytes())),
        Value::BigNumber(n) => out.push(Reply::Binary(n)),
        Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out)?;
                flatten(v, out)?;
            }
        }
        Value::ServerError(e) => return Err(RedisErr::Other(e.to_string())),
        _ => return Err(RedisErr::TypeError),
    }
    Ok(())
}

/// Connects to `address` for an instance holding `open` connections already.
async fn connect(
    grants: &ComponentGrants,
    open: usize,
    address: &str,
) -> Result<MultiplexedConnection, RedisErr> {
    let schemes = ["redis", "rediss"];
    let checked = match grants.outbound_target(address, &schemes).await {
        Ok(checked) => checked,
        Err(OutboundDenied::NotAllowed) => {
            tracing::debug!("outbound Redis denied by allowed_outbound_hosts");
            return Err(RedisErr::InvalidAddress);
        }
        // `invalid-address` carries no text; `other` says why (the rule that refused it).
        Err(denied) => return Err(RedisErr::Other(denied.to_string())),
    };
    if open >= MAX_CONNECTIONS_PER_INSTANCE {
        return Err(RedisErr::TooManyConnections);
    }
    grants
        .redis
        .get_checked(address, &checked)
        .await
        .map_err(|e| RedisErr::Other(format!("{e:#}")))
}

/// The commands both versions offer, on a cloned (multiplexed) connection.
impl RedisConnection {
    async fn publish(
        mut c: MultiplexedConnection,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), RedisErr> {
        c.publish::<_, _, i64>(channel, payload)
            .await
            .map(|_| ())
            .map_err(other)
    }

    async fn get(mut c: MultiplexedConnection, key: String) -> Result<Option<Vec<u8>>, RedisErr> {
        c.get(key).await.map_err(other)
    }

    async fn set(
        mut c: MultiplexedConnection,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), RedisErr> {
        c.set(key, value).await.map_err(other)
    }

    async fn incr(mut c: MultiplexedConnection, key: String) -> Result<i64, RedisErr> {
        c.incr(key, 1i64).await.map_err(other)
    }

    async fn del(mut c: MultiplexedConnection, keys: Vec<String>) -> Result<u32, RedisErr> {
        c.del(keys).await.map_err(other)
    }

    async fn sadd(
        mut c: MultiplexedConnection,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, RedisErr> {
        c.sadd(key, values).await.map_err(other)
    }

    async fn smembers(mut c: MultiplexedConnection, key: String) -> Result<Vec<String>, RedisErr> {
        c.smembers(key).await.map_err(other)
    }

    async fn srem(
        mut c: MultiplexedConnection,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, RedisErr> {
        c.srem(key, values).await.map_err(other)
    }

    async fn execute(
        mut c: MultiplexedConnection,
        command: String,
        args: Vec<Arg>,
    ) -> Result<Vec<Reply>, RedisErr> {
        let mut cmd = redis::cmd(&command);
        for arg in args {
            match arg {
                Arg::Int64(i) => cmd.arg(i),
                Arg::Binary(b) => cmd.arg(b),
            };
        }
        let value: Value = cmd.query_async(&mut c).await.map_err(other)?;
        let mut out = Vec::new();
        flatten(value, &mut out)?;
        Ok(out)
    }
}

/// Conversions between one interface version's types and the shared ones; every
/// version names its variants alike.
macro_rules! conversions {
    ($v:ident) => {
        impl From<super::RedisErr> for $v::Error {
            fn from(e: super::RedisErr) -> Self {
                match e {
                    super::RedisErr::InvalidAddress => Self::InvalidAddress,
                    super::RedisErr::TooManyConnections => Self::TooManyConnections,
                    super::RedisErr::TypeError => Self::TypeError,
                    super::RedisErr::Other(m) => Self::Other(m),
                }
            }
        }

        impl From<$v::RedisParameter> for super::Arg {
            fn from(p: $v::RedisParameter) -> Self {
                match p {
                    $v::RedisParameter::Int64(i) => Self::Int64(i),
                    $v::RedisParameter::Binary(b) => Self::Binary(b),
                }
            }
        }

        impl From<super::Reply> for $v::RedisResult {
            fn from(r: super::Reply) -> Self {
                match r {
                    super::Reply::Nil => Self::Nil,
                    super::Reply::Status(s) => Self::Status(s),
                    super::Reply::Int64(i) => Self::Int64(i),
                    super::Reply::Binary(b) => Self::Binary(b),
                }
            }
        }
    };
}
use conversions;

mod v2;
mod v3;
