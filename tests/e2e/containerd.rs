//! The containerd shim: apps pushed with `wisp registry push` (Spin's OCI artifact) and
//! plain images holding `/spin.toml`, pulled and run by a real containerd through
//! `ctr run --runtime io.containerd.wisp.v1`; SIGTERM drains, load errors reach the
//! task's output, command apps exit with their guest's status, event triggers run, and
//! two apps run side by side. Spin's artifact needs containerd 1.7.7+ (or 1.6.25+) to reach a shim: those
//! tests run Debian 13's containerd; the plain image runs on Debian 12's 1.6.

use crate::containerd_server::{Containerd, Release, Task};
use crate::harness::*;
use crate::registry::push;
use crate::registry_server::DockerRegistry;
use serde_json::json;
use std::time::Duration;

/// How long a container may take to start serving (pull is done; it compiles at most).
const START: Duration = Duration::from_secs(60);

/// An app of the probe on `/...`, plus `extra` manifest text.
fn probe_app(extra: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"probe\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
         [component.probe]\nsource = {}\n{extra}",
        toml_path(&guests().probe)
    ))
}

/// Runs `image` as `id` listening on a free loopback port, and waits until it serves;
/// the task and its base URL.
fn serve(containerd: &Containerd, image: &str, id: &str, env: &[(&str, &str)]) -> (Task, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut all_env = vec![("SPIN_HTTP_LISTEN_ADDR", listen.as_str())];
    all_env.extend_from_slice(env);
    // A Spin artifact has no entrypoint; "/" is what SpinKube passes.
    let mut task = containerd.run(image, id, &all_env, &["/"]);
    task.wait_for_output(&format!("Serving http://{listen}"), START);
    (task, format!("http://{listen}"))
}

#[tokio::test]
async fn an_artifact_serves_and_sigterm_drains_in_flight_requests() {
    let registry = DockerRegistry::start();
    let image = registry.reference("probe:v1");
    push(probe_app("").path(), &image);
    let containerd = Containerd::start(Release::Debian13);
    containerd.pull(&image);

    let (mut task, url) = serve(&containerd, &image, "probe-1", &[]);
    // The shim compiled the component when the container was created: the container
    // itself loads machine code.
    let output = task.output();
    assert!(
        output.contains("probe: loaded from compile cache"),
        "{output}"
    );
    assert_eq!(
        get(&format!("{url}/?op=status&code=201")).await,
        (201, String::new())
    );
    let slow = tokio::spawn(get_owned(format!("{url}/?op=sleep&ms=1500")));
    tokio::time::sleep(Duration::from_millis(400)).await;
    containerd.kill(&task.id, "SIGTERM");
    assert_eq!(slow.await.unwrap(), (200, "slept".into()));
    let (status, output) = tokio::task::spawn_blocking(move || task.wait(START))
        .await
        .unwrap();
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("Stopped"), "{output}");
    assert!(
        reqwest::get(&url).await.is_err(),
        "still accepting after exit"
    );

    // A second container of the image on this node starts from the node's compiled code.
    let (task, url) = serve(&containerd, &image, "probe-2", &[]);
    assert!(
        task.output().contains("probe: loaded from compile cache"),
        "{}",
        task.output()
    );
    assert_eq!(
        get(&format!("{url}/?op=status&code=202")).await,
        (202, String::new())
    );
}

