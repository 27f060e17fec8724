//! Concurrent reuse of WASI 0.3 HTTP instances (`instance_concurrency` over 1, with
//! `instance_reuse` over 1): one instance serves several requests at the same time, as
//! Spin 4 and `wasmtime serve` do. wasmtime-wasi-http's `ProxyHandler` runs the workers
//! (a task per instance whose store's concurrent event loop takes new requests while
//! the guest tasks it already runs wait on I/O); wisp supplies what a worker runs under:
//! the component's store (grants, limits), when it may take another request, the
//! per-request and idle timeouts, and what becomes of the requests of a worker that
//! fails. Each request is still admitted to its component's slots first, so
//! `max_instances` bounds the requests in flight, as it does without sharing.
//!
//! Sharing has one cost, documented for users: a trap or a timeout ends the instance,
//! and with it every request it was serving at that moment.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use wasmtime::StoreContextMut;
use wasmtime::component::GuestTaskId;
use wasmtime_wasi_http::handler::{
    self, ExpirationError, HandlerState, InstantiationError, Proxy, ProxyHandler, ShouldAccept,
    WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::p3::bindings::ServiceIndices;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};
use wisp_engine::{ChainContext, HostState};
use wisp_runtime::{AppRuntime, GuestFailure, IDLE_TIMEOUT};

/// The shared instances of one WASI 0.3 component. Dropping it (the app) ends every
/// worker as soon as it has no request left.
pub(crate) struct SharedInstances {
    handler: ProxyHandler<ComponentWorkers>,
}

impl Drop for SharedInstances {
    fn drop(&mut self) {
        self.handler.state().closed.cancel();
    }
}

/// What a request brings to the instance it runs on.
pub(crate) struct RequestStart {
    /// Its place in a chain of in-process requests: the instance's outbound requests
    /// are made with the chain of the request it took most recently.
    chain: ChainContext,
    /// How its instance ended, if it ended badly.
    flags: Arc<RequestFlags>,
}

/// How a request's instance ended, if it ended badly: raised by the worker, read by the
/// request.
#[derive(Default)]
struct RequestFlags {
    /// The instance failed, so a response body still streaming from it ends as cut off
    /// rather than complete.
    failed: Arc<AtomicBool>,
    /// It failed because a request (or the guest's work after answering) ran past the
    /// component's timeout.
    timed_out: AtomicBool,
}

/// The requests one worker took; shared by its limits and its expiry.
#[derive(Default)]
struct Taken(Mutex<Vec<Arc<RequestFlags>>>);

impl Taken {
    fn push(&self, flags: Arc<RequestFlags>) {
        self.0.lock().expect("worker requests lock").push(flags);
    }

    /// Marks every request the worker took as failed (and timed out, when it did).
    fn fail_all(&self, timed_out: bool) {
        for flags in self.0.lock().expect("worker requests lock").iter() {
            flags.timed_out.fetch_or(timed_out, Ordering::AcqRel);
            flags.failed.store(true, Ordering::Release);
        }
    }
}

/// How to start a worker of one component.
struct ComponentWorkers {
    runtime: Arc<AppRuntime>,
    index: usize,
    exports: ServiceIndices,
    /// Cancelled when the app lets go of its shared instances.
    closed: CancellationToken,
}

impl SharedInstances {
    /// Shared instances of the component at `index` of `runtime`, which exports
    /// `wasi:http/handler@0.3.0` at `exports`.
    pub(crate) fn new(runtime: Arc<AppRuntime>, index: usize, exports: ServiceIndices) -> Self {
        Self {
            handler: ProxyHandler::new(ComponentWorkers {
                runtime,
                index,
                exports,
                closed: CancellationToken::new(),
            }),
        }
    }

    /// Runs `req` on a shared instance (one with room, or a new one) until it answers.
    /// The flag returned with the response is raised if the instance fails while the
    /// body is still streaming.
    pub(crate) async fn handle(
        &self,
        chain: ChainContext,
        req: http::Request<WasiBody>,
    ) -> Result<(http::Response<WasiBody>, Arc<AtomicBool>), GuestFailure> {
        let flags = Arc::new(RequestFlags::default());
        let start = RequestStart {
            chain,
            flags: flags.clone(),
        };
        match self.handler.handle(start, req).await {
            Ok(resp) => Ok((resp, flags.failed.clone())),
            Err(e) => Err(self.failure(e, &flags)),
        }
    }

