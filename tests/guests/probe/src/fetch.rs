//! Outbound requests through `wasi:http/outgoing-handler`, for the outbound and
//! service-chaining tests.

use std::io::{Read as _, Write as _};
use wasi::http::outgoing_handler;
use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};

/// What came back from a request.
pub struct Fetched {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends `method url` with `body_len` bytes of `y` as its body (streamed in 16 KiB
/// writes) and reads the whole response. The error is the host's error code, as text.
pub fn fetch(method: Method, url: &str, body_len: usize) -> Result<Fetched, String> {
    let (req, out_body) = request(method, url)?;
    let future = wasi::http::outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    // A refused request closes its body stream, and a server may answer without reading
    // the body at all (an in-process callee drops it when it finishes): what counts is
    // the response, so a failed write only matters through it.
    let _ = write_body(out_body, body_len);
    future.subscribe().block();
    let resp = future
        .get()
        .ok_or("response not ready")?
        .map_err(|_| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = resp.status();
    let in_body = resp.consume().map_err(|_| "response body taken")?;
    let mut body = Vec::new();
    {
        let mut stream = in_body.stream().map_err(|_| "response stream taken")?;
        stream
            .read_to_end(&mut body)
            .map_err(|e| format!("reading response body: {e}"))?;
    }
    Ok(Fetched { status, body })
}

/// A request for `method url`, and its body to write.
fn request(method: Method, url: &str) -> Result<(OutgoingRequest, OutgoingBody), String> {
    let (scheme, rest) = url.split_once("://").ok_or("url has no scheme")?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
    let req = OutgoingRequest::new(Fields::new());
    let _ = req.set_method(&method);
    let _ = req.set_scheme(Some(&match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    }));
    let _ = req.set_authority(Some(authority));
    let _ = req.set_path_with_query(Some(&path));
    let out_body = req.body().map_err(|_| "request body taken")?;
    Ok((req, out_body))
}
/// Starts `n` GETs of `url` at once and holds every response (bodies unread), then
/// reports how many got a response and how the others failed: how a test sees the
/// host's cap on requests in flight per instance.
pub fn fan_out(url: &str, n: usize) -> String {
    let mut pending = Vec::new();
    let mut errors: std::collections::BTreeMap<String, usize> = Default::default();
    for _ in 0..n {
        let started = request(Method::Get, url).and_then(|(req, body)| {
            let future = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
            let _ = OutgoingBody::finish(body, None);
            Ok(future)
        });
        match started {
            Ok(future) => pending.push(future),
            Err(e) => *errors.entry(e).or_default() += 1,
        }
    }
    let mut held = Vec::new();
    for future in pending {
        future.subscribe().block();
        match future.get() {
            Some(Ok(Ok(response))) => held.push(response),
            Some(Ok(Err(e))) => *errors.entry(format!("{e:?}")).or_default() += 1,
            _ => *errors.entry("no result".into()).or_default() += 1,
        }
    }
    let mut report = format!("responses={}", held.len());
    for (error, count) in errors {
        report.push_str(&format!(" {error}={count}"));
    }
    report
}


fn write_body(out_body: OutgoingBody, len: usize) -> Result<(), String> {
    {
        let mut w = out_body.write().map_err(|_| "request stream taken")?;
        let chunk = [b'y'; 16 * 1024];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            w.write_all(&chunk[..n])
                .map_err(|e| format!("writing request body: {e}"))?;
            left -= n;
        }
        w.flush().map_err(|e| format!("flushing request body: {e}"))?;
    }
    OutgoingBody::finish(out_body, None).map_err(|e| format!("{e:?}"))
}

/// Decodes `%XX` escapes (and `+` as space) in a query value.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push((hi * 16 + lo) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One node of a fan-out tree through the app itself: starts `k` requests at once to
/// `http://self.alt{path}` one level down, and reports `instances=N refused=M` for its
/// subtree (itself included), M counting requests that got no usable answer.
pub fn tree(path: &str, k: usize, depth: usize) -> String {
    let (mut instances, mut refused) = (1u64, 0u64);
    if depth > 0 {
        let url = format!("http://self.alt{path}?op=tree&k={k}&d={}", depth - 1);
        let mut pending = Vec::new();
        for _ in 0..k {
            let started = request(Method::Get, &url).and_then(|(req, body)| {
                let future = outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
                let _ = OutgoingBody::finish(body, None);
                Ok(future)
            });
            match started {
                Ok(future) => pending.push(future),
                Err(_) => refused += 1,
            }
        }
        for future in pending {
            future.subscribe().block();
            let body = match future.get() {
                Some(Ok(Ok(resp))) if resp.status() == 200 => read_all(resp),
                _ => None,
            };
            match body.as_deref().and_then(parse_tree) {
                Some((n, m)) => {
                    instances += n;
                    refused += m;
                }
                None => refused += 1,
            }
        }
    }
    format!("instances={instances} refused={refused}")
}

fn read_all(resp: wasi::http::types::IncomingResponse) -> Option<String> {
    let in_body = resp.consume().ok()?;
    let mut body = Vec::new();
    in_body.stream().ok()?.read_to_end(&mut body).ok()?;
    String::from_utf8(body).ok()
}

fn parse_tree(report: &str) -> Option<(u64, u64)> {
    let (n, m) = report.strip_prefix("instances=")?.split_once(" refused=")?;
    Some((n.parse().ok()?, m.parse().ok()?))
}
