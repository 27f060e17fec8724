//! How a guest's run ends when it does not end well, and the one wrapper every trigger's
//! call goes through: the component's timeout, a host panic caught at the guest's
//! future, and the failure sorted into what the trigger reports (503, 504, 500, …).

use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// How a guest's run ended, when it did not end well.
#[derive(Debug, thiserror::Error)]
pub enum GuestFailure {
    /// It ran past its `timeout` limit and was stopped.
    #[error("ran past its {0:?} timeout and was stopped")]
    Timeout(Duration),
    /// The instance pool had no free slot.
    #[error("the instance pool is exhausted")]
    PoolExhausted,
    /// The host-wide guest-memory budget (`--max-total-memory`) was spent.
    #[error("the host's guest-memory budget is spent")]
    HostMemoryExhausted,
    /// It called `wasi:cli/exit`: 0 for `exit(ok)`, 1 for `exit(err)`.
    #[error("exited with status {0}")]
    Exited(i32),
    /// It trapped or a host call failed.
    #[error("{}", .0.root_cause())]
    Failed(wasmtime::Error),
}

impl GuestFailure {
    /// Whether the host lacked capacity (retrying later may succeed), rather than the
    /// guest failing.
    pub fn is_capacity(&self) -> bool {
        matches!(self, Self::PoolExhausted | Self::HostMemoryExhausted)
    }

    /// Sorts an error from instantiating or calling a guest.
    pub fn classify(error: wasmtime::Error) -> Self {
        if error.is::<wasmtime::PoolConcurrencyLimitError>() {
            Self::PoolExhausted
        } else if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Self::Exited(exit.0)
        } else if error
            .chain()
            .any(|c| c.is::<wisp_engine::HostMemoryExhausted>())
        {
            Self::HostMemoryExhausted
        } else {
            Self::Failed(error)
        }
    }

    /// Logs the failure once, at the level it deserves.
    pub fn log(&self, component: &str) {
        match self {
            Self::Timeout(_) => tracing::error!(component, "guest {self}"),
            Self::PoolExhausted => tracing::warn!(component, "instance pool exhausted"),
            Self::HostMemoryExhausted => {
                tracing::warn!(component, "host guest-memory budget spent: 503")
            }
            // A command's normal way out; whoever ran it decides what the status means.
            Self::Exited(status) => tracing::info!(component, "guest exited with status {status}"),
            Self::Failed(e) => {
                // The root cause names the trap; the wasm backtrace is for debugging.
                tracing::error!(component, "guest failed: {}", e.root_cause());
                tracing::debug!(component, "guest failure detail: {e:?}");
            }
        }
    }
}

/// Runs a guest call (instantiation included) for `component` within `timeout`.
///
/// A busy guest yields at every epoch slice, so the timeout fires within two ticks even
/// in a tight loop; dropping the call drops the instance. A panic in host code stays
/// this call's failure: guests run on the task of whatever event brought them (an HTTP
/// connection, say), which must not unwind with them.
pub async fn run_guarded<T>(
    component: &str,
    timeout: Duration,
    call: impl Future<Output = wasmtime::Result<T>>,
) -> Result<T, GuestFailure> {
    let call = AssertUnwindSafe(call)
        .catch_unwind()
        .map(|r| r.unwrap_or_else(|_| Err(wasmtime::Error::msg("a host call panicked"))));
    let outcome = match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(GuestFailure::classify(e)),
        Err(_) => Err(GuestFailure::Timeout(timeout)),
    };
    if let Err(failure) = &outcome {
        failure.log(component);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: Send + 'static>(
        timeout: Duration,
        call: impl Future<Output = wasmtime::Result<T>> + Send + 'static,
    ) -> Result<T, GuestFailure> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(run_guarded("t", timeout, call))
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn a_clean_call_returns_its_value() {
        assert_eq!(run(LONG, async { Ok(7) }).unwrap(), 7);
    }

    #[test]
    fn a_call_past_its_timeout_is_stopped() {
        let outcome = run(Duration::from_millis(20), async {
            tokio::time::sleep(LONG).await;
            Ok(())
        });
        assert!(
            matches!(outcome, Err(GuestFailure::Timeout(t)) if t == Duration::from_millis(20)),
            "{outcome:?}"
        );
    }

    #[test]
    fn a_host_panic_is_this_call_s_failure_not_the_caller_s() {
        let outcome = run(LONG, async {
            if true {
                panic!("boom");
            }
            Ok(())
        });
        match outcome {
            Err(GuestFailure::Failed(e)) => assert_eq!(e.to_string(), "a host call panicked"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failures_are_sorted_by_what_the_trigger_reports() {
        let exit = run(LONG, async {
            Err::<(), _>(wasmtime::Error::new(wasmtime_wasi::I32Exit(1)))
        });
        assert!(matches!(exit, Err(GuestFailure::Exited(1))), "{exit:?}");

        let budget = run(LONG, async {
            Err::<(), _>(
                wasmtime::Error::new(wisp_engine::HostMemoryExhausted { max: 1 })
                    .context("instantiating"),
            )
        });
        assert!(
            matches!(&budget, Err(f @ GuestFailure::HostMemoryExhausted) if f.is_capacity()),
            "{budget:?}"
        );

        let trap = run(LONG, async {
            Err::<(), _>(wasmtime::Error::msg("wasm trap: unreachable").context("calling handle"))
        });
        match trap {
            Err(f @ GuestFailure::Failed(_)) => {
                assert!(!f.is_capacity());
                assert_eq!(f.to_string(), "wasm trap: unreachable");
            }
            other => panic!("{other:?}"),
        }
    }
}
