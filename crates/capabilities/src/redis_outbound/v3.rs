//! `spin:redis/redis@3.0.0` (spin-sdk 7, `async func`s) onto the shared commands. The
//! instance's grants and table are touched only inside `accessor.with`, never across an
//! `.await`.

use super::{RedisConnection, connect};
use crate::bindings::spin::redis::redis as v3;
use crate::{CapabilitiesData, CapabilitiesView};
use redis::aio::MultiplexedConnection;
use wasmtime::component::{Accessor, Resource};

super::conversions!(v3);

type R<T> = wasmtime::Result<Result<T, v3::Error>>;

fn conn_of<U>(
    a: &Accessor<U, CapabilitiesData>,
    conn: &Resource<RedisConnection>,
) -> wasmtime::Result<MultiplexedConnection> {
    a.with(|mut v| Ok(v.get().table.get(conn)?.0.clone()))
}

impl v3::Host for CapabilitiesView<'_> {}

impl v3::HostConnection for CapabilitiesView<'_> {
    async fn drop(&mut self, conn: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.caps.redis.count = self.caps.redis.count.saturating_sub(1);
        Ok(())
    }
}

impl<U> v3::HostConnectionWithStore<U> for CapabilitiesData {
    async fn open(a: &Accessor<U, Self>, address: String) -> R<Resource<RedisConnection>> {
        let (grants, open) = a.with(|mut v| {
            let v = v.get();
            (v.caps.grants.clone(), v.caps.redis.count)
        });
        match connect(&grants, open, &address).await {
            Ok(c) => a.with(|mut v| {
                let v = v.get();
                v.caps.redis.count += 1;
                Ok(Ok(v.table.push(RedisConnection(c))?))
            }),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn publish(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> R<()> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::publish(c, channel, payload)
            .await
            .map_err(Into::into))
    }

    async fn get(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> R<Option<Vec<u8>>> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::get(c, key).await.map_err(Into::into))
    }

    async fn set(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> R<()> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::set(c, key, value)
            .await
            .map_err(Into::into))
    }

    async fn incr(a: &Accessor<U, Self>, conn: Resource<RedisConnection>, key: String) -> R<i64> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::incr(c, key).await.map_err(Into::into))
    }

    async fn del(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> R<u32> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::del(c, keys).await.map_err(Into::into))
    }

    async fn sadd(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> R<u32> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::sadd(c, key, values)
            .await
            .map_err(Into::into))
    }

    async fn smembers(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        key: String,
    ) -> R<Vec<String>> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::smembers(c, key).await.map_err(Into::into))
    }

    async fn srem(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> R<u32> {
        let c = conn_of(a, &conn)?;
        Ok(RedisConnection::srem(c, key, values)
            .await
            .map_err(Into::into))
    }

    async fn execute(
        a: &Accessor<U, Self>,
        conn: Resource<RedisConnection>,
        command: String,
        arguments: Vec<v3::RedisParameter>,
    ) -> R<Vec<v3::RedisResult>> {
        let c = conn_of(a, &conn)?;
        let args = arguments.into_iter().map(Into::into).collect();
        Ok(RedisConnection::execute(c, command, args)
            .await
            .map(|r| r.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }
}
