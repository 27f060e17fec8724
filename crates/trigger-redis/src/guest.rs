//! The two forms of the Redis handler a guest may export, found on its `InstancePre`
//! and called with one message.

use wasmtime::Store;
use wasmtime::component::{Instance, InstancePre};
use wisp_engine::HostState;

mod v2 {
    wasmtime::component::bindgen!({
        path: "../../wit/spin-unversioned",
        world: "fermyon:spin/redis-trigger",
        exports: { default: async },
    });
}

mod v3 {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "wisp:host/redis-trigger-v3",
        exports: { default: async | store },
    });
}

/// Where a component's Redis handler sits among its exports.
pub(crate) enum RedisExport {
    /// `fermyon:spin/inbound-redis` (spin-sdk 5's `#[redis_component]`), a plain call.
    V2(v2::RedisTriggerIndices),
    /// `spin:redis/inbound-redis@3.0.0` (spin-sdk 7), an `async func`.
    V3(v3::RedisTriggerV3Indices),
}

impl RedisExport {
    /// The handler `pre` exports, newest form first; `None` if it exports neither.
    pub(crate) fn find(pre: &InstancePre<HostState>) -> Option<Self> {
        if let Ok(v3) = v3::RedisTriggerV3Indices::new(pre) {
            return Some(Self::V3(v3));
        }
        v2::RedisTriggerIndices::new(pre).ok().map(Self::V2)
    }

    /// Calls the handler with `payload`; `Ok(Err(why))` when the guest returned an error.
    pub(crate) async fn call(
        &self,
        store: &mut Store<HostState>,
        instance: Instance,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            Self::V2(indices) => {
                let guest = indices.load(&mut *store, &instance)?;
                let answer = guest
                    .fermyon_spin_inbound_redis()
                    .call_handle_message(&mut *store, &payload)
                    .await?;
                Ok(answer.map_err(|e| format!("{e:?}")))
            }
            Self::V3(indices) => {
                let guest = indices.load(&mut *store, &instance)?;
                let answer = store
                    .run_concurrent(async move |accessor| {
                        guest
                            .spin_redis_inbound_redis()
                            .call_handle_message(accessor, payload)
                            .await
                    })
                    .await??;
                Ok(answer.map_err(|e| format!("{e:?}")))
            }
        }
    }
}
