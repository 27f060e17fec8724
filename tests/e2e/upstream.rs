//! A real HTTP server on loopback for guests to call: it records what it receives and
//! answers by path (`/redirect` → 302, `/delay?ms=N` → 200 after N ms, anything else →
//! 200 describing the request). It runs on its own thread and runtime, so a test that
//! blocks does not stall it. It may speak TLS (optionally demanding a client
//! certificate), and counts the connections it accepted.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
}

/// A running upstream server.
pub struct Upstream {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

impl Upstream {
    /// Starts one on a free loopback port.
    pub fn start() -> Upstream {
        Self::start_with(None)
    }

    /// Starts one speaking TLS only, with `config`.
    pub fn start_tls(config: rustls::ServerConfig) -> Upstream {
        Self::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }

    fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Upstream {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let connections: Arc<AtomicUsize> = Arc::default();
        let (log, accepted) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let (log, tls) = (log.clone(), tls.clone());
                    tokio::spawn(async move {
                        let service = service_fn(move |req| answer(req, log.clone(), port));
                        let http =
                            hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                        match tls {
                            None => {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                            Some(tls) => {
                                // A failed handshake (say, no client certificate) ends here.
                                if let Ok(stream) = tls.accept(stream).await {
                                    let _ =
                                        http.serve_connection(TokioIo::new(stream), service).await;
                                }
                            }
                        }
                    });
                }
            });
        });
        Upstream {
            port,
            seen,
            connections,
        }
    }

    /// How many TCP connections it has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    log: Arc<Mutex<Vec<Seen>>>,
    port: u16,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.to_string());
    let seen = Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body_len: body.len(),
    };
    log.lock().unwrap().push(seen.clone());
    let mut resp = hyper::Response::new(Full::new(Bytes::from(format!(
        "upstream saw {} {} body={}",
        seen.method, seen.path, seen.body_len
    ))));
    if path == "/redirect" {
        *resp.status_mut() = http::StatusCode::FOUND;
        resp.headers_mut().insert(
            http::header::LOCATION,
            format!("http://127.0.0.1:{port}/elsewhere")
                .parse()
                .unwrap(),
        );
    } else if let Some(ms) = path.strip_prefix("/delay?ms=") {
        let ms = ms.split('&').next().unwrap_or("0");
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    Ok(resp)
}

/// Percent-encodes `s` for use as one query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
