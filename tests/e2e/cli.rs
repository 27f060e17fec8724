//! The command line itself: help, version, `wisp build`, `wisp up --build`.

use crate::harness::*;

#[test]
fn help_and_version() {
    let out = run_wisp(&["--version"], None);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("wisp {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [&["--help"][..], &["up", "--help"], &["build", "--help"]] {
        let out = run_wisp(args, None);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage: wisp"), "{args:?}: {text}");
    }
    let up = String::from_utf8_lossy(&run_wisp(&["up", "--help"], None).stdout).into_owned();
    for flag in [
        "--from",
        "--listen",
        "--env",
        "--state-dir",
        "--build",
        "--max-instances",
    ] {
        assert!(up.contains(flag), "up --help lacks {flag}");
    }
}

#[test]
fn build_runs_commands_in_the_workdir_and_reports_failure() {
    let app = AppDir::new(
        "spin_manifest_version = 2\n[application]\nname = \"b\"\n\
         [component.first]\nsource = \"out/first.wasm\"\n\
         [component.first.build]\ncommand = \"mkdir -p ../out && echo built > ../out/marker\"\nworkdir = \"sub\"\n",
    );
    std::fs::create_dir_all(app.path().join("sub")).unwrap();
    let out = run_wisp(&["build", "-f", &app.manifest()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(app.path().join("out/marker")).unwrap(),
        "built\n"
    );

    let failing = AppDir::new(
        "spin_manifest_version = 2\n[application]\nname = \"b\"\n\
         [component.broken]\nsource = \"x.wasm\"\n\
         [component.broken.build]\ncommand = \"echo compiling; exit 3\"\n",
    );
    let out = run_wisp(&["build", "-f", &failing.manifest()], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("build of component `broken` failed") && err.contains("exit status: 3"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("compiling"),
        "build output not streamed"
    );
}

#[tokio::test]
async fn up_build_builds_then_serves() {
    // The build "compiles" by copying the probe into place.
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"ub\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"built\"\n\
         [component.built]\nsource = \"target/built.wasm\"\n\
         [component.built.build]\ncommand = \"mkdir -p target && cp {} target/built.wasm\"\n",
        guests().probe.display()
    ));
    let wisp = Wisp::start(&["-f", app.path().to_str().unwrap(), "--build"]);
    assert!(wisp.stdout_text().contains("Building component built"));
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
}

#[tokio::test]
async fn readme_example_builds_and_serves() {
    let example = repo_root().join("examples/hello-rust");
    let wisp = Wisp::start(&["--build", "-f", example.to_str().unwrap()]);
    let resp = reqwest::get(wisp.url("/hello")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "38");
    assert_eq!(
        resp.text().await.unwrap(),
        "Hello from wisp! You asked for /hello\n"
    );
    assert!(
        wisp.stdout_text()
            .contains(&format!("  hello: http://{}/hello/...", wisp.addr))
    );
}

/// Two routes on two components of the probe.
fn two_component_app() -> AppDir {
    let probe = toml_path(&guests().probe);
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"two\"\n\
         [[trigger.http]]\nroute = \"/a/...\"\ncomponent = \"a\"\n\
         [[trigger.http]]\nroute = \"/b/...\"\ncomponent = \"b\"\n\
         [component.a]\nsource = {probe}\n[component.b]\nsource = {probe}\n"
    ))
}

#[tokio::test]
async fn component_id_runs_only_the_named_components() {
    let app = two_component_app();
    let wisp = Wisp::start(&["-f", &app.manifest(), "-c", "b"]);
    assert_eq!(
        get(&wisp.url("/b/?op=status&code=201")).await,
        (201, String::new())
    );
    assert_eq!(get(&wisp.url("/a/?op=status&code=201")).await.0, 404);
    assert!(
        !wisp.stdout_text().contains("a: http://"),
        "{}",
        wisp.stdout_text()
    );
    let err = up_fails(&["-f", &app.manifest(), "--component-id", "c"]);
    assert!(err.contains("there is no component `c` to retain"), "{err}");
    assert!(err.contains("a, b"), "{err}");
}
