//! `spin:mqtt/mqtt@3.0.0` (spin-sdk 7, `async func`s) onto the shared session.

use super::{MqttConnection, open};
use crate::bindings::spin::mqtt::mqtt as v3;
use crate::{CapabilitiesData, CapabilitiesView};
use wasmtime::component::{Accessor, Resource};

super::conversions!(v3);

impl v3::Host for CapabilitiesView<'_> {}

impl v3::HostConnection for CapabilitiesView<'_> {
    async fn drop(&mut self, conn: Resource<MqttConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?.close();
        self.caps.mqtt.count = self.caps.mqtt.count.saturating_sub(1);
        Ok(())
    }
}

impl<U> v3::HostConnectionWithStore<U> for CapabilitiesData {
    async fn open(
        a: &Accessor<U, Self>,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<MqttConnection>, v3::Error>> {
        let (grants, count) = a.with(|mut v| {
            let v = v.get();
            (v.caps.grants.clone(), v.caps.mqtt.count)
        });
        let opened = open(
            &grants,
            count,
            &address,
            username,
            password,
            keep_alive_interval_in_secs,
        )
        .await;
        match opened {
            Ok(conn) => a.with(|mut v| {
                let v = v.get();
                v.caps.mqtt.count += 1;
                Ok(Ok(v.table.push(conn)?))
            }),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn publish(
        a: &Accessor<U, Self>,
        conn: Resource<MqttConnection>,
        topic: String,
        payload: Vec<u8>,
        q: v3::Qos,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let session =
            a.with(|mut v| -> wasmtime::Result<_> { Ok(v.get().table.get(&conn)?.0.clone()) })?;
        Ok(session
            .publish(topic, payload, qos(q))
            .await
            .map_err(Into::into))
    }
}
