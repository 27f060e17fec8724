//! `wisp serve`: opens the platform's state, brings its apps back, and serves the public
//! listener and the admin API until a shutdown signal.

use super::admin_listener::{self, AdminListener};
use super::routing::{no_app, request_host, serve_counted};
use super::{Platform, admin};
use crate::{HostError, HostOptions};
use http::{Request, Response};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use wisp_trigger_http::{HttpService, Peer, ResponseBody};

/// What `wisp serve` is given.
#[derive(Debug, Clone)]
pub struct PlatformOptions {
    /// The public listener, shared by every app.
    pub listen: SocketAddr,
    /// The admin API's listener.
    pub admin_listen: SocketAddr,
    /// Let the admin API listen on a non-loopback address though it has no TLS.
    pub admin_allow_remote: bool,
    /// Serve the admin API on this unix socket (mode 0600) instead of `admin_listen`.
    pub admin_socket: Option<PathBuf>,
    /// The host's state: deployments, snapshots, each app's data, the token.
    pub state_dir: PathBuf,
    /// The admin token; generated into the state folder when not given.
    pub token: Option<String>,
    /// Pull from registries over plain HTTP or with unverified certificates.
    pub registry_insecure: bool,
    /// Scale an app to zero after its HTTP side has been idle this long (none: never).
    pub idle_unload: Option<std::time::Duration>,
    /// The engine, listener and per-instance limits every app runs under (`listen` is
    /// ignored: the public listener is the one above).
    pub host: HostOptions,
}

impl HttpService for Platform {
    fn call(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: Peer,
        max_body: Option<u64>,
    ) -> impl Future<Output = Response<ResponseBody>> + Send {
        let table = self.table();
        let target =
            request_host(&req).and_then(|host| table.route(host, req.uri().path()).cloned());
        async move {
            match target {
                Some(target) => serve_counted(target, req, peer, max_body).await,
                None => no_app(),
            }
        }
    }
}

/// Runs the platform until `signal` resolves, then drains every app.
pub async fn run_platform(
    options: PlatformOptions,
    signal: impl Future<Output = ()>,
) -> Result<(), HostError> {
    // First, so a refused address fails before anything is opened or loaded.
    let admin_listener = match &options.admin_socket {
        Some(path) => AdminListener::unix(path)?,
        None => AdminListener::tcp(options.admin_listen, options.admin_allow_remote).await?,
    };
    let (token, token_file) =
        admin::load_or_create_token(&options.state_dir, options.token.clone())?;
    let platform = Platform::open(
        &options.state_dir,
        options.host.clone(),
        options.registry_insecure,
    )
    .await?;
    let bind = |addr: SocketAddr| async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HostError::Listen { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| HostError::Listen { addr, source })?;
        Ok::<_, HostError>((listener, local))
    };
    let (public, public_addr) = bind(options.listen).await?;
    let admin_at = admin_listener.describe();
    let dashboard = if admin_listener.is_tcp() {
        format!("Dashboard {admin_at}/\n")
    } else {
        String::new()
    };
    let token_note = match &token_file {
        Some(path) => format!("Admin token in {}", path.display()),
        None => "Admin token as given".to_owned(),
    };
    // The first line is the same as `wisp up`'s, for scripts that wait for it.
    let scheme = if options.host.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let banner = format!(
        "Serving {scheme}://{public_addr}\n\
         Apps are routed by Host header; {} deployed\n\
         Admin API {admin_at}\n\
         {dashboard}\
         {token_note}\n",
        platform.list().len()
    );
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(banner.as_bytes())
            .and_then(|()| out.flush())
            .map_err(HostError::Output)?;
    }
    let stop = CancellationToken::new();
    let listener_config = options.host.listener;
    let serving = wisp_trigger_http::serve(
        platform.clone(),
        public,
        options.host.tls.clone(),
        stop.clone().cancelled_owned(),
        listener_config,
    );
    let admin = admin_listener::serve(
        admin::Admin::new(platform.clone(), token, stop.clone()),
        admin_listener,
        stop.clone().cancelled_owned(),
    );
    if let Some(idle) = options.idle_unload {
        // Checked at a quarter of the idle time (within 1 s), so an app unloads at most
        // a quarter late.
        let period = (idle / 4).clamp(
            std::time::Duration::from_millis(50),
            std::time::Duration::from_secs(1),
        );
        super::spawn_periodic(Arc::downgrade(&platform), period, stop.clone(), move |p| {
            p.unload_idle(idle);
        });
    }
    let stopper = async {
        signal.await;
        stop.cancel();
    };
    let ((), finished, ()) = tokio::join!(stopper, serving, admin);
    let grace = listener_config.shutdown_grace;
    let events_finished = platform.stop_all(grace).await;
    if finished && events_finished {
        println!("Stopped");
    } else {
        eprintln!(
            "Warning: some requests or event handlers were still running after {}s; stopped anyway",
            grace.as_secs()
        );
    }
    Ok(())
}
