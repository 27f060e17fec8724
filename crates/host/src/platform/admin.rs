//! The admin API: JSON over HTTP on its own listener, every call behind a bearer token.
//!
//! - `GET /v1/apps` — every app: `{"apps": [AppInfo…]}`
//! - `GET /v1/apps/NAME` — one app
//! - `PUT /v1/apps/NAME` — deploy or replace: `{"source": {"path": "/abs/dir"} |
//!   {"reference": "registry/repo:tag"}, "hosts": […], "route_prefix": "/p", "env": {…},
//!   "variables": {…}, "limits": {"memory_bytes", "timeout_ms", "max_instances"}}`; 201
//!   when new, 200 when replaced
//! - `PATCH /v1/apps/NAME` — change settings without a new version: any of `hosts`,
//!   `route_prefix`, `env`, `variables`, `limits`, `runtime_config`, each replacing that
//!   setting whole; the same snapshot is loaded again with them and swapped in live
//! - `DELETE /v1/apps/NAME` — undeploy (`?purge=true`: and delete its data folder)
//! - `POST /v1/uploads` — an app as an OCI image layout tar (at most 256 MiB); answers
//!   `{"upload": "sha256:…"}` for a deploy's `"source": {"upload": …}`
//! - `GET /v1/events` — server-sent events, one `apps` event a second: every app with
//!   its requests/s, p50/p99 latency and error rate over that second
//! - `POST /v1/session` `{"token": "…"}` — trades the token for a read-only session
//!   cookie (the dashboard's login); `GET` tells whether one is open, `DELETE` ends it
//! - `GET /` — the live dashboard (its page, script and style need no token; every
//!   number on it comes from the calls above)
//!
//! Errors are `{"error": "…"}` with a 4xx/5xx status; a missing or wrong token is 401
//! and nothing runs. A session cookie admits only reads.

use super::dashboard::{self, Sampler, Sessions};
use super::settings::{AppSettings, DeploySource, SettingsPatch};
use super::{Platform, PlatformError};
use crate::HostError;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Incoming;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    #[serde(default)]
    runtime_config: Option<String>,
}

/// A body of an admin answer: JSON, a dashboard file, or an event stream.
type AdminBody = BoxBody<Bytes, Infallible>;

/// What the admin listener serves from.
pub(crate) struct Admin {
    platform: Arc<Platform>,
    token: AdminToken,
    sessions: Sessions,
    sampler: Sampler,
}

impl Admin {
    /// The admin side of `platform`, its dashboard sampling until `stop` fires.
    pub fn new(
        platform: Arc<Platform>,
        token: AdminToken,
        stop: tokio_util::sync::CancellationToken,
    ) -> Arc<Self> {
        let sampler = Sampler::start(Arc::downgrade(&platform), stop);
        Arc::new(Self {
            platform,
            token,
            sessions: Sessions::default(),
            sampler,
        })
    }
}

impl Admin {
    /// Who sent a call with these headers: the token's holder, a signed-in dashboard,
    /// or nobody admitted.
    fn caller(&self, headers: &http::HeaderMap) -> Option<Caller> {
        let header = |name| {
            headers
                .get(name)
                .map(|v: &header::HeaderValue| v.as_bytes())
        };
        if self.token.admits(header(header::AUTHORIZATION)) {
            Some(Caller::Operator)
        } else if self.sessions.admits(header(header::COOKIE)) {
            Some(Caller::Viewer)
        } else {
            None
        }
    }
}

/// Who a call comes from.
#[derive(PartialEq)]
enum Caller {
    /// Bearer token: may do anything.
    Operator,
    /// A dashboard session: may only read.
    Viewer,
}

