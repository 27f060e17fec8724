//! `fermyon:spin/mqtt@2.0.0` onto the shared session.

use super::{MqttConnection, open};
use crate::CapabilitiesView;
use crate::bindings::fermyon::spin::mqtt as v2;
use wasmtime::component::Resource;

super::conversions!(v2);

impl v2::Host for CapabilitiesView<'_> {}

impl v2::HostConnection for CapabilitiesView<'_> {
    async fn open(
        &mut self,
        address: String,
        username: String,
        password: String,
        keep_alive_interval_in_secs: u64,
    ) -> wasmtime::Result<Result<Resource<MqttConnection>, v2::Error>> {
        let opened = open(
            &self.caps.grants,
            self.caps.mqtt.count,
            &address,
            username,
            password,
            keep_alive_interval_in_secs,
        )
        .await;
        match opened {
            Ok(conn) => {
                self.caps.mqtt.count += 1;
                Ok(Ok(self.table.push(conn)?))
            }
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn publish(
        &mut self,
        conn: Resource<MqttConnection>,
        topic: String,
        payload: Vec<u8>,
        q: v2::Qos,
    ) -> wasmtime::Result<Result<(), v2::Error>> {
        let session = self.table.get(&conn)?.0.clone();
        Ok(session
            .publish(topic, payload, qos(q))
            .await
            .map_err(Into::into))
    }

    async fn drop(&mut self, conn: Resource<MqttConnection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?.close();
        self.caps.mqtt.count = self.caps.mqtt.count.saturating_sub(1);
        Ok(())
    }
}
