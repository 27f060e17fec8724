//! The two forms of the MQTT handler a guest may export, found on its `InstancePre` and
//! called with one message.

use wasmtime::Store;
use wasmtime::component::Instance;
use wisp_engine::HostState;
use wisp_runtime::LoadedComponent;

mod v3 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "spin:mqtt-trigger/spin-mqtt@3.0.0",
        exports: { default: async | store },
    });
}

mod unversioned {
    wasmtime::component::bindgen!({
        path: "../../wit/spin-mqtt-trigger-unversioned",
        world: "spin:mqtt-trigger/spin-mqtt",
        exports: { default: async },
    });
}

/// Where a component's MQTT handler sits among its exports.
pub(crate) enum MqttExport {
    /// `spin:mqtt-trigger@3.0.0`'s `handle-message`, an `async func` (the Spin MQTT
    /// trigger plugin's current interface: WASI 0.3 guests).
    V3(v3::SpinMqttIndices),
    /// The unversioned `spin:mqtt-trigger`'s `handle-message`, a plain call (the earlier
    /// plugin's interface: WASI 0.2 guests).
    Unversioned(unversioned::SpinMqttIndices),
}

impl MqttExport {
    /// The handler `component` exports; `None` if it exports neither form. Both export
    /// `handle-message` at the root with the same types, so the form is told by whether
    /// it is an `async func`.
    pub(crate) fn find(component: &LoadedComponent) -> Option<Self> {
        let pre = component.instance_pre();
        match component.root_func_is_async("handle-message")? {
            true => v3::SpinMqttIndices::new(pre).ok().map(Self::V3),
            false => unversioned::SpinMqttIndices::new(pre)
                .ok()
                .map(Self::Unversioned),
        }
    }

    /// Calls the handler with one message; `Ok(Err(why))` when the guest returned an
    /// error.
    pub(crate) async fn call(
        &self,
        store: &mut Store<HostState>,
        instance: Instance,
        payload: Vec<u8>,
        topic: String,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Self::V3(indices) => {
                use v3::spin::mqtt_trigger::spin_mqtt_types::Metadata;
                let guest = indices.load(&mut *store, &instance)?;
                let metadata = Metadata { topic };
                let answer = store
                    .run_concurrent(async move |accessor| {
                        guest.call_handle_message(accessor, payload, metadata).await
                    })
                    .await??;
                Ok(answer.map_err(|e| format!("{e:?}")))
            }
            Self::Unversioned(indices) => {
                use unversioned::spin::mqtt_trigger::spin_mqtt_types::Metadata;
                let guest = indices.load(&mut *store, &instance)?;
                let answer = guest
                    .call_handle_message(&mut *store, &payload, &Metadata { topic })
                    .await?;
                Ok(answer.map_err(|e| format!("{e:?}")))
            }
        }
    }
}
