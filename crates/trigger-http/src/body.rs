//! Response bodies as the client gets them. A guest's body usually finishes within
//! microseconds of its headers; when it does, wisp sends it with `content-length` (an empty
//! one as `content-length: 0`) instead of chunked. A body still being produced after
//! [`SETTLE_WAIT`], or larger than [`SETTLE_LIMIT`], streams: the head waits at most that
//! long for a slow guest's body.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// How long the response head may wait for the guest to finish its body.
const SETTLE_WAIT: Duration = Duration::from_millis(100);
/// The most a body may buffer while being settled; more than that streams.
const SETTLE_LIMIT: usize = 256 * 1024;

/// A body whose first frames may already be in hand.
pub struct ResponseBody {
    ready: VecDeque<Frame<Bytes>>,
    rest: Option<HyperOutgoingBody>,
    /// Exact length, known when the whole body is in `ready`.
    exact: Option<u64>,
    /// Set by the guest's task, before its instance is dropped, when the guest failed.
    /// wasmtime-wasi-http ends a body whose guest died without `finish` exactly like a
    /// finished one; this flag is how such a truncated body is told apart and cut.
    guest_failed: Option<Arc<AtomicBool>>,
}

/// A body that yields one error: hyper then aborts the response, so the client sees it
/// incomplete instead of a clean end.
fn failing(e: wasmtime_wasi_http::Error) -> HyperOutgoingBody {
    http_body_util::StreamBody::new(futures::stream::once(async { Err(e) })).boxed_unsync()
}

impl ResponseBody {
    fn new(
        ready: VecDeque<Frame<Bytes>>,
        rest: Option<HyperOutgoingBody>,
        exact: Option<u64>,
        guest_failed: Option<Arc<AtomicBool>>,
    ) -> Self {
        Self {
            ready,
            rest,
            exact,
            guest_failed,
        }
    }

    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let exact = Some(bytes.len() as u64);
        let mut ready = VecDeque::new();
        if !bytes.is_empty() {
            ready.push_back(Frame::data(bytes));
        }
        Self::new(ready, None, exact, None)
    }

    /// Collects what the guest produces within [`SETTLE_WAIT`]; see the module docs.
    /// `guest_failed` is the guest task's failure flag (see the field's docs).
    pub async fn settle(mut body: HyperOutgoingBody, guest_failed: Arc<AtomicBool>) -> Self {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        let mut ready = VecDeque::new();
        let mut buffered = 0usize;
        loop {
            // `frame()` is cancel-safe: a timeout never loses a frame.
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_elapsed) => break,
                Ok(None) if guest_failed.load(Ordering::Acquire) => {
                    let cut = failing(wasmtime_wasi_http::Error::HttpResponseIncomplete);
                    return Self::new(ready, Some(cut), None, None);
                }
                Ok(None) => return Self::new(ready, None, Some(buffered as u64), None),
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        buffered += data.len();
                    }
                    let is_trailers = frame.is_trailers();
                    ready.push_back(frame);
                    if is_trailers || buffered > SETTLE_LIMIT {
                        break;
                    }
                }
                // Leave the error in the stream so hyper aborts the response as it would.
                Ok(Some(Err(e))) => return Self::new(ready, Some(failing(e)), None, None),
            }
        }
        Self::new(ready, Some(body), None, Some(guest_failed))
    }
}

/// A request body that fails once more than `limit` bytes arrive, and records that it
/// did so the request can be answered 413.
pub struct LimitedBody {
    inner: hyper::body::Incoming,
    seen: u64,
    limit: u64,
    exceeded: Arc<AtomicBool>,
}

impl LimitedBody {
    /// Wraps `inner`; `exceeded` is set when the limit is crossed.
    pub fn new(inner: hyper::body::Incoming, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            seen: 0,
            limit,
            exceeded,
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.seen += data.len() as u64;
                    if self.seen > self.limit {
                        self.exceeded.store(true, Ordering::Release);
                        return Poll::Ready(Some(Err(
                            wasmtime_wasi_http::Error::HttpRequestBodySize(Some(self.seen)),
                        )));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::Hyper(e))))
            }
            other => other.map(|f| f.map(|r| r.map_err(wasmtime_wasi_http::Error::Hyper))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(frame) = self.ready.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        let Some(rest) = self.rest.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(rest).poll_frame(cx) {
            Poll::Ready(None)
                if self
                    .guest_failed
                    .as_ref()
                    .is_some_and(|f| f.load(Ordering::Acquire)) =>
            {
                self.rest = None;
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpResponseIncomplete)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && self.rest.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

/// A body that holds its request's admission to the component until it has ended or is
/// dropped, so a streaming response counts against `max_instances` while it streams.
pub(crate) struct Admitted {
    inner: HyperOutgoingBody,
    _admission: wisp_runtime::Admission,
}

impl Admitted {
    pub(crate) fn new(inner: HyperOutgoingBody, admission: wisp_runtime::Admission) -> Self {
        Self {
            inner,
            _admission: admission,
        }
    }
}

impl Body for Admitted {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
