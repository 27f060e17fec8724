//! Where the admin API listens: a TCP address (loopback unless allowed otherwise), or a
//! unix socket only its owner may open. Either way every call still needs the token.

use super::PlatformError;
use super::admin::{Admin, handle};
use crate::HostError;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};

/// Time an admin client has to send a request's headers; also closes idle connections.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin API's bound listener.
pub(crate) enum AdminListener {
    /// TCP, speaking plain HTTP.
    Tcp(TcpListener),
    /// A unix socket with mode 0600, removed again at shutdown.
    Unix(UnixListener, PathBuf),
}

impl AdminListener {
    /// Binds `address` over TCP; a non-loopback address needs `allow_remote`, since the
    /// API has no TLS of its own.
    pub async fn tcp(address: SocketAddr, allow_remote: bool) -> Result<Self, HostError> {
        if !address.ip().is_loopback() && !allow_remote {
            return Err(HostError::Platform(PlatformError::BadRequest(format!(
                "the admin API would listen on {address}, which is not a loopback address, \
                 and it has no TLS: put it behind a TLS proxy and pass --admin-allow-remote, \
                 listen on 127.0.0.1, or use --admin-socket"
            ))));
        }
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| HostError::Listen {
                addr: address,
                source,
            })?;
        Ok(Self::Tcp(listener))
    }

    /// Binds a unix socket at `path` that only this user may connect to. A stale socket
    /// left by a host that died is replaced; any other file there is an error.
    pub fn unix(path: &Path) -> Result<Self, HostError> {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let failed = |e: std::io::Error| {
            HostError::Platform(PlatformError::State(format!(
                "cannot listen on the admin socket {}: {e}",
                path.display()
            )))
        };
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(failed(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is in the way",
                )));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(failed(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another host is serving on it",
                )));
            }
            std::fs::remove_file(path).map_err(failed)?;
        }
        // Bound in a private folder, then moved, so the socket never exists with the
        // umask's looser permissions.
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let staging = tempfile::Builder::new()
            .prefix(".admin-socket")
            .tempdir_in(parent.unwrap_or(Path::new(".")))
            .map_err(failed)?;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(failed)?;
        let staged = staging.path().join("s");
        let listener = UnixListener::bind(&staged).map_err(failed)?;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
        std::fs::rename(&staged, path).map_err(failed)?;
        Ok(Self::Unix(listener, path.to_owned()))
    }

    /// How the banner names it: `http://ADDR` or `unix:PATH`.
    pub fn describe(&self) -> String {
        match self {
            Self::Tcp(listener) => match listener.local_addr() {
                Ok(addr) => format!("http://{addr}"),
                Err(_) => "http://?".to_owned(),
            },
            Self::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    /// Whether browsers can reach it (a dashboard is worth announcing).
    pub fn is_tcp(&self) -> bool {
        matches!(self, Self::Tcp(_))
    }
}

/// Serves the admin API on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    admin: Arc<Admin>,
    listener: AdminListener,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &admin, &builder) => accepted,
            () = &mut shutdown => break,
        };
        if let Err(e) = accepted {
            tracing::warn!("admin accept failed: {e}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if let AdminListener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
}

/// Accepts one connection and serves it on a task of its own.
async fn accept(
    listener: &AdminListener,
    admin: &Arc<Admin>,
    builder: &Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>>,
) -> std::io::Result<()> {
    match listener {
        AdminListener::Tcp(listener) => {
            let (stream, _) = listener.accept().await?;
            spawn_connection(admin, builder, TokioIo::new(stream));
        }
        AdminListener::Unix(listener, _) => {
            let (stream, _) = listener.accept().await?;
            spawn_connection(admin, builder, TokioIo::new(stream));
        }
    }
    Ok(())
}

fn spawn_connection<I>(
    admin: &Arc<Admin>,
    builder: &Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>>,
    io: I,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (admin, builder) = (admin.clone(), builder.clone());
    tokio::spawn(async move {
        let service = hyper::service::service_fn(move |req| {
            let admin = admin.clone();
            async move { Ok::<_, Infallible>(handle(&admin, req).await) }
        });
        if let Err(e) = builder.serve_connection(io, service).await {
            tracing::debug!("admin connection ended with error: {e}");
        }
    });
}