/// Answers one admin call.
pub(crate) async fn handle(admin: &Admin, req: Request<Incoming>) -> Response<AdminBody> {
    if req.method() == Method::GET
        && let Some(file) = dashboard_file(req.uri().path())
    {
        return file;
    }
    if req.method() == Method::POST && req.uri().path() == "/v1/session" {
        return login(admin, req).await;
    }
    let Some(caller) = admin.caller(req.headers()) else {
        return unauthorized();
    };
    let platform = &admin.platform;
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    if caller == Caller::Viewer
        && method != Method::GET
        && !(method == Method::DELETE && segments == ["v1", "session"])
    {
        return unauthorized();
    }
    let result = match (method, segments.as_slice()) {
        (Method::GET, ["v1", "apps"]) => Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "apps": platform.list() }),
        )),
        (Method::GET, ["v1", "apps", name]) => {
            platform.get(name).map(|info| json(StatusCode::OK, &info))
        }
        (Method::GET, ["v1", "events"]) => Ok(events(admin)),
        (Method::GET, ["v1", "session"]) => Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "session": if caller == Caller::Operator { "token" } else { "dashboard" } }),
        )),
        (Method::DELETE, ["v1", "session"]) => Ok(logout(admin, &req)),
        (Method::PUT, ["v1", "apps", name]) => {
            let name = (*name).to_owned();
            deploy(platform, &name, req).await
        }
        (Method::PATCH, ["v1", "apps", name]) => {
            let name = (*name).to_owned();
            update(platform, &name, req).await
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
        (Method::DELETE, ["v1", "apps", name]) => {
            let purge = req
                .uri()
                .query()
                .is_some_and(|q| q.split('&').any(|pair| pair == "purge=true"));
            platform.undeploy(name, purge).await.map(|()| {
                json(
                    StatusCode::OK,
                    &serde_json::json!({ "undeployed": name, "purged": purge }),
                )
            })
        }
        (
            _,
            ["v1", "apps"]
            | ["v1", "apps", _]
            | ["v1", "uploads"]
            | ["v1", "events"]
            | ["v1", "session"],
        ) => {
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

/// The answer to a call without a valid token (or a session trying to change things).
fn unauthorized() -> Response<AdminBody> {
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        "missing or wrong admin token: send `Authorization: Bearer TOKEN` (the token is in \
         the host's state folder, file `admin-token`, or was given with --token)",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// A login's body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    token: String,
}

/// `POST /v1/session`: the dashboard's login, trading the token for a session cookie.
async fn login(admin: &Admin, req: Request<Incoming>) -> Response<AdminBody> {
    let login = match read_body(req, MAX_JSON_BODY).await.and_then(|body| {
        serde_json::from_slice::<LoginRequest>(&body)
            .map_err(|e| PlatformError::BadRequest(format!("the login does not parse: {e}")))
    }) {
        Ok(login) => login,
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return error_response(status, &e.to_string());
        }
    };
    let bearer = format!("Bearer {}", login.token);
    if !admin.token.admits(Some(bearer.as_bytes())) {
        return error_response(StatusCode::UNAUTHORIZED, "wrong admin token");
    }
    match admin.sessions.open() {
        Ok(secret) => with_cookie(
            json(
                StatusCode::OK,
                &serde_json::json!({ "session": "dashboard" }),
            ),
            &format!(
                "{}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                dashboard::SESSION_COOKIE,
                dashboard::SESSION_LIFETIME.as_secs()
            ),
        ),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("no randomness for a session: {e}"),
        ),
    }
}

/// `DELETE /v1/session`: signs a dashboard out.
fn logout(admin: &Admin, req: &Request<Incoming>) -> Response<AdminBody> {
    admin
        .sessions
        .close(req.headers().get(header::COOKIE).map(|v| v.as_bytes()));
    with_cookie(
        json(StatusCode::OK, &serde_json::json!({ "session": null })),
        &format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
            dashboard::SESSION_COOKIE
        ),
    )
}

/// `GET /v1/events`: one `apps` event per sample, for as long as the client listens.
fn events(admin: &Admin) -> Response<AdminBody> {
    let frames = admin.sampler.subscribe();
    let stream = futures::stream::unfold(frames, |mut frames| async move {
        frames.changed().await.ok()?;
        let frame = frames.borrow_and_update().clone();
        Some((Ok::<_, Infallible>(hyper::body::Frame::data(frame)), frames))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The dashboard's page, script or style at `path`.
fn dashboard_file(path: &str) -> Option<Response<AdminBody>> {
    let (body, content_type) = match path {
        "/" | "/index.html" => (dashboard::INDEX_HTML, "text/html; charset=utf-8"),
        "/dashboard.js" => (dashboard::SCRIPT_JS, "text/javascript; charset=utf-8"),
        "/dashboard.css" => (dashboard::STYLE_CSS, "text/css; charset=utf-8"),
        _ => return None,
    };
    let mut response = Response::new(full(Bytes::from_static(body.as_bytes())));
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        // Only the page's own script, style and event stream; never framed.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-cache"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    Some(response)
}

fn with_cookie(mut response: Response<AdminBody>, cookie: &str) -> Response<AdminBody> {
    if let Ok(value) = header::HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `PUT /v1/apps/NAME`.
async fn deploy(
    platform: &Platform,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<AdminBody>, PlatformError> {
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
        runtime_config: request.runtime_config,
    };
    let (info, created) = platform.deploy(name, request.source, settings).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(status, &info))
}

/// `PATCH /v1/apps/NAME`.
async fn update(
    platform: &Platform,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<AdminBody>, PlatformError> {
    let body = read_body(req, MAX_JSON_BODY).await?;
    let patch: SettingsPatch = serde_json::from_slice(&body).map_err(|e| {
        PlatformError::BadRequest(format!("the settings change does not parse: {e}"))
    })?;
    let info = platform.update(name, patch).await?;
    Ok(json(StatusCode::OK, &info))
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

fn full(bytes: Bytes) -> AdminBody {
    BodyExt::boxed(Full::new(bytes))
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<AdminBody> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(status: StatusCode, message: &str) -> Response<AdminBody> {
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
