//! The client side of a `wisp serve` host's admin API: one HTTP/1.1 call over TCP
//! (`http://HOST:PORT`) or over the host's unix socket (`unix:/path/admin.sock`).

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::PathBuf;

/// Where the admin API is.
pub(crate) enum Endpoint {
    /// `host:port` over TCP.
    Tcp(String),
    /// A unix socket.
    Unix(PathBuf),
}

impl Endpoint {
    /// Reads `http://HOST[:PORT]` or `unix:PATH`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                bail!("--admin unix:PATH: give the socket's path");
            }
            return Ok(Self::Unix(path.into()));
        }
        let uri: http::Uri = text
            .parse()
            .with_context(|| format!("--admin {text}: not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!(
                "--admin {text}: the admin API speaks plain HTTP (`{other}` is not supported \
                 here); reach a remote host through an SSH tunnel, or use its unix socket \
                 with `unix:PATH`"
            ),
            None => bail!("--admin {text}: give `http://HOST:PORT` or `unix:PATH`"),
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            bail!("--admin {text}: give the API's root, without a path");
        }
        let Some(host) = uri.host() else {
            bail!("--admin {text}: the URL names no host");
        };
        Ok(Self::Tcp(format!(
            "{host}:{}",
            uri.port_u16().unwrap_or(80)
        )))
    }
}

/// What the host answered.
pub(crate) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The whole body.
    pub body: Bytes,
}

/// Sends one call with the bearer `token`: `body` of `content_type`, if any.
pub(crate) async fn send(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    token: &str,
    body: Option<(&'static str, Bytes)>,
) -> anyhow::Result<Answer> {
    let host = match endpoint {
        Endpoint::Tcp(authority) => authority.as_str(),
        Endpoint::Unix(_) => "localhost",
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some((content_type, _)) = &body {
        request = request.header(header::CONTENT_TYPE, *content_type);
    }
    let request = request.body(Full::new(body.map(|(_, b)| b).unwrap_or_default()))?;
    match endpoint {
        Endpoint::Tcp(authority) => {
            let stream = tokio::net::TcpStream::connect(authority.as_str()).await?;
            exchange(TokioIo::new(stream), request).await
        }
        Endpoint::Unix(path) => {
            let stream = tokio::net::UnixStream::connect(path).await?;
            exchange(TokioIo::new(stream), request).await
        }
    }
}

/// One request and its whole answer over a fresh connection.
async fn exchange<I>(io: I, request: Request<Full<Bytes>>) -> anyhow::Result<Answer>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("admin connection: {e}");
        }
    });
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::Endpoint;

    #[test]
    fn endpoints_are_urls_or_sockets() {
        assert!(matches!(
            Endpoint::parse("http://127.0.0.1:9000").unwrap(),
            Endpoint::Tcp(a) if a == "127.0.0.1:9000"
        ));
        assert!(matches!(
            Endpoint::parse("http://admin.local/").unwrap(),
            Endpoint::Tcp(a) if a == "admin.local:80"
        ));
        assert!(matches!(
            Endpoint::parse("unix:/run/wisp/admin.sock").unwrap(),
            Endpoint::Unix(p) if p == std::path::Path::new("/run/wisp/admin.sock")
        ));
        for bad in [
            "https://h:9000",
            "127.0.0.1:9000",
            "http://h:9000/api",
            "unix:",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
