//! A `wasi:http` guest (wasi 0.2.4) that reports what it sees, so end-to-end tests can
//! check routing, headers, files, environment, output, streaming and failures.
//! The operation comes from the query: `?op=headers`, `?op=echo`, …; without one it
//! answers `hello from <WHOAMI>`.

mod fetch;

use std::fmt::Write as _;
use std::io::Write as _;
use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme,
};

wasi::http::proxy::export!(Probe);

static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct Probe;

impl wasi::exports::http::incoming_handler::Guest for Probe {
    fn handle(req: IncomingRequest, out: ResponseOutparam) {
        let path_with_query = req.path_with_query().unwrap_or_default();
        let query = path_with_query.split_once('?').map_or("", |(_, q)| q).to_owned();
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| fetch::percent_decode(v))
        };
        match param("op").as_deref() {
            None => {
                let who = env("WHOAMI").unwrap_or_else(|| "probe".into());
                respond(out, 200, format!("hello from {who}\n").as_bytes());
            }
            Some("headers") => {
                let mut s = String::new();
                let _ = writeln!(s, "method: {}", method_name(&req.method()));
                let _ = writeln!(s, "path-with-query: {path_with_query}");
                let _ = writeln!(s, "authority: {}", req.authority().unwrap_or_default());
                let scheme = match req.scheme() {
                    Some(Scheme::Http) => "http".to_owned(),
                    Some(Scheme::Https) => "https".to_owned(),
                    Some(Scheme::Other(o)) => o,
                    None => "none".to_owned(),
                };
                let _ = writeln!(s, "scheme: {scheme}");
                for (name, value) in req.headers().entries() {
                    let _ = writeln!(s, "{name}: {}", String::from_utf8_lossy(&value));
                }
                respond(out, 200, s.as_bytes());
            }
            Some("env") => {
                let name = param("name").unwrap_or_default();
                match env(&name) {
                    Some(v) => respond(out, 200, v.as_bytes()),
                    None => respond(out, 404, format!("{name} is not set").as_bytes()),
                }
            }
            Some("envcount") => {
                let n = wasi::cli::environment::get_environment().len();
                respond(out, 200, n.to_string().as_bytes());
            }
            Some("file") => {
                let path = param("path").unwrap_or_default();
                match std::fs::read(&path) {
                    Ok(bytes) => respond(out, 200, &bytes),
                    Err(e) => respond(out, 404, format!("cannot read {path}: {e}").as_bytes()),
                }
            }
            Some("print") => {
                let msg = param("msg").unwrap_or_else(|| "hi".into());
                println!("out: {msg}");
                eprintln!("err: {msg}");
                respond(out, 200, b"printed");
            }
            Some("echo") => echo(req, out),
            Some("big") => {
                let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(0);
                stream(out, n);
            }
            Some("sleep") => {
                let ms: u64 = param("ms").and_then(|n| n.parse().ok()).unwrap_or(0);
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, b"slept");
            }
            Some("status") => {
                let code: u16 = param("code").and_then(|n| n.parse().ok()).unwrap_or(200);
                respond(out, code, b"");
            }
            Some("empty") => respond(out, 200, b""),
            Some("trap") => panic!("probe was asked to trap"),
            Some("noresponse") => drop(out),
            Some("outbound") => {
                let req = wasi::http::types::OutgoingRequest::new(Fields::new());
                let _ = req.set_authority(Some("example.com"));
                let _ = req.set_path_with_query(Some("/"));
                // A denial may come at once or when the response future resolves.
                let result = wasi::http::outgoing_handler::handle(req, None).and_then(|fut| {
                    fut.subscribe().block();
                    fut.get().expect("resolved").expect("first get")
                });
                match result {
                    Ok(_) => respond(out, 200, b"outbound allowed"),
                    Err(e) => respond(out, 403, format!("outbound refused: {e:?}").as_bytes()),
                }
            }
            Some("count") => {
                // A fresh instance per request means this is always 1.
                let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                respond(out, 200, n.to_string().as_bytes());
            }
            Some("tcp") => {
                let addr = param("addr").unwrap_or_else(|| "127.0.0.1:80".into());
                match std::net::TcpStream::connect(&addr) {
                    Ok(_) => respond(out, 200, b"connected"),
                    Err(e) => respond(out, 403, format!("connect refused: {e}").as_bytes()),
                }
            }
            Some("udp-bind") => {
                let addr = param("addr").unwrap_or_else(|| "127.0.0.1:0".into());
                match std::net::UdpSocket::bind(&addr) {
                    Ok(_) => respond(out, 200, b"bound"),
                    Err(e) => respond(out, 403, format!("bind refused: {e}").as_bytes()),
                }
            }
            Some("count-body") => {
                // Reads the whole body before answering with its length.
                let body = req.consume().expect("request body");
                let mut input = body.stream().expect("request stream");
                let mut n = 0usize;
                let mut buf = [0u8; 16 * 1024];
                let result = loop {
                    match std::io::Read::read(&mut input, &mut buf) {
                        Ok(0) => break Ok(n),
                        Ok(k) => n += k,
                        Err(e) => break Err(e),
                    }
                };
                match result {
                    Ok(n) => respond(out, 200, n.to_string().as_bytes()),
                    // The host refused the body (e.g. over its size limit).
                    Err(e) => panic!("reading the body failed: {e}"),
                }
            }
            Some("partial") => {
                // Streams 64 KiB of the body, then traps.
                let resp = OutgoingResponse::new(Fields::new());
                let out_body = resp.body().expect("body");
                ResponseOutparam::set(out, Ok(resp));
                let mut w = out_body.write().expect("stream");
                w.write_all(&[b'p'; 64 * 1024]).expect("write");
                w.flush().expect("flush");
                wasi::clocks::monotonic_clock::subscribe_duration(200_000_000).block();
                panic!("trapping after streaming part of the body");
            }
            Some("spam") => {
                // Prints `n` lines of `size` bytes to stdout.
                let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(1);
                let size: usize = param("size").and_then(|n| n.parse().ok()).unwrap_or(80);
                let mut stdout = std::io::stdout().lock();
                for i in 0..n {
                    let _ = writeln!(stdout, "{i:08} {}", "x".repeat(size.saturating_sub(10)));
                }
                drop(stdout);
                respond(out, 200, b"spammed");
            }
            Some("loop") => {
                // Spins forever; only the host's timeout ends it.
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("hold") => {
                // Holds `mb` MiB (touched) for `ms` milliseconds, then answers.
                let mb: usize = param("mb").and_then(|n| n.parse().ok()).unwrap_or(1);
                let ms: u64 = param("ms").and_then(|n| n.parse().ok()).unwrap_or(0);
                let hoard = vec![1u8; mb << 20];
                wasi::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, std::hint::black_box(&hoard).len().to_string().as_bytes());
            }
            Some("membomb") => {
                // Allocates (and touches) 1 MiB at a time until memory runs out.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            Some("recurse") => {
                let depth = recurse(std::hint::black_box(u64::MAX));
                respond(out, 200, depth.to_string().as_bytes());
            }
            Some("fetch") => {
                // `url` (percent-encoded), optional `method` and `send` (body bytes).
                let url = param("url").unwrap_or_default();
                let method = match param("method").as_deref() {
                    Some("POST") => Method::Post,
                    Some("PUT") => Method::Put,
                    _ => Method::Get,
                };
                let send: usize = param("send").and_then(|n| n.parse().ok()).unwrap_or(0);
                match fetch::fetch(method, &url, send) {
                    Ok(r) => respond(out, r.status, &r.body),
                    Err(e) => respond(out, 502, format!("fetch error: {e}").as_bytes()),
                }
            }
            Some("fan-out") => {
                // `n` GETs of `url` in flight at once, every response held.
                let url = param("url").unwrap_or_default();
                let n = param("n").and_then(|n| n.parse().ok()).unwrap_or(1);
                respond(out, 200, fetch::fan_out(&url, n).as_bytes());
            }
            Some("tree") => {
                // A fan-out tree through the app: `k` children per node, `d` levels.
                let k = param("k").and_then(|n| n.parse().ok()).unwrap_or(3);
                let d = param("d").and_then(|n| n.parse().ok()).unwrap_or(0);
                let path = path_with_query.split('?').next().unwrap_or("/");
                respond(out, 200, fetch::tree(path, k, d).as_bytes());
            }
            Some("chain-self") => {
                // Calls itself through the app, forever: only the host's depth limit ends it.
                let url = format!("http://self.alt{path_with_query}");
                match fetch::fetch(Method::Get, &url, 0) {
                    Ok(r) => respond(out, r.status, &r.body),
                    Err(e) => respond(out, 502, format!("fetch error: {e}").as_bytes()),
                }
            }
            Some(other) => respond(out, 400, format!("unknown op {other}").as_bytes()),
        }
    }
}

