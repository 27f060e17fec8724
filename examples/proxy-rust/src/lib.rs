//! A forwarding `wasi:http` component: each request's path and query go to `$UPSTREAM`
//! with a GET through `wasi:http/outgoing-handler`, and the upstream's status and body
//! come back. The outbound benchmark (`wisp-bench outbound`) runs it.

use std::io::{Read as _, Write as _};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};

wasi::http::proxy::export!(Proxy);

struct Proxy;

impl wasi::exports::http::incoming_handler::Guest for Proxy {
    fn handle(req: IncomingRequest, out: ResponseOutparam) {
        let path = req.path_with_query().unwrap_or_else(|| "/".into());
        let upstream = std::env::var("UPSTREAM").unwrap_or_default();
        let (status, body) = match forward(&upstream, &path) {
            Ok(answer) => answer,
            Err(e) => (502, format!("upstream {upstream}: {e}\n").into_bytes()),
        };
        let headers = Fields::new();
        let _ = headers.append("content-type", b"text/plain; charset=utf-8");
        let resp = OutgoingResponse::new(headers);
        let _ = resp.set_status_code(status);
        let out_body = resp.body().expect("response body");
        ResponseOutparam::set(out, Ok(resp));
        let mut stream = out_body.write().expect("body stream");
        let _ = stream.write_all(&body);
        let _ = stream.flush();
        drop(stream);
        let _ = OutgoingBody::finish(out_body, None);
    }
}

/// GETs `path` from `upstream` (`http://host:port`): its status and whole body.
fn forward(upstream: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    let authority = upstream
        .strip_prefix("http://")
        .ok_or("UPSTREAM must be http://host:port")?
        .trim_end_matches('/');
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(path));
    let body = request.body().map_err(|_| "request body taken")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|_| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let incoming = response.consume().map_err(|_| "response body taken")?;
    let mut bytes = Vec::new();
    incoming
        .stream()
        .map_err(|_| "response stream taken")?
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok((status, bytes))
}
