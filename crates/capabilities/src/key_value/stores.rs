//! The key-value capability: every labelled store the app's components are granted,
//! opened once at load from the runtime config (or the state directory's default file).

use super::{Backend, Store};
use crate::bindings::fermyon::spin::key_value as spin_v2;
use crate::bindings::spin::key_value::key_value as spin_v3;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};
use crate::capability::{Capability, LoadContext};
use crate::{CapabilitiesData, CapabilityError, CapabilityOptions, LinkerKind, ViewGetter};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::Linker;
use wisp_manifest::Component;

/// The app's key-value stores by label.
#[derive(Default)]
pub struct KeyValueStores {
    by_label: HashMap<String, Arc<Store>>,
}

impl KeyValueStores {
    /// The store `label`, opened on first use; `None` when nothing serves that label.
    async fn open(
        &mut self,
        label: &str,
        options: &CapabilityOptions,
    ) -> Result<Option<Arc<Store>>, CapabilityError> {
        if let Some(store) = self.by_label.get(label) {
            return Ok(Some(store.clone()));
        }
        let backend = match options.runtime_config.key_value_stores.get(label) {
            Some(config) => Backend::open(label, config).await,
            None if label == "default" => {
                Backend::default_sqlite(&crate::default_kv_path(&options.state_dir))
            }
            None => return Ok(None),
        }
        .map_err(|e| CapabilityError::Config(format!("key-value store `{label}`: {e:#}")))?;
        let store = Arc::new(Store {
            label: label.to_owned(),
            backend,
        });
        self.by_label.insert(label.to_owned(), store.clone());
        Ok(Some(store))
    }

    /// Sets `pairs` in the default store (`--key-value`).
    pub(crate) async fn seed_default(
        &mut self,
        options: &CapabilityOptions,
        pairs: &[(String, String)],
    ) -> Result<(), CapabilityError> {
        let store = self
            .open("default", options)
            .await?
            .expect("`default` is always served");
        for (key, value) in pairs {
            store
                .backend
                .set(key, value.as_bytes())
                .await
                .map_err(|e| CapabilityError::Config(format!("--key-value {key}: {e}")))?;
        }
        Ok(())
    }
}

impl Capability for KeyValueStores {
    type Grant = HashMap<String, Arc<Store>>;
    type Instance = ();

    async fn load(ctx: &LoadContext<'_>) -> Result<Self, CapabilityError> {
        let mut stores = Self::default();
        for component in &ctx.app.components {
            for label in &component.key_value_stores {
                if stores.open(label, ctx.options).await?.is_none() {
                    return Err(crate::unserved(
                        component,
                        "key-value store",
                        "key_value_store",
                        label,
                    ));
                }
            }
        }
        Ok(stores)
    }

    fn grant(&self, component: &Component) -> Self::Grant {
        crate::granted_labels(&self.by_label, &component.key_value_stores)
    }

    fn add_to_linker<T: Send + 'static>(
        linker: &mut Linker<T>,
        get: ViewGetter<T>,
        kind: LinkerKind,
    ) -> wasmtime::Result<()> {
        spin_v2::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        wasi_store::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        atomics::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        batch::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        if kind == LinkerKind::Concurrent {
            spin_v3::add_to_linker::<T, CapabilitiesData>(linker, get)?;
        }
        Ok(())
    }
}
