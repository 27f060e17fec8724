//! Each manifest mistake is one line on stderr naming file, field, line and fix; exit 1.

use crate::harness::*;

fn up_error(manifest: &str) -> String {
    let app = AppDir::new(manifest);
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains(&app.manifest()),
        "error does not name the file: {err}"
    );
    err
}

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"bad\"\n";

#[test]
fn unknown_field() {
    let err = up_error(&format!(
        "{HEAD}[component.a]\nsource = \"a.wasm\"\nenviroment = {{ A = \"1\" }}\n"
    ));
    assert!(
        err.contains(":6:") && err.contains("unknown field `enviroment`"),
        "{err}"
    );
}

#[test]
fn trigger_names_missing_component() {
    let err = up_error(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"ghost\"\n[component.real]\nsource = \"a.wasm\"\n"
    ));
    assert!(
        err.contains(":4: `trigger.http[0].component`: no component named `ghost`"),
        "{err}"
    );
    assert!(err.contains("[component.ghost]"), "no fix offered: {err}");
}

#[test]
fn trigger_without_component() {
    let err = up_error(&format!("{HEAD}[[trigger.http]]\nroute = \"/\"\n"));
    assert!(err.contains("missing field `component`"), "{err}");
}

#[test]
fn wrong_manifest_version() {
    let err = up_error("spin_manifest_version = 1\n[application]\nname = \"bad\"\n");
    assert!(
        err.contains(":1: `spin_manifest_version`: manifest version 1 is not supported"),
        "{err}"
    );
    assert!(err.contains("spin_manifest_version = 2"), "{err}");
}

#[test]
fn source_file_does_not_exist() {
    let err = up_error(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsource = \"missing.wasm\"\n"
    ));
    assert!(
        err.contains(":7: `component.a.source`: source file"),
        "{err}"
    );
    assert!(err.contains("missing.wasm does not exist"), "{err}");
}

#[test]
fn malformed_outbound_host() {
    let err = up_error(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\n[component.a]\nsource = \"a.wasm\"\nallowed_outbound_hosts = [\"https://exa mple.com\"]\n"
    ));
    assert!(
        err.contains("`component.a.allowed_outbound_hosts`")
            && err.contains("not a valid host name"),
        "{err}"
    );
}

#[test]
fn not_toml_at_all() {
    let err = up_error("this is = = not toml");
    assert!(err.contains(":1:"), "{err}");
}

#[test]
fn missing_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_wisp(&["up"], Some(dir.path()));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("no spin.toml in this folder") && err.contains("-f"),
        "{err}"
    );
}

#[test]
fn port_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_wisp(
        &[
            "up",
            "-f",
            guests().probe.to_str().unwrap(),
            "--listen",
            &addr,
            "--cache-dir",
            shared_cache().to_str().unwrap(),
        ],
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}
