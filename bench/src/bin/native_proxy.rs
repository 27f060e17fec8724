//! The native baseline for outbound HTTP: a hyper 1.x server that forwards each request's
//! path and query to an upstream with a GET through hyper-util's pooled client (the same
//! client wisp's outbound HTTP uses), answering with the upstream's status and body.
//! Usage: `native-proxy ADDR UPSTREAM` (UPSTREAM: `http://host:port`).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::convert::Infallible;

type Upstream = Client<HttpConnector, Empty<Bytes>>;

async fn forward(
    client: Upstream,
    base: String,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let answer = async {
        let uri: hyper::Uri = format!("{base}{path}").parse()?;
        let response = client.get(uri).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
    };
    Ok(match answer.await {
        Ok((status, body)) => {
            let mut resp = hyper::Response::new(Full::new(body));
            *resp.status_mut() = status;
            resp
        }
        Err(e) => {
            let mut resp = hyper::Response::new(Full::new(Bytes::from(format!("upstream: {e}\n"))));
            *resp.status_mut() = hyper::StatusCode::BAD_GATEWAY;
            resp
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: native-proxy ADDR http://UPSTREAM:PORT");
        std::process::exit(2);
    };
    let upstream = upstream.trim_end_matches('/').to_owned();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new()).build(connector);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("Serving http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                forward(client.clone(), upstream.clone(), req)
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