#[tokio::test]
async fn two_apps_run_side_by_side_with_spin_and_wisp_settings() {
    let registry = DockerRegistry::start();
    let state_image = registry.reference("state:v1");
    let state_app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"state\"\n\
         [variables]\ngreeting = {{ default = \"hello\" }}\nwho = {{ required = true }}\n\
         [[trigger.http]]\nroute = \"/app/...\"\ncomponent = \"app\"\n\
         [[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"probe\"\n\
         [component.app]\nsource = {}\nkey_value_stores = [\"default\"]\n\
         variables = {{ message = \"{{{{ greeting }}}}, {{{{ who }}}}!\" }}\n\
         [component.probe]\nsource = {}\n",
        toml_path(&guests().spin_app),
        toml_path(&guests().probe)
    ));
    push(state_app.path(), &state_image);
    let probe_image = registry.reference("probe:v1");
    push(probe_app("").path(), &probe_image);
    let containerd = Containerd::start(Release::Debian13);
    containerd.pull(&state_image);
    containerd.pull(&probe_image);

    let (_state, state_url) = serve(
        &containerd,
        &state_image,
        "state",
        &[
            ("SPIN_VARIABLE_WHO", "kubernetes"),
            ("SPIN_COMPONENTS_TO_RETAIN", "app"),
        ],
    );
    let (_probe, probe_url) = serve(
        &containerd,
        &probe_image,
        "probe",
        &[
            ("WISP_TIMEOUT", "500ms"),
            ("WISP_MEMORY_LIMIT", "16MiB"),
            ("WISP_INSTANCE_REUSE", "10"),
        ],
    );
    let state = |q: &str| format!("{state_url}/app/?op={q}");
    assert_eq!(
        get(&state("var&name=message")).await,
        (200, "hello, kubernetes!".into())
    );
    // The default store lives in the container's state folder.
    assert_eq!(
        get(&state("kv-set&key=k&value=v")).await,
        (200, "ok".into())
    );
    assert_eq!(get(&state("kv-get&key=k")).await, (200, "v".into()));
    // Only `app` was retained: `probe`'s route is gone from this deployment.
    assert_eq!(get(&format!("{state_url}/probe/")).await.0, 404);
    // The other app answers beside it, under the limits its `WISP_*` settings set.
    let probe = |q: &str| format!("{probe_url}/?op={q}");
    assert_eq!(get(&probe("status&code=203")).await, (203, String::new()));
    assert_eq!(get(&probe("loop")).await.0, 504);
    assert_eq!(get(&probe("hold&mb=64")).await.0, 500);
    // One instance serves request after request.
    let first: u32 = get(&probe("count")).await.1.parse().unwrap();
    assert_eq!(get(&probe("count")).await.1, (first + 1).to_string());
}

#[tokio::test]
async fn a_redis_trigger_app_handles_messages_in_its_container() {
    let redis = crate::servers::Redis::start();
    let registry = DockerRegistry::start();
    let image = registry.reference("events:v1");
    push(crate::trigger_redis::redis_app(&redis.url()).path(), &image);
    let containerd = Containerd::start(Release::Debian13);
    containerd.pull(&image);
    let (task, url) = serve(&containerd, &image, "events", &[]);
    assert!(
        task.output()
            .contains(&format!("Redis: channel `events` on {}", redis.url())),
        "{}",
        task.output()
    );
    assert_eq!(redis.cli(&["publish", "events", "one"]), "1");
    assert_eq!(redis.cli(&["publish", "events3", "two"]), "1");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let keys = loop {
        let (status, keys) = get(&format!("{url}/?op=kv-keys")).await;
        assert_eq!(status, 200, "{keys}");
        if keys == "redis3:two,redis:one" || std::time::Instant::now() > deadline {
            break keys;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(keys, "redis3:two,redis:one", "{}", task.output());
}

#[test]
fn a_layer_that_is_not_a_component_fails_with_a_readable_error() {
    let registry = DockerRegistry::start();
    let image = registry.reference("broken:v1");
    let app = AppDir::new(
        "spin_manifest_version = 2\n[application]\nname = \"broken\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"broken\"\n\
         [component.broken]\nsource = \"broken.wasm\"\n",
    );
    // A Wasm header (so it pushes) over bytes that are no module and no component.
    std::fs::write(
        app.path().join("broken.wasm"),
        b"\0asm\x01\0\0\0 but then text, not WebAssembly",
    )
    .unwrap();
    push(app.path(), &image);
    let containerd = Containerd::start(Release::Debian13);
    containerd.pull(&image);
    let listen = format!("127.0.0.1:{}", free_port());
    let mut task = containerd.run(
        &image,
        "broken",
        &[("SPIN_HTTP_LISTEN_ADDR", &listen)],
        &["/"],
    );
    let (status, output) = task.wait(START);
    assert_eq!(status, 1, "{output}");
    let error = output
        .lines()
        .find(|l| l.starts_with("Error: "))
        .unwrap_or_else(|| panic!("no error line: {output}"));
    assert!(error.contains("component `broken`"), "{error}");
}

#[test]
fn a_command_app_exits_with_its_guests_status() {
    let registry = DockerRegistry::start();
    let image = registry.reference("command:v1");
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"cmd\"\n\
         [[trigger.command]]\ncomponent = \"cmd\"\n[component.cmd]\nsource = {}\n",
        toml_path(&guests().not_http)
    ));
    push(app.path(), &image);
    let containerd = Containerd::start(Release::Debian13);
    containerd.pull(&image);
    // argv[0] is the entrypoint; the guest gets the rest (after its component id).
    let mut task = containerd.run(&image, "cmd-ok", &[], &["/", "hello"]);
    let (status, output) = task.wait(START);
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("[cmd] I am a command"), "{output}");
    assert!(output.contains("[cmd] args: cmd hello"), "{output}");
    // A failing guest fails the task; WASI 0.2's exit carries success or failure only,
    // so any failing status is 1 (as under `wisp up`).
    let mut task = containerd.run(&image, "cmd-fail", &[], &["/", "exit", "7"]);
    let (status, output) = task.wait(START);
    assert_eq!(status, 1, "{output}");
    assert!(output.contains("[cmd] args: cmd exit 7"), "{output}");
}

