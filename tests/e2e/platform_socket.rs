//! Platform mode with the admin API on a unix socket: only its owner can connect, the
//! token is still checked, the CLI reaches it with `--admin unix:PATH`, a second host
//! cannot take a live socket over, and the socket is gone after shutdown.

use crate::harness::*;
use crate::platform::{Host, TOKEN, who_app};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_admin_api_can_listen_on_a_private_unix_socket() {
    let state = tempfile::tempdir().unwrap();
    let socket = state.path().join("run/admin.sock");
    let socket_arg = socket.to_str().unwrap();
    let wisp = Wisp::start_subcommand(
        "serve",
        &[
            "--admin-socket",
            socket_arg,
            "--state-dir",
            state.path().to_str().unwrap(),
            "--token",
            TOKEN,
        ],
        &[],
    );
    assert!(
        wisp.wait_for_stdout(&format!("Admin API unix:{socket_arg}")),
        "{}",
        wisp.stdout_text()
    );
    let banner = wisp.stdout_text();
    assert!(!banner.contains("Dashboard"), "{banner}");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket is open to others: {mode:o}");

    let host = Host {
        wisp,
        admin: format!("unix:{socket_arg}"),
    };
    let app = who_app();
    let out = host.deploy_who(&app, "shop", "shop.test", "socket");
    assert!(out.starts_with("Deployed shop sha256:"), "{out}");
    assert_eq!(
        host.get("shop.test", "/?op=var&name=who").await,
        (200, "socket".to_owned())
    );
    let (ok, out, err) = host.cli(&["apps"]);
    assert!(ok, "{err}");
    assert!(out.contains("shop"), "{out}");

    // The socket's permissions are not a login: a wrong token is still refused.
    let admin = host.admin.clone();
    let out = run_wisp(&["apps", "--admin", &admin, "--token", "wrong"], None);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 401"), "{err}");

    // A second host may not take over a socket that is in use.
    let other = tempfile::tempdir().unwrap();
    let out = run_wisp(
        &[
            "serve",
            "--admin-socket",
            socket_arg,
            "--state-dir",
            other.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another host is serving on it"), "{err}");
    assert_eq!(host.get("shop.test", "/?op=var&name=who").await.0, 200);

    host.wisp.terminate();
    let deadline = Instant::now() + Duration::from_secs(30);
    while socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!socket.exists(), "the socket outlived the host");
}
