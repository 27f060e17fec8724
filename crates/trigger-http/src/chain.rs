//! Service chaining: a component's request to its own app (`http://self.alt/…`, through
//! the router) or to one component by id (`http://<id>.spin.internal/…`) runs in process,
//! with the same `spin-*` headers, limits and instance slots as a request from the
//! network. The engine has already checked the caller's `allowed_outbound_hosts`, the
//! chain's depth and the request's fan-out budget; the runtime's lease makes a chained
//! instance also take a slot of the component the request first reached.

use crate::{HttpApp, headers, status_response};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};
use wisp_engine::{ChainContext, InternalHttp, InternalResponse, InternalTarget};

impl InternalHttp for HttpApp {
    fn send(
        &self,
        target: InternalTarget,
        request: Request<WasiBody>,
        chain: ChainContext,
    ) -> InternalResponse {
        let Some(app) = self.this.upgrade() else {
            return Box::pin(async {
                Err(HttpError::InternalError(Some(
                    "the app is shutting down".into(),
                )))
            });
        };
        Box::pin(async move { app.handle_internal(target, request, chain).await })
    }
}

impl HttpApp {
    async fn handle_internal(
        self: Arc<Self>,
        target: InternalTarget,
        mut req: Request<WasiBody>,
        chain: ChainContext,
    ) -> Result<Response<WasiBody>, HttpError> {
        let path = req.uri().path().to_owned();
        let full_url = req.uri().to_string();
        let public = self.router.route(&path);
        let route = match &target {
            InternalTarget::App => match public {
                Some(route) => route,
                None => return Ok(status_response(StatusCode::NOT_FOUND).map(|b| b.boxed_unsync())),
            },
            InternalTarget::Component(id) => {
                let found = self.runtime.index_of(id).and_then(|index| {
                    let http = self.components[index].as_ref()?;
                    Some((index, http))
                });
                let Some((index, http)) = found else {
                    tracing::debug!(component = %id, "service chaining to an unknown component");
                    return Err(HttpError::DestinationNotFound);
                };
                // Its own public route when the path matches one, else its catch-all.
                match public {
                    Some(route) if route.entry.component == index => route,
                    _ => http.internal_route.match_all(&path),
                }
            }
        };
        headers::set_spin_headers(
            req.headers_mut(),
            &full_url,
            self.base.as_ref(),
            &route,
            chain.client,
        );
        let index = route.entry.component;
        drop(route);
        let response = self
            .dispatch(index, req, Arc::new(AtomicBool::new(false)), chain)
            .await
            .unwrap_or_else(status_response);
        Ok(response.map(|b| b.boxed_unsync()))
    }
}