    /// Sorts how a request on a shared instance failed.
    fn failure(&self, error: wasmtime::Error, flags: &RequestFlags) -> GuestFailure {
        let timeout = self.handler.state().component().limits().timeout;
        // A busy guest keeps the store's event loop from seeing its requests' own
        // deadlines; the worker's expiry then ends the instance, and says so here.
        if error.is::<ExpirationError>() || flags.timed_out.load(Ordering::Acquire) {
            return GuestFailure::Timeout(timeout);
        }
        match error.downcast::<InstantiationError<RequestStart>>() {
            // The error is shared by every request waiting on that instantiation.
            Ok(failed) if failed.error.is::<wasmtime::PoolConcurrencyLimitError>() => {
                GuestFailure::PoolExhausted
            }
            Ok(failed)
                if failed
                    .error
                    .chain()
                    .any(|c| c.is::<wisp_engine::HostMemoryExhausted>()) =>
            {
                GuestFailure::HostMemoryExhausted
            }
            Ok(failed) => GuestFailure::Failed(wasmtime::format_err!(
                "cannot instantiate: {}",
                failed.error.root_cause()
            )),
            Err(error) => GuestFailure::Failed(error),
        }
    }
}

impl ComponentWorkers {
    fn component(&self) -> &wisp_runtime::LoadedComponent {
        self.runtime.component(self.index)
    }
}

impl HandlerState for ComponentWorkers {
    type StoreData = HostState;
    type WorkerExpiration = Expiry;
    type WorkerState = WorkerLimits;

    async fn instantiate(
        &self,
    ) -> wasmtime::Result<handler::Instance<HostState, Expiry, WorkerLimits>> {
        let component = self.component();
        let limits = component.limits();
        // Replaced by each request's own chain as the worker takes it.
        let chain = ChainContext::root(None, ([0, 0, 0, 0], 0).into(), 0, None);
        let mut store = component
            .new_store(chain, &[])
            .map_err(wasmtime::Error::new)?;
        let instantiated = tokio::time::timeout(limits.timeout, async {
            let instance = component
                .instance_pre()
                .instantiate_async(&mut store)
                .await?;
            self.exports.load(&mut store, &instance)
        })
        .await;
        let service = match instantiated {
            Ok(service) => service?,
            Err(_) => wasmtime::bail!("instantiation ran past the {:?} timeout", limits.timeout),
        };
        let taken = Arc::new(Taken::default());
        Ok(handler::Instance {
            store,
            proxy: Proxy::P3(service),
            view: |state| state.http(),
            expiration: Expiry::new(limits.timeout, taken.clone(), &self.closed),
            state: WorkerLimits {
                component: component.id().into(),
                max_requests: limits.instance_reuse as usize,
                max_concurrent: limits.instance_concurrency as usize,
                timeout: limits.timeout,
                taken,
            },
        })
    }
}

/// What one worker may take on, and the requests it took.
struct WorkerLimits {
    component: Arc<str>,
    /// Requests in all before the instance is dropped (`instance_reuse`).
    max_requests: usize,
    /// Requests at the same time (`instance_concurrency`).
    max_concurrent: usize,
    /// Each request's budget (`timeout`).
    timeout: Duration,
    /// The requests it took, told if it fails.
    taken: Arc<Taken>,
}

impl WorkerState for WorkerLimits {
    type StoreData = HostState;
    type RequestData = RequestStart;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_requests {
            ShouldAccept::Never
        } else if concurrent >= self.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        mut store: StoreContextMut<'_, HostState>,
        start: RequestStart,
        _task: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        store.data_mut().set_chain(start.chain);
        self.taken.push(start.flags);
        Box::pin(tokio::time::sleep(self.timeout))
    }

    fn drop(&self, store: wasmtime::Store<HostState>, result: wasmtime::Result<()>) {
        if let Err(error) = result {
            GuestFailure::classify(error).log(&self.component);
            self.taken.fail_all(false);
        }
        drop(store);
    }
}

/// When a worker ends: a request (or the guest's work after answering) running past the
/// component's timeout, the instance idle for [`IDLE_TIMEOUT`], or idle once the app has
/// let go of it.
struct Expiry {
    timeout: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The state the timer is set for.
    armed_for: Option<(WorkerStatus, Instant)>,
    /// Told before the worker ends for a timeout, so each request reports a timeout.
    taken: Arc<Taken>,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Expiry {
    fn new(timeout: Duration, taken: Arc<Taken>, closed: &CancellationToken) -> Self {
        Self {
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
            armed_for: None,
            taken,
            closed: Box::pin(closed.clone().cancelled_owned()),
        }
    }
}

impl WorkerExpiration for Expiry {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let this = self.get_mut();
        if status == WorkerStatus::Idle && this.closed.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if this.armed_for != Some((status, start)) {
            let limit = match status {
                WorkerStatus::Idle => IDLE_TIMEOUT,
                WorkerStatus::Requests | WorkerStatus::PostReturn => this.timeout,
            };
            this.timer.as_mut().reset((start + limit).into());
            this.armed_for = Some((status, start));
        }
        let expired = this.timer.as_mut().poll(cx);
        if expired.is_ready() && status != WorkerStatus::Idle {
            this.taken.fail_all(true);
        }
        expired
    }
}
