//! The command trigger: `[[trigger.command]]` runs a component's `wasi:cli/run` once
//! through the same executor as HTTP (grants, limits, logs), with argv from after `--`,
//! and `wisp up` exits with the guest's status.

use crate::harness::*;
use std::process::Output;

/// An app whose one command trigger runs the command fixture as `cmd`, with `extra`
/// added to the component table and `http` (if any) before it.
fn command_app(extra: &str, http: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"cmd\"\n{http}\n\
         [[trigger.command]]\ncomponent = \"cmd\"\n\
         [component.cmd]\nsource = {}\nenvironment = {{ GREETING = \"hi from the manifest\" }}\n{extra}\n",
        toml_path(&guests().not_http)
    ))
}

fn up(app: &AppDir, guest_args: &[&str]) -> Output {
    let cache = shared_cache();
    let manifest = app.manifest();
    let mut args = vec![
        "up",
        "-f",
        &manifest,
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    if !guest_args.is_empty() {
        args.push("--");
        args.extend_from_slice(guest_args);
    }
    run_wisp(&args, None)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_command_runs_once_with_its_argv_and_environment_and_exits_with_its_status() {
    let app = command_app("", "");
    let out = up(&app, &[]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("No HTTP triggers: not listening"),
        "{stdout}"
    );
    assert!(!stdout.contains("Serving http://"), "{stdout}");
    assert!(stdout.contains("[cmd] args: cmd\n"), "{stdout}");
    assert!(
        stdout.contains("[cmd] greeting: hi from the manifest"),
        "{stdout}"
    );
    // Guest output also lands in the component's log file, as for HTTP guests.
    let log = std::fs::read_to_string(app.path().join(".wisp/logs/cmd_stdout.txt")).unwrap();
    assert!(log.contains("args: cmd"), "{log}");

    // WASI 0.2's `exit` carries ok or err, so any non-zero status arrives as 1.
    let out = up(&app, &["exit", "3"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("[cmd] args: cmd exit 3"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stderr).contains("Error"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_trapping_or_runaway_command_is_one_error_and_exit_1() {
    let app = command_app("", "");
    let out = up(&app, &["trap"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Error: component `cmd` failed:"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked at crates"),
        "a host panic: {stderr}"
    );

    let app = command_app("[component.cmd.limits]\ntimeout = \"1s\"", "");
    let out = up(&app, &["loop"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Error: component `cmd` ran past its 1s timeout"),
        "{stderr}"
    );
}

#[test]
fn a_component_that_is_not_a_command_is_a_load_error() {
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"cmd\"\n\
         [[trigger.command]]\ncomponent = \"web\"\n[component.web]\nsource = {}\n",
        toml_path(&guests().probe)
    ));
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("component `web` does not export `wasi:cli/run`"),
        "{err}"
    );
}

#[tokio::test]
async fn http_is_served_while_the_command_runs_and_stops_when_it_ends() {
    let http = format!(
        "[[trigger.http]]\nroute = \"/...\"\ncomponent = \"web\"\n[component.web]\nsource = {}\n",
        toml_path(&guests().probe)
    );
    let app = command_app("[component.cmd.limits]\ntimeout = \"4s\"", &http);
    let mut wisp = Wisp::start(&["-f", &app.manifest(), "--", "loop"]);
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
    // The command runs into its timeout; the listener then stops and wisp exits 1.
    let status = wisp.child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{}", wisp.stderr_text());
    assert!(
        wisp.stderr_text().contains("ran past its 4s timeout"),
        "{}",
        wisp.stderr_text()
    );
}
