//! What can be served: components of several wasi:http 0.2 versions, core modules adapted
//! at load, bare `.wasm` apps; and what happens when a guest fails.

use crate::harness::*;

fn single(source: &std::path::Path) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"one\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"one\"\n\
         [component.one]\nsource = {}\n",
        toml_path(source)
    ))
}

#[tokio::test]
async fn bare_wasm_is_served_on_every_path() {
    let wisp = Wisp::start(&["-f", guests().probe.to_str().unwrap()]);
    assert_eq!(
        get(&wisp.url("/any/path")).await,
        (200, "hello from probe\n".into())
    );
    assert!(
        wisp.stdout_text()
            .contains(&format!("  probe: http://{}/...", wisp.addr))
    );
}

#[tokio::test]
async fn wasi_http_0_2_0_component_is_served() {
    let app = single(&guests().hello_020);
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from wasi 0.2.0\n".into())
    );
}

#[tokio::test]
async fn core_modules_are_adapted_into_components() {
    // wasm32-wasip1: imports WASI preview 1, needs the adapter.
    let app = single(&guests().probe_wasip1_module);
    let cache = tempfile::tempdir().unwrap();
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    assert!(
        wisp.stdout_text()
            .contains("core module adapted to a component"),
        "{}",
        wisp.stdout_text()
    );
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from probe\n".into())
    );
    assert_eq!(get(&wisp.url("/?op=env&name=NOPE")).await.0, 404);
    drop(wisp);

    // wasm32-unknown-unknown: only wit-bindgen's component-type section.
    let app = single(&guests().hello_020_module);
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--cache-dir",
        cache.path().to_str().unwrap(),
    ]);
    assert_eq!(
        get(&wisp.url("/")).await,
        (200, "hello from wasi 0.2.0\n".into())
    );
}

#[tokio::test]
async fn trap_gives_500_and_the_host_keeps_serving() {
    let wisp = Wisp::start(&["-f", guests().probe.to_str().unwrap()]);
    for _ in 0..3 {
        let (status, body) = get(&wisp.url("/?op=trap")).await;
        assert_eq!((status, body.as_str()), (500, "Internal Server Error"));
        assert_eq!(get(&wisp.url("/")).await.0, 200);
    }
    let (status, _) = get(&wisp.url("/?op=noresponse")).await;
    assert_eq!(status, 500);
    assert_eq!(get(&wisp.url("/")).await.0, 200);
    // The guest's panic message reaches the terminal, prefixed; the host logs the trap.
    let err = wisp.wait_for_stderr("without setting a response");
    assert!(
        err.contains("[probe] ") && err.contains("probe was asked to trap"),
        "{err}"
    );
    assert!(
        err.contains("guest failed") && err.contains("unreachable"),
        "{err}"
    );
    assert!(err.contains("without setting a response"), "{err}");
    assert!(!err.contains("panicked at crates/"), "host panicked: {err}");
}

#[tokio::test]
async fn outbound_http_is_denied_without_a_grant() {
    let wisp = Wisp::start(&["-f", guests().probe.to_str().unwrap()]);
    let (status, body) = get(&wisp.url("/?op=outbound")).await;
    assert_eq!(status, 403);
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

#[test]
fn wrong_world_and_non_wasm_are_one_line_errors() {
    let app = single(&guests().not_http);
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains(
            "component `one` exports neither `wasi:http/incoming-handler` (0.2.x) nor \
             `wasi:http/handler@0.3.0`"
        ),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"this is not wasm at all, just some bytes").unwrap();
    let err = up_fails(&["-f", junk.to_str().unwrap()]);
    assert!(
        err.contains("not a WebAssembly component or module"),
        "{err}"
    );

    // An empty core module has nothing to adapt into an HTTP handler.
    let plain = dir.path().join("plain.wasm");
    std::fs::write(&plain, b"\0asm\x01\0\0\0").unwrap();
    let err = up_fails(&["-f", plain.to_str().unwrap()]);
    assert!(
        err.contains("exports neither `wasi:http/incoming-handler`")
            || err.contains("cannot turn this core module"),
        "{err}"
    );
}

/// A component importing `interface` from `package` (and nothing else), encoded with
/// wit-component from a dummy core module: what an SDK's bindings would import.
fn component_importing(package: &str, interface: &str, to: &std::path::Path) {
    let wit = format!(
        "package {package};\ninterface {interface} {{ ping: func(); }}\nworld app {{ import {interface}; }}\n"
    );
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve.push_str("app.wit", &wit).unwrap();
    let world = resolve.select_world(&[pkg], Some("app")).unwrap();
    let mut module =
        wit_component::dummy_module(&resolve, world, wit_parser::ManglingAndAbi::Standard32);
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .unwrap();
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap();
    std::fs::write(to, component).unwrap();
}

#[test]
fn an_import_the_host_lacks_is_named_once_with_the_sdks_that_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let llm = dir.path().join("llm.wasm");
    component_importing("fermyon:spin@2.0.0", "llm", &llm);
    let err = up_fails(&["-f", llm.to_str().unwrap()]);
    assert!(
        err.contains("the host does not provide `fermyon:spin/llm@2.0.0`")
            && err.contains("Python SDK"),
        "{err}"
    );
    assert_eq!(
        err.matches("does not provide").count(),
        1,
        "said twice: {err}"
    );

    let rc = dir.path().join("rc.wasm");
    component_importing("wasi:clocks@0.3.0-rc-2026-03-15", "monotonic-clock", &rc);
    let err = up_fails(&["-f", rc.to_str().unwrap()]);
    assert!(
        err.contains("`wasi:clocks/monotonic-clock@0.3.0-rc-2026-03-15`")
            && err.contains("release candidate"),
        "{err}"
    );

    let unknown = dir.path().join("unknown.wasm");
    component_importing("acme:widgets@1.0.0", "gears", &unknown);
    let err = up_fails(&["-f", unknown.to_str().unwrap()]);
    assert!(
        err.contains("component `unknown`") && err.contains("`acme:widgets/gears@1.0.0`"),
        "{err}"
    );
}