#[tokio::test]
async fn a_plain_image_with_spin_toml_runs_on_debian_12s_containerd() {
    let registry = DockerRegistry::start();
    let spin_app = std::fs::read(&guests().spin_app).unwrap();
    let manifest = "spin_manifest_version = 2\n[application]\nname = \"plain\"\n\
                    [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
                    [component.app]\nsource = \"app.wasm\"\nkey_value_stores = [\"default\"]\n";
    // The runtime config at the image's root puts the default store where we can see it.
    let runtime_config = "[key_value_store.default]\ntype = \"spin\"\npath = \"/kv/app.db\"\n";
    let image = push_plain_image(
        &registry,
        "plain",
        &[
            ("spin.toml", manifest.as_bytes()),
            ("app.wasm", &spin_app),
            ("runtime-config.toml", runtime_config.as_bytes()),
        ],
    )
    .await;
    let containerd = Containerd::start(Release::Debian12);
    containerd.pull(&image);
    let (mut task, url) = serve(&containerd, &image, "plain", &[]);
    assert_eq!(
        get(&format!("{url}/?op=kv-set&key=k&value=plain")).await,
        (200, "ok".into())
    );
    assert_eq!(
        get(&format!("{url}/?op=kv-get&key=k")).await,
        (200, "plain".into())
    );
    assert!(
        containerd.rootfs("plain").join("kv/app.db").is_file(),
        "the runtime config's store is not at /kv/app.db"
    );
    containerd.kill("plain", "SIGTERM");
    let (status, output) = task.wait(START);
    assert_eq!(status, 0, "{output}");
}

/// Pushes an ordinary image (one tar layer holding `files` at its root, entrypoint
/// `/`, as Spin's shim documents) to `registry` as `repo:v1`; its reference.
async fn push_plain_image(
    registry: &DockerRegistry,
    repo: &str,
    files: &[(&str, &[u8])],
) -> String {
    let mut layer = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        layer.append_data(&mut header, name, *bytes).unwrap();
    }
    let layer = layer.into_inner().unwrap();
    use sha2::Digest;
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&layer)));
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Entrypoint": ["/"] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    let layers = [("application/vnd.oci.image.layer.v1.tar", layer.as_slice())];
    registry
        .put_image(repo, "v1", &config, &layers, json!({}))
        .await;
    registry.reference(&format!("{repo}:v1"))
}
