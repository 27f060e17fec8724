//! `fermyon:spin/redis@2.0.0` onto the shared commands.

use super::{RedisConnection, connect};
use crate::CapabilitiesView;
use crate::bindings::fermyon::spin::redis as v2;
use wasmtime::component::Resource;

super::conversions!(v2);

type R<T> = wasmtime::Result<Result<T, v2::Error>>;

impl CapabilitiesView<'_> {
    fn redis(
        &self,
        conn: &Resource<RedisConnection>,
    ) -> wasmtime::Result<redis::aio::MultiplexedConnection> {
        Ok(self.table.get(conn)?.0.clone())
    }
}

impl v2::Host for CapabilitiesView<'_> {}

impl v2::HostConnection for CapabilitiesView<'_> {
    async fn open(&mut self, address: String) -> R<Resource<RedisConnection>> {
        let opened = connect(&self.caps.grants, self.caps.redis.count, &address).await;
        match opened {
            Ok(c) => {
                self.caps.redis.count += 1;
                Ok(Ok(self.table.push(RedisConnection(c))?))
            }
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn publish(
        &mut self,
        conn: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> R<()> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::publish(c, channel, payload)
            .await
            .map_err(Into::into))
    }

    async fn get(&mut self, conn: Resource<RedisConnection>, key: String) -> R<Option<Vec<u8>>> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::get(c, key).await.map_err(Into::into))
    }

    async fn set(&mut self, conn: Resource<RedisConnection>, key: String, value: Vec<u8>) -> R<()> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::set(c, key, value)
            .await
            .map_err(Into::into))
    }

    async fn incr(&mut self, conn: Resource<RedisConnection>, key: String) -> R<i64> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::incr(c, key).await.map_err(Into::into))
    }

    async fn del(&mut self, conn: Resource<RedisConnection>, keys: Vec<String>) -> R<u32> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::del(c, keys).await.map_err(Into::into))
    }

    async fn sadd(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> R<u32> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::sadd(c, key, values)
            .await
            .map_err(Into::into))
    }

    async fn smembers(&mut self, conn: Resource<RedisConnection>, key: String) -> R<Vec<String>> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::smembers(c, key).await.map_err(Into::into))
    }

    async fn srem(
        &mut self,
        conn: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> R<u32> {
        let c = self.redis(&conn)?;
        Ok(RedisConnection::srem(c, key, values)
            .await
            .map_err(Into::into))
    }

    async fn execute(
        &mut self,
        conn: Resource<RedisConnection>,
        command: String,
        arguments: Vec<v2::RedisParameter>,
    ) -> R<Vec<v2::RedisResult>> {
        let c = self.redis(&conn)?;
        let args = arguments.into_iter().map(Into::into).collect();
        Ok(RedisConnection::execute(c, command, args)
            .await
            .map(|r| r.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }

    async fn drop(&mut self, conn: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        self.caps.redis.count = self.caps.redis.count.saturating_sub(1);
        Ok(())
    }
}
