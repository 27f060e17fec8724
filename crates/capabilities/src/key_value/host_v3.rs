//! `spin:key-value/key-value@3.0.0` (spin-sdk 7): the same stores as version 2, behind
//! `async func`s; `get-keys` answers with a stream of keys and a future for the outcome.

use super::{KvError, SpinStore};
use crate::bindings::spin::key_value::key_value as v3;
use crate::{CapabilitiesData, CapabilitiesView};
use wasmtime::component::{Accessor, FutureReader, Resource, StreamReader};

fn err(e: KvError) -> v3::Error {
    v3::Error::Other(e.0)
}

/// The store behind `s`, cloned out of the table so the backend call can await freely.
fn store_of<U>(
    accessor: &Accessor<U, CapabilitiesData>,
    s: &Resource<SpinStore>,
) -> wasmtime::Result<std::sync::Arc<super::Store>> {
    accessor.with(|mut view| Ok(view.get().table.get(s)?.0.clone()))
}

impl v3::Host for CapabilitiesView<'_> {}

impl v3::HostStore for CapabilitiesView<'_> {
    async fn drop(&mut self, s: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl<U> v3::HostStoreWithStore<U> for CapabilitiesData {
    async fn open(
        accessor: &Accessor<U, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<SpinStore>, v3::Error>> {
        accessor.with(|mut view| {
            let view = view.get();
            match view.caps.grants.stores.get(&label).cloned() {
                Some(store) => Ok(Ok(view.table.push(SpinStore(store))?)),
                None => Ok(Err(v3::Error::AccessDenied)),
            }
        })
    }

    async fn get(
        accessor: &Accessor<U, Self>,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, v3::Error>> {
        let store = store_of(accessor, &s)?;
        Ok(store.backend.get(&key).await.map_err(err))
    }

    async fn set(
        accessor: &Accessor<U, Self>,
        s: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let store = store_of(accessor, &s)?;
        Ok(store.backend.set(&key, &value).await.map_err(err))
    }

    async fn delete(
        accessor: &Accessor<U, Self>,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), v3::Error>> {
        let store = store_of(accessor, &s)?;
        Ok(store.backend.delete(&key).await.map_err(err))
    }

    async fn exists(
        accessor: &Accessor<U, Self>,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, v3::Error>> {
        let store = store_of(accessor, &s)?;
        Ok(store.backend.exists(&key).await.map_err(err))
    }

    async fn get_keys(
        accessor: &Accessor<U, Self>,
        s: Resource<SpinStore>,
    ) -> wasmtime::Result<(StreamReader<String>, FutureReader<Result<(), v3::Error>>)> {
        let store = store_of(accessor, &s)?;
        // Backends list keys in one call; the stream hands them over as the guest reads.
        let (keys, outcome) = match store.backend.keys().await {
            Ok(keys) => (keys, Ok(())),
            Err(e) => (Vec::new(), Err(err(e))),
        };
        accessor.with(|mut access| {
            let stream = StreamReader::new(&mut access, keys)?;
            let done = FutureReader::new(&mut access, async move { wasmtime::error::Ok(outcome) })?;
            Ok((stream, done))
        })
    }
}