/// Recursion with a frame the optimizer cannot remove: overflows the stack.
fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let pad = std::hint::black_box([n; 16]);
    recurse(std::hint::black_box(n - 1)) + pad[3] % 2
}

fn env(name: &str) -> Option<String> {
    wasi::cli::environment::get_environment()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn method_name(m: &Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(o) => o.clone(),
    }
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::new();
    let _ = headers.append("x-probe", b"1");
    let resp = OutgoingResponse::new(headers);
    let _ = resp.set_status_code(status);
    let out_body = resp.body().expect("body taken once");
    ResponseOutparam::set(out, Ok(resp));
    {
        let mut w = out_body.write().expect("stream taken once");
        w.write_all(body).expect("write body");
        w.flush().expect("flush body");
    }
    OutgoingBody::finish(out_body, None).expect("finish body");
}

/// Streams the request body back as it arrives.
fn echo(req: IncomingRequest, out: ResponseOutparam) {
    let in_body = req.consume().expect("request body");
    let mut input = in_body.stream().expect("request stream");
    let resp = OutgoingResponse::new(Fields::new());
    let out_body = resp.body().expect("body");
    ResponseOutparam::set(out, Ok(resp));
    {
        let mut output = out_body.write().expect("stream");
        std::io::copy(&mut input, &mut output).expect("echo body");
        output.flush().expect("flush");
    }
    drop(input);
    OutgoingBody::finish(out_body, None).expect("finish");
}

/// Streams `n` bytes of `x` in 64 KiB writes.
fn stream(out: ResponseOutparam, n: usize) {
    let resp = OutgoingResponse::new(Fields::new());
    let out_body = resp.body().expect("body");
    ResponseOutparam::set(out, Ok(resp));
    {
        let mut output = out_body.write().expect("stream");
        let chunk = vec![b'x'; 64 * 1024];
        let mut left = n;
        while left > 0 {
            let take = left.min(chunk.len());
            output.write_all(&chunk[..take]).expect("write");
            left -= take;
        }
        output.flush().expect("flush");
    }
    OutgoingBody::finish(out_body, None).expect("finish");
}
