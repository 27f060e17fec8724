//! A minimal guest built against `wasi:http@0.2.0` (the oldest 0.2 release), using only
//! the raw bindings so it also builds for `wasm32-unknown-unknown` as a core module.

use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

wasi::http::proxy::export!(Hello);

struct Hello;

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(_req: IncomingRequest, out: ResponseOutparam) {
        let resp = OutgoingResponse::new(Fields::new());
        let body = resp.body().unwrap();
        ResponseOutparam::set(out, Ok(resp));
        let stream = body.write().unwrap();
        stream.blocking_write_and_flush(b"hello from wasi 0.2.0\n").unwrap();
        drop(stream);
        OutgoingBody::finish(body, None).unwrap();
    }
}
