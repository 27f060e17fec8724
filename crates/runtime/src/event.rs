//! One event on one component, start to end, for the triggers whose event is a message
//! rather than a connection (a command, a Redis message, a cron tick, an MQTT publish):
//! lease an instance, call the trigger's export under [`crate::run_guarded`], release
//! the instance. The HTTP trigger does the same steps itself, because its response
//! outlives the call.

use crate::{AppRuntime, GuestFailure, LeaseError};
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::Instance;
use wisp_engine::{ChainContext, HostState, InternalHttp};

/// Why an event did not run to a result.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// No instance could be leased (every slot busy past the queue's bounds, or the
    /// store could not be made).
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// The guest trapped, ran past its timeout, exited, or the host lacked capacity.
    #[error("{0}")]
    Guest(#[from] GuestFailure),
}

impl AppRuntime {
    /// Runs one event on the component at `index`: leases an instance (waiting, bounded,
    /// for a slot), hands `call` its store and instance, and releases the instance,
    /// kept for the next event only when the call ended well. The event is the root of
    /// its own chain; `internal` serves the guest's in-process requests (`http://self`,
    /// `*.spin.internal`) when the app also has HTTP triggers. `args` is the guest's argv.
    pub async fn run_event<T, F>(
        &self,
        index: usize,
        internal: Option<Arc<dyn InternalHttp>>,
        args: &[String],
        call: F,
    ) -> Result<T, EventError>
    where
        F: for<'a> FnOnce(&'a mut Store<HostState>, Instance) -> BoxFuture<'a, wasmtime::Result<T>>,
    {
        let component = self.component(index);
        let chain = ChainContext::root(
            internal,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            component.limits().max_fanout,
            Some(component.slots().clone()),
        );
        let mut lease = self.lease_with_args(index, chain, args).await?;
        let id = lease.component().clone();
        let timeout = lease.timeout();
        let run = async {
            let instance = lease.instance().await?;
            call(lease.store(), instance).await
        };
        let outcome = crate::run_guarded(&id, timeout, run).await;
        lease.release(outcome.is_ok());
        Ok(outcome?)
    }
}
