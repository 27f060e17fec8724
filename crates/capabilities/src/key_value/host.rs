//! The key-value interfaces on top of [`Backend`](super::Backend): the same store, seen
//! through `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2`.

use super::{Bucket, Cas, KvError, SpinStore, Store};
use crate::CapabilitiesView;
use crate::bindings::fermyon::spin::key_value as spin_v2;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};
use std::sync::Arc;
use wasmtime::component::Resource;

impl CapabilitiesView<'_> {
    /// The store `label` if this component was granted it.
    fn granted(&self, label: &str) -> Option<Arc<Store>> {
        self.caps.grants.stores.get(label).cloned()
    }
}

fn spin_err(e: KvError) -> spin_v2::Error {
    spin_v2::Error::Other(e.0)
}

fn wasi_err(e: KvError) -> wasi_store::Error {
    wasi_store::Error::Other(e.0)
}

impl spin_v2::Host for CapabilitiesView<'_> {}

impl spin_v2::HostStore for CapabilitiesView<'_> {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<SpinStore>, spin_v2::Error>> {
        match self.granted(&label) {
            Some(store) => Ok(Ok(self.table.push(SpinStore(store))?)),
            None => Ok(Err(spin_v2::Error::AccessDenied)),
        }
    }

    async fn get(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_v2::Error>> {
        let store = self.table.get(&s)?.0.clone();
        Ok(store.backend.get(&key).await.map_err(spin_err))
    }

    async fn set(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_v2::Error>> {
        let store = self.table.get(&s)?.0.clone();
        Ok(store.backend.set(&key, &value).await.map_err(spin_err))
    }

    async fn delete(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_v2::Error>> {
        let store = self.table.get(&s)?.0.clone();
        Ok(store.backend.delete(&key).await.map_err(spin_err))
    }

    async fn exists(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_v2::Error>> {
        let store = self.table.get(&s)?.0.clone();
        Ok(store.backend.exists(&key).await.map_err(spin_err))
    }

    async fn get_keys(
        &mut self,
        s: Resource<SpinStore>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_v2::Error>> {
        let store = self.table.get(&s)?.0.clone();
        Ok(store.backend.keys().await.map_err(spin_err))
    }

    async fn drop(&mut self, s: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl wasi_store::Host for CapabilitiesView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, wasi_store::Error>> {
        match self.granted(&identifier) {
            Some(store) => Ok(Ok(self.table.push(Bucket(store))?)),
            None => Ok(Err(wasi_store::Error::AccessDenied)),
        }
    }
}

impl wasi_store::HostBucket for CapabilitiesView<'_> {
    async fn get(
        &mut self,
        b: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.get(&key).await.map_err(wasi_err))
    }

    async fn set(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.set(&key, &value).await.map_err(wasi_err))
    }

    async fn delete(
        &mut self,
        b: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.delete(&key).await.map_err(wasi_err))
    }

    async fn exists(
        &mut self,
        b: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.exists(&key).await.map_err(wasi_err))
    }

    async fn list_keys(
        &mut self,
        b: Resource<Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi_store::Error::Other(
                "list-keys returns every key in one response; there is no cursor to continue from"
                    .into(),
            )));
        }
        let store = self.table.get(&b)?.0.clone();
        Ok(store
            .backend
            .keys()
            .await
            .map(|keys| wasi_store::KeyResponse { keys, cursor: None })
            .map_err(wasi_err))
    }

    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for CapabilitiesView<'_> {
    async fn increment(
        &mut self,
        b: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.increment(&key, delta).await.map_err(wasi_err))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let (store, key, current) = {
            let c = self.table.get(&cas)?;
            (c.store.clone(), c.key.clone(), c.current.clone())
        };
        match store
            .backend
            .compare_and_swap(&key, current.as_deref(), &value)
            .await
        {
            Ok(true) => {
                self.table.delete(cas)?;
                Ok(Ok(()))
            }
            // Hand the guest a fresh `cas` holding what is there now, so it can retry.
            Ok(false) => {
                let now = store.backend.get(&key).await;
                let old = self.table.delete(cas)?;
                match now {
                    Ok(current) => {
                        let fresh = self.table.push(Cas {
                            store: old.store,
                            key: old.key,
                            current,
                        })?;
                        Ok(Err(atomics::CasError::CasFailed(fresh)))
                    }
                    Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_err(e)))),
                }
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(wasi_err(e)))),
        }
    }
}

impl atomics::HostCas for CapabilitiesView<'_> {
    async fn new(
        &mut self,
        b: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        match store.backend.get(&key).await {
            Ok(current) => Ok(Ok(self.table.push(Cas {
                store,
                key,
                current,
            })?)),
            Err(e) => Ok(Err(wasi_err(e))),
        }
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for CapabilitiesView<'_> {
    async fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.get_many(&keys).await.map_err(wasi_err))
    }

    async fn set_many(
        &mut self,
        b: Resource<Bucket>,
        pairs: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.set_many(&pairs).await.map_err(wasi_err))
    }

    async fn delete_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.table.get(&b)?.0.clone();
        Ok(store.backend.delete_many(&keys).await.map_err(wasi_err))
    }
}
