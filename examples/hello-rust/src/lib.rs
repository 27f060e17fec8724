//! The smallest useful wisp app: a `wasi:http` component that greets the caller.

use std::io::Write as _;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wasi::http::proxy::export!(Hello);

struct Hello;

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(req: IncomingRequest, out: ResponseOutparam) {
        let path = req.path_with_query().unwrap_or_default();
        let headers = Fields::new();
        let _ = headers.append("content-type", b"text/plain; charset=utf-8");
        let resp = OutgoingResponse::new(headers);
        let body = resp.body().expect("response body");
        ResponseOutparam::set(out, Ok(resp));
        let mut stream = body.write().expect("body stream");
        let _ = writeln!(stream, "Hello from wisp! You asked for {path}");
        let _ = stream.flush();
        drop(stream);
        let _ = OutgoingBody::finish(body, None);
    }
}
