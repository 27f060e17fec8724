//! The smallest WASI 0.3 HTTP component: an async handler built with spin-sdk 7.

use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

/// Answers every request under `/hello/...` with a greeting naming the path.
#[http_service]
async fn hello(req: Request) -> impl IntoResponse {
    format!("Hello from wisp (WASI 0.3)! You asked for {}\n", req.uri().path())
}
