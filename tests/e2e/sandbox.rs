//! What a component is granted: its files (read-only, nothing else), its environment, and
//! where its output goes.

use crate::harness::*;

fn app_with_files() -> AppDir {
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"files\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"files\"\n\
         [component.files]\nsource = {}\n\
         files = [\"static/**/*\", {{ source = \"assets\", destination = \"/web\" }}]\n\
         exclude_files = [\"static/private.txt\"]\n\
         environment = {{ GREETING = \"hi\", MODE = \"manifest\" }}\n",
        toml_path(&guests().probe)
    ));
    app.write("static/a.txt", "alpha");
    app.write("static/sub/b.txt", "beta");
    app.write("static/private.txt", "excluded");
    app.write("assets/c.txt", "gamma");
    app.write("secret.txt", "not mounted");
    app
}

#[tokio::test]
async fn mounted_files_are_readable_and_nothing_else_is() {
    let app = app_with_files();
    std::os::unix::fs::symlink("/etc/hostname", app.path().join("assets/escape")).unwrap();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let read = |p: &str| get_owned(wisp.url(&format!("/?op=file&path={p}")));
    assert_eq!(read("/static/a.txt").await, (200, "alpha".into()));
    assert_eq!(read("/static/sub/b.txt").await, (200, "beta".into()));
    assert_eq!(read("/web/c.txt").await, (200, "gamma".into()));
    for denied in [
        "/static/private.txt",
        "/secret.txt",
        "/etc/passwd",
        "/../secret.txt",
        "/static/../../secret.txt",
        "/web/escape",
    ] {
        let (status, body) = read(denied).await;
        assert_eq!(status, 404, "{denied} was readable: {body}");
    }
}

#[tokio::test]
async fn environment_is_the_manifest_plus_env_flags_only() {
    let app = app_with_files();
    let wisp = Wisp::start(&["-f", &app.manifest(), "--env", "EXTRA=1", "-e", "MODE=flag"]);
    assert_eq!(
        get(&wisp.url("/?op=env&name=GREETING")).await,
        (200, "hi".into())
    );
    assert_eq!(
        get(&wisp.url("/?op=env&name=EXTRA")).await,
        (200, "1".into())
    );
    assert_eq!(
        get(&wisp.url("/?op=env&name=MODE")).await,
        (200, "flag".into())
    );
    // Host variables are not inherited.
    assert_eq!(get(&wisp.url("/?op=env&name=PATH")).await.0, 404);
    assert_eq!(get(&wisp.url("/?op=env&name=HOME")).await.0, 404);
}

#[tokio::test]
async fn guest_output_is_prefixed_and_logged() {
    let app = app_with_files();
    let state = tempfile::tempdir().unwrap();
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_eq!(get(&wisp.url("/?op=print&msg=marker-123")).await.0, 200);
    assert!(
        wisp.wait_for_stdout("[files] out: marker-123"),
        "{}",
        wisp.stdout_text()
    );
    let logs = state.path().join("logs");
    let out = std::fs::read_to_string(logs.join("files_stdout.txt")).unwrap();
    let err = std::fs::read_to_string(logs.join("files_stderr.txt")).unwrap();
    assert!(out.contains("out: marker-123\n"), "{out}");
    assert!(err.contains("err: marker-123\n"), "{err}");
    assert!(
        !out.contains("[files]"),
        "log files hold the guest's own bytes"
    );
}

#[tokio::test]
async fn default_state_dir_is_beside_the_manifest() {
    let app = app_with_files();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(get(&wisp.url("/?op=print&msg=x")).await.0, 200);
    assert!(wisp.wait_for_stdout("[files] out: x"));
    assert!(app.path().join(".wisp/logs/files_stdout.txt").is_file());
}

#[tokio::test]
async fn every_request_gets_a_fresh_instance() {
    let wisp = Wisp::start(&["-f", guests().probe.to_str().unwrap()]);
    for _ in 0..5 {
        assert_eq!(get(&wisp.url("/?op=count")).await, (200, "1".into()));
    }
}

#[tokio::test]
async fn sockets_are_denied_without_a_grant() {
    // A real listener the guest would reach if sockets were open.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let wisp = Wisp::start(&["-f", guests().probe.to_str().unwrap()]);
    let (status, body) = get(&wisp.url(&format!("/?op=tcp&addr={addr}"))).await;
    assert_eq!(status, 403, "{body}");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the guest reached the listener");
}

#[tokio::test]
async fn components_cannot_reach_each_others_stores_files_or_host_env() {
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"neighbours\"\n\
         [[trigger.http]]\nroute = \"/alpha/...\"\ncomponent = \"alpha\"\n\
         [[trigger.http]]\nroute = \"/beta/...\"\ncomponent = \"beta\"\n\
         [[trigger.http]]\nroute = \"/files/...\"\ncomponent = \"files\"\n\
         [[trigger.http]]\nroute = \"/nofiles/...\"\ncomponent = \"nofiles\"\n\
         [component.alpha]\nsource = {spin}\nkey_value_stores = [\"alpha\"]\n\
         [component.beta]\nsource = {spin}\nkey_value_stores = [\"beta\"]\n\
         [component.files]\nsource = {probe}\nfiles = [\"static/*\"]\n\
         [component.nofiles]\nsource = {probe}\n",
        spin = toml_path(&guests().spin_app),
        probe = toml_path(&guests().probe),
    ));
    app.write("static/a.txt", "alpha's file");
    app.write(
        "rc.toml",
        "[key_value_store.alpha]\ntype = \"memory\"\n[key_value_store.beta]\ntype = \"memory\"\n",
    );
    let rc = app.path().join("rc.toml");
    let wisp = Wisp::start_with_env(
        &[
            "-f",
            &app.manifest(),
            "--runtime-config-file",
            rc.to_str().unwrap(),
        ],
        &[("WISP_TEST_HOST_SECRET", "do-not-leak")],
    );
    assert_eq!(
        get(&wisp.url("/alpha/?op=kv-set&store=alpha&key=k&value=mine"))
            .await
            .0,
        200
    );
    assert_eq!(
        get(&wisp.url("/beta/?op=kv-open&store=alpha")).await,
        (403, "Error::AccessDenied".into())
    );
    assert_eq!(get(&wisp.url("/beta/?op=kv-open&store=beta")).await.0, 200);
    assert_eq!(
        get(&wisp.url("/files/?op=file&path=/static/a.txt")).await,
        (200, "alpha's file".into())
    );
    assert_eq!(
        get(&wisp.url("/nofiles/?op=file&path=/static/a.txt"))
            .await
            .0,
        404
    );
    assert_eq!(
        get(&wisp.url("/files/?op=env&name=WISP_TEST_HOST_SECRET"))
            .await
            .0,
        404
    );
    assert_eq!(
        get(&wisp.url("/files/?op=envcount")).await,
        (200, "0".into())
    );
}
