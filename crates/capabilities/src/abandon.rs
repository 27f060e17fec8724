//! Cleaning up after a database statement whose request ended first (timeout, client
//! gone, trap): the host call's future is dropped mid-statement, and the server must be
//! told to stop.

use std::future::Future;
use std::pin::Pin;

/// Spawns its cancelling future when dropped armed; [`OnAbandon::disarm`] once the
/// statement finished.
pub(crate) struct OnAbandon(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl OnAbandon {
    /// A guard that runs `cancel` (on the runtime) if dropped before being disarmed.
    /// Futures are lazy: nothing is sent unless it runs.
    pub(crate) fn new(cancel: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(Some(Box::pin(cancel)))
    }

    /// The statement finished: nothing to cancel.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for OnAbandon {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(cancel);
        }
    }
}
