//! The admin API: JSON over HTTP on its own listener, every call behind a bearer token.
//!
//! - `GET /v1/apps` — every app: `{"apps": [AppInfo…]}`
//! - `GET /v1/apps/NAME` — one app
//! - `PUT /v1/apps/NAME` — deploy or replace: `{"source": {"path": "/abs/dir"} |
//!   {"reference": "registry/repo:tag"}, "hosts": […], "route_prefix": "/p", "env": {…},
//!   "variables": {…}, "limits": {"memory_bytes", "timeout_ms", "max_instances"}}`; 201
//!   when new, 200 when replaced
//! - `DELETE /v1/apps/NAME` — undeploy
//! - `POST /v1/uploads` — an app as an OCI image layout tar (at most 256 MiB); answers
//!   `{"upload": "sha256:…"}` for a deploy's `"source": {"upload": …}`
//!
//! Errors are `{"error": "…"}` with a 4xx/5xx status; a missing or wrong token is 401
//! and nothing runs.

use super::settings::{AppSettings, DeploySource};
use super::{Platform, PlatformError};
use crate::HostError;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Largest JSON body the admin API reads.
const MAX_JSON_BODY: usize = 1024 * 1024;

/// Largest app upload (`POST /v1/uploads`).
pub const MAX_UPLOAD: usize = 256 * 1024 * 1024;

/// The file in the state folder the generated token is kept in.
const TOKEN_FILE: &str = "admin-token";

/// The admin API's bearer token.
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl AdminToken {
    /// Whether an `Authorization` value carries this token (compared in constant time).
    fn admits(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization.and_then(|a| a.strip_prefix(b"Bearer ")) else {
            return false;
        };
        let expected = self.0.as_bytes();
        given.len() == expected.len()
            && given
                .iter()
                .zip(expected)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

/// The token to use: `given`, else the one stored in `state_dir`, else a new random
/// one written there with mode 0600. Returns it and the file it is in, when stored.
pub fn load_or_create_token(
    state_dir: &Path,
    given: Option<String>,
) -> Result<(AdminToken, Option<PathBuf>), HostError> {
    let state_error = |path: &Path, e: std::io::Error| {
        HostError::Platform(PlatformError::State(format!("{}: {e}", path.display())))
    };
    if let Some(token) = given.filter(|t| !t.is_empty()) {
        return Ok((AdminToken(token.into()), None));
    }
    let path = state_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => {
            return Ok((AdminToken(token.trim().into()), Some(path)));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(state_error(&path, e)),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        HostError::Platform(PlatformError::State(format!(
            "no randomness for the admin token: {e}"
        )))
    })?;
    let token = hex::encode(bytes);
    std::fs::create_dir_all(state_dir).map_err(|e| state_error(state_dir, e))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| state_error(&path, e))?;
        file.write_all(format!("{token}\n").as_bytes())
            .map_err(|e| state_error(&path, e))?;
    }
    Ok((AdminToken(token.into()), Some(path)))
}

/// A deploy call's body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    source: DeploySource,
    hosts: Vec<String>,
    #[serde(default)]
    route_prefix: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    limits: super::settings::AppLimits,
}

/// Serves the admin API on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    platform: Arc<Platform>,
    token: AdminToken,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Arc::new(hyper_util::server::conn::auto::Builder::new(
        TokioExecutor::new(),
    ));
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("admin accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let (platform, token, builder) = (platform.clone(), token.clone(), builder.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (platform, token) = (platform.clone(), token.clone());
                async move { Ok::<_, std::convert::Infallible>(handle(&platform, &token, req).await) }
            });
            if let Err(e) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("admin connection ended with error: {e}");
            }
        });
    }
}

/// Answers one admin call.
async fn handle(
    platform: &Platform,
    token: &AdminToken,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !token.admits(authorization) {
        let mut response = error_response(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin token: send `Authorization: Bearer TOKEN` (the token is in \
             the host's state folder, file `admin-token`, or was given with --token)",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let result = match (req.method().clone(), segments.as_slice()) {
        (Method::GET, ["v1", "apps"]) => Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "apps": platform.list() }),
        )),
        (Method::GET, ["v1", "apps", name]) => {
            platform.get(name).map(|info| json(StatusCode::OK, &info))
        }
        (Method::PUT, ["v1", "apps", name]) => {
            let name = (*name).to_owned();
            deploy(platform, &name, req).await
        }
        (Method::POST, ["v1", "uploads"]) => match read_body(req, MAX_UPLOAD).await {
            Ok(archive) => platform.upload(archive).await.map(|digest| {
                json(
                    StatusCode::CREATED,
                    &serde_json::json!({ "upload": digest }),
                )
            }),
            Err(e) => Err(e),
        },
        (Method::DELETE, ["v1", "apps", name]) => platform
            .undeploy(name)
            .await
            .map(|()| json(StatusCode::OK, &serde_json::json!({ "undeployed": name }))),
        (_, ["v1", "apps"] | ["v1", "apps", _] | ["v1", "uploads"]) => {
            return error_response(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
        }
        _ => {
            return error_response(
                StatusCode::NOT_FOUND,
                "no such admin endpoint (see /v1/apps)",
            );
        }
    };
    result.unwrap_or_else(|e| {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        error_response(status, &e.to_string())
    })
}

/// `PUT /v1/apps/NAME`.
async fn deploy(
    platform: &Platform,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, PlatformError> {
    let body = read_body(req, MAX_JSON_BODY).await?;
    let request: DeployRequest = serde_json::from_slice(&body).map_err(|e| {
        PlatformError::BadRequest(format!("the deploy request does not parse: {e}"))
    })?;
    let settings = AppSettings {
        hosts: request.hosts,
        route_prefix: request.route_prefix,
        env: request.env,
        variables: request.variables,
        limits: request.limits,
    };
    let (info, created) = platform.deploy(name, request.source, settings).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &info))
}

/// The whole body, refused past `limit` bytes.
async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, PlatformError> {
    let collected = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                PlatformError::TooLarge(format!("the request body is over {limit} bytes"))
            } else {
                PlatformError::BadRequest(format!("cannot read the request body: {e}"))
            }
        })?;
    Ok(collected.to_bytes())
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_compared_whole() {
        let token = AdminToken("s3cret".into());
        assert!(token.admits(Some(b"Bearer s3cret")));
        for wrong in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret2",
            b"bearer s3cret",
            b"s3cret",
            b"",
        ] {
            assert!(!token.admits(Some(wrong)), "{wrong:?}");
        }
        assert!(!token.admits(None));
    }

    #[test]
    fn a_generated_token_is_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (first, path) = load_or_create_token(dir.path(), None).unwrap();
        let path = path.unwrap();
        assert_eq!(first.0.len(), 64);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, _) = load_or_create_token(dir.path(), None).unwrap();
        assert_eq!(first.0, again.0);
        let (given, stored) = load_or_create_token(dir.path(), Some("mine".into())).unwrap();
        assert_eq!(&*given.0, "mine");
        assert!(stored.is_none());
    }
}
