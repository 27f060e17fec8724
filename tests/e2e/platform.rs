//! Platform mode: `wisp serve` hosting several apps behind one listener, routed by host
//! name and prefix, each with its own stores and variables; `wisp deploy / apps /
//! undeploy` against its admin API; live replacement under load; bad deploys refused
//! with nothing changed; the deployed set surviving a `kill -9`.

use crate::harness::*;
use crate::registry::push;
use crate::registry_server::DockerRegistry;
use crate::state::spin_app;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub(crate) const TOKEN: &str = "platform-test-token";

/// A running `wisp serve` and where its listeners are.
pub(crate) struct Host {
    pub wisp: Wisp,
    pub admin: String,
}

impl Host {
    pub(crate) fn start(state: &Path) -> Host {
        Self::start_with(state, &[])
    }

    /// `wisp serve` with its state in `state`, the test token, and `extra` flags.
    pub(crate) fn start_with(state: &Path, extra: &[&str]) -> Host {
        let mut args = vec![
            "--admin-listen",
            "127.0.0.1:0",
            "--state-dir",
            state.to_str().unwrap(),
            "--token",
            TOKEN,
        ];
        args.extend(extra);
        let wisp = Wisp::start_subcommand("serve", &args, &[]);
        assert!(
            wisp.wait_for_stdout("Admin API http://"),
            "{}",
            wisp.stdout_text()
        );
        let admin = wisp
            .stdout_text()
            .lines()
            .find_map(|l| l.strip_prefix("Admin API "))
            .unwrap()
            .to_owned();
        Host { wisp, admin }
    }

    /// A client that resolves every `*.test` name used here to the public listener.
    pub(crate) fn client(&self) -> reqwest::Client {
        let addr: std::net::SocketAddr = self.wisp.addr.parse().unwrap();
        let mut builder = reqwest::Client::builder();
        for name in ["shop.test", "blog.test", "a.wild.test", "nobody.test"] {
            builder = builder.resolve(name, addr);
        }
        builder.build().unwrap()
    }

    /// GET `path` on app host `host`: status and body.
    pub(crate) async fn get(&self, host: &str, path: &str) -> (u16, String) {
        let port = self.wisp.addr.rsplit(':').next().unwrap();
        let response = self
            .client()
            .get(format!("http://{host}:{port}{path}"))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// A raw admin call with `token`: status and JSON body.
    pub(crate) async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.admin));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `wisp CMD ARGS… --admin URL --token TOKEN`: success, stdout, stderr.
    pub(crate) fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--admin", &self.admin, "--token", TOKEN]);
        let out = run_wisp(&all, None);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `wisp deploy`; panics with its output if it fails.
    pub(crate) fn deploy(&self, args: &[&str]) -> String {
        let mut all = vec!["deploy"];
        all.extend(args);
        let (ok, out, err) = self.cli(&all);
        assert!(ok, "deploy {args:?} failed: {out}{err}");
        out
    }

    /// Deploys the folder of `app` as `name` on `host` with variable `who`.
    pub(crate) fn deploy_who(&self, app: &AppDir, name: &str, host: &str, who: &str) -> String {
        let who = format!("who={who}");
        self.deploy(&[
            path_of(app),
            "--name",
            name,
            "--host",
            host,
            "--variable",
            &who,
        ])
    }

    fn apps(&self) -> Value {
        let (ok, out, err) = self.cli(&["apps", "--json"]);
        assert!(ok, "{err}");
        serde_json::from_str(&out).unwrap()
    }
}

/// The spin-sdk guest with a default store and a required variable `who`.
pub(crate) fn who_app() -> AppDir {
    spin_app(
        "key_value_stores = [\"default\"]\n[component.app.variables]\nwho = \"{{ who }}\"",
        "[variables]\nwho = { required = true }",
    )
}

pub(crate) fn path_of(app: &AppDir) -> &str {
    app.path().to_str().unwrap()
}

#[tokio::test]
async fn serve_routes_apps_by_host_and_prefix_each_with_its_own_state() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start(state.path());
    let app = who_app();
    let out = host.deploy_who(&app, "shop", "shop.test", "shop");
    assert!(out.starts_with("Deployed shop sha256:"), "{out}");
    host.deploy_who(&app, "blog", "blog.test", "blog");
    host.deploy(&[
        path_of(&app),
        "--name",
        "shop-api",
        "--host",
        "shop.test",
        "--route-prefix",
        "/api",
        "--variable",
        "who=shop-api",
    ]);
    host.deploy_who(&app, "wild", "*.wild.test", "wild");

    let who = "/?op=var&name=who";
    for (name, path, expected) in [
        ("shop.test", who, (200, "shop")),
        ("blog.test", who, (200, "blog")),
        ("shop.test", "/api/x?op=var&name=who", (200, "shop-api")),
        ("shop.test", "/apix?op=var&name=who", (200, "shop")),
        ("a.wild.test", who, (200, "wild")),
        ("nobody.test", who, (404, "Not Found")),
    ] {
        let (status, body) = host.get(name, path).await;
        assert_eq!((status, body.as_str()), expected, "{name}{path}");
    }
    assert!(
        host.apps()["apps"][0]["source"]
            .as_str()
            .unwrap()
            .starts_with("upload sha256:")
    );

    // Each app's default store is its own.
    assert_eq!(
        host.get("shop.test", "/?op=kv-set&key=k&value=mine")
            .await
            .0,
        200
    );
    assert_eq!(
        host.get("shop.test", "/?op=kv-get&key=k").await,
        (200, "mine".into())
    );
    assert_eq!(
        host.get("blog.test", "/?op=kv-get&key=k").await,
        (404, "missing".into())
    );
    assert!(state.path().join("apps/shop").is_dir());
    assert!(state.path().join("apps/blog").is_dir());

    let apps = host.apps();
    let names: Vec<&str> = apps["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blog", "shop", "shop-api", "wild"]);
    let shop = &apps["apps"][1];
    assert_eq!(shop["status"], "running");
    assert_eq!(shop["hosts"], json!(["shop.test"]));
    assert_eq!(shop["variables"], json!(["who"]));
    assert_eq!(shop["requests"], 4);
    assert!(shop["digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(apps["apps"][2]["routes"], json!(["/api/..."]));
    let (ok, table, _) = host.cli(&["apps"]);
    assert!(
        ok && table.contains("shop-api") && table.contains("shop.test/api"),
        "{table}"
    );

    // The API also deploys a folder on the host's own file system.
    let (status, answer) = host
        .admin_call(
            reqwest::Method::PUT,
            "/v1/apps/on-disk",
            Some(json!({"source": {"path": path_of(&app)}, "hosts": ["nobody.test"], "variables": {"who": "disk"}})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["source"], path_of(&app));
    assert_eq!(
        host.get("nobody.test", "/?op=var&name=who").await,
        (200, "disk".into())
    );

    let (ok, out, _) = host.cli(&["undeploy", "blog"]);
    assert!(ok && out.contains("Undeployed blog"), "{out}");
    assert_eq!(host.get("blog.test", "/?op=var&name=who").await.0, 404);
    let (ok, _, err) = host.cli(&["undeploy", "blog"]);
    assert!(
        !ok && err.contains("no app named `blog`") && err.contains("404"),
        "{err}"
    );
    // Its data stays for a later deploy of the same name.
    host.deploy_who(&app, "blog", "blog.test", "blog");
    assert_eq!(
        host.get("shop.test", "/?op=kv-get&key=k").await,
        (200, "mine".into())
    );
    // Unless it is purged: then a new deploy of the name starts empty.
    let shop_data = state.path().join("apps/shop");
    assert!(shop_data.is_dir());
    let (ok, out, err) = host.cli(&["undeploy", "shop", "--purge"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Undeployed shop and deleted its data"),
        "{out}"
    );
    assert!(!shop_data.exists());
    host.deploy_who(&app, "shop", "shop.test", "shop");
    assert_eq!(host.get("shop.test", "/?op=kv-get&key=k").await.0, 404);
}

#[tokio::test]
async fn bad_deploys_are_refused_with_nothing_changed() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start(state.path());
    let app = who_app();
    host.deploy_who(&app, "shop", "shop.test", "v1");
    let before = host.apps();
    let deploy = |name: &str, body: Value| {
        let host = &host;
        let path = format!("/v1/apps/{name}");
        async move {
            host.admin_call(reqwest::Method::PUT, &path, Some(body), Some(TOKEN))
                .await
        }
    };
    let good = |source: &str| json!({"source": {"path": source}, "hosts": ["new.test"]});

    let broken = AppDir::new("spin_manifest_version = 2\n[application\nname = ");
    let missing = AppDir::new(
        "spin_manifest_version = 2\n[application]\nname = \"m\"\n[[trigger.http]]\nroute = \"/...\"\n\
         component = \"c\"\n[component.c]\nsource = \"nowhere.wasm\"\n",
    );
    let command = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"c\"\n[[trigger.command]]\ncomponent = \"c\"\n\
         [component.c]\nsource = {}\n",
        toml_path(&guests().not_http)
    ));
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("Bad_Name", good(path_of(&app)), 400, "invalid app name"),
        ("x", good("relative/dir"), 400, "absolute path"),
        (
            "x",
            json!({"source": {"path": path_of(&app)}, "hosts": []}),
            400,
            "at least one host",
        ),
        (
            "x",
            json!({"source": {"path": path_of(&app)}, "hosts": ["a.test:80"]}),
            400,
            "invalid host",
        ),
        (
            "x",
            json!({"source": {"path": path_of(&app)}, "hosts": ["a.test"], "route_prefix": "/../x"}),
            400,
            "invalid route prefix",
        ),
        (
            "x",
            json!({"source": {"path": path_of(&app)}, "hosts": ["a.test"], "colour": 1}),
            400,
            "unknown field",
        ),
        (
            "x",
            json!({"source": {"path": path_of(&app)}, "hosts": ["shop.test"]}),
            409,
            "already claimed by app `shop`",
        ),
        ("x", good(path_of(&broken)), 422, "spin.toml"),
        ("x", good(path_of(&missing)), 422, "nowhere.wasm"),
        ("x", good(path_of(&command)), 422, "command triggers"),
        ("x", good("/no/such/app"), 422, "no such file"),
        // A required variable with no value fails at load.
        ("x", good(path_of(&app)), 422, "--variable who=VALUE"),
        // A replacement that does not load leaves the old version serving.
        ("shop", good(path_of(&broken)), 422, "spin.toml"),
    ];
    for (name, body, status, needle) in cases {
        let (got, answer) = deploy(name, body.clone()).await;
        let error = answer["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{name} {body}: {answer}");
        assert!(
            error.contains(needle),
            "{name} {body}: `{error}` lacks `{needle}`"
        );
    }
    let (status, answer) = host
        .admin_call(
            reqwest::Method::PUT,
            "/v1/apps/x",
            Some(Value::String("x".repeat((1 << 20) + 1000))),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 413, "{answer}");
    let (status, answer) = deploy(
        "x",
        json!({"source": {"upload": "sha256:0000"}, "hosts": ["x.test"]}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no upload sha256:0000"),
        "{answer}"
    );
    // Uploads must be OCI image layouts and nothing else.
    for (archive, needle) in [
        (
            tar_with(b"../evil", tar::EntryType::Regular, b"x"),
            "`../evil` is outside an OCI image layout",
        ),
        (
            tar_with(b"/etc/passwd", tar::EntryType::Regular, b"x"),
            "`/etc/passwd` is outside",
        ),
        (
            tar_with(b"blobs/sha256/x", tar::EntryType::Symlink, b""),
            "not a file",
        ),
        (b"not a tar".repeat(100), "uploaded archive"),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/uploads", host.admin))
            .bearer_auth(TOKEN)
            .body(archive)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let text = response.text().await.unwrap();
        assert!(text.contains(needle), "{text} lacks {needle}");
    }
    for token in [None, Some("wrong"), Some("platform-test-toke")] {
        let (status, _) = host
            .admin_call(reqwest::Method::GET, "/v1/apps", None, token)
            .await;
        assert_eq!(status, 401);
        let (status, _) = host
            .admin_call(reqwest::Method::DELETE, "/v1/apps/shop", None, token)
            .await;
        assert_eq!(status, 401);
    }
    let (ok, _, err) = run_wisp_out(&["apps", "--admin", &host.admin, "--token", "wrong"]);
    assert!(
        !ok && err.contains("missing or wrong admin token") && err.contains("401"),
        "{err}"
    );
    assert_eq!(host.apps()["apps"], before["apps"]);
    assert_eq!(
        host.get("shop.test", "/?op=var&name=who").await,
        (200, "v1".into())
    );
    assert!(!state.path().join("apps/x").exists());
}

/// A one-entry tar whose header name is written raw (the tar crate refuses `..`).
fn tar_with(name: &[u8], kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(data.len() as u64);
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, data).unwrap();
    builder.into_inner().unwrap()
}

fn run_wisp_out(args: &[&str]) -> (bool, String, String) {
    let out = run_wisp(args, None);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn redeploys_switch_live_and_the_deployed_set_survives_kill_9() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start(state.path());
    let app = who_app();
    host.deploy_who(&app, "shop", "shop.test", "v0");

    // Clients keep asking while the app is replaced again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let (served, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let port = host.wisp.addr.rsplit(':').next().unwrap().to_owned();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (client, stop, served, failed) =
            (host.client(), stop.clone(), served.clone(), failed.clone());
        let url = format!("http://shop.test:{port}/?op=var&name=who");
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let ok = match client.get(&url).send().await {
                    Ok(r) => r.status() == 200 && r.text().await.is_ok_and(|t| t.starts_with('v')),
                    Err(_) => false,
                };
                let counter = if ok { &served } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for version in 1..=5 {
        let who = format!("who=v{version}");
        let (ok, out, err) = tokio::task::block_in_place(|| {
            host.cli(&[
                "deploy",
                path_of(&app),
                "--name",
                "shop",
                "--host",
                "shop.test",
                "--variable",
                &who,
            ])
        });
        assert!(ok && out.starts_with("Replaced shop sha256:"), "{out}{err}");
        assert_eq!(
            host.get("shop.test", "/?op=var&name=who").await,
            (200, format!("v{version}"))
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during redeploys"
    );
    assert!(served.load(Ordering::Relaxed) > 0);

    host.deploy_who(&app, "blog", "blog.test", "blog");
    assert_eq!(
        host.get("blog.test", "/?op=kv-set&key=k&value=kept")
            .await
            .0,
        200
    );
    // Edits to the folder after a deploy do not reach the deployed snapshot.
    std::fs::write(app.path().join("spin.toml"), "not a manifest").unwrap();
    let digest = host.apps()["apps"][1]["digest"].clone();
    unsafe {
        libc::kill(host.wisp.child.id() as i32, libc::SIGKILL);
    }
    drop(host);

    let again = Host::start(state.path());
    assert!(
        again.wisp.stdout_text().contains("2 deployed"),
        "{}",
        again.wisp.stdout_text()
    );
    assert_eq!(
        again.get("shop.test", "/?op=var&name=who").await,
        (200, "v5".into())
    );
    assert_eq!(
        again.get("blog.test", "/?op=kv-get&key=k").await,
        (200, "kept".into())
    );
    assert_eq!(again.apps()["apps"][1]["digest"], digest);
}

#[tokio::test]
async fn deploys_from_a_registry_reference() {
    let registry = DockerRegistry::start();
    let reference = registry.reference("platform/who:v1");
    let app = who_app();
    let pushed = push(app.path(), &reference);
    let state = tempfile::tempdir().unwrap();
    let host = Host::start_with(state.path(), &["-k"]);
    let out = host.deploy(&[
        "-f",
        &reference,
        "--name",
        "shop",
        "--host",
        "shop.test",
        "--variable",
        "who=pulled",
    ]);
    assert!(out.starts_with(&format!("Deployed shop {pushed}")), "{out}");
    assert_eq!(
        host.get("shop.test", "/?op=var&name=who").await,
        (200, "pulled".into())
    );
    let (ok, _, err) = host.cli(&[
        "deploy",
        "-f",
        &registry.reference("platform/none:v1"),
        "--name",
        "x",
        "--host",
        "x.test",
    ]);
    assert!(
        !ok && err.contains("platform/none") && err.contains("422"),
        "{err}"
    );
}

#[tokio::test]
async fn idle_apps_scale_to_zero_and_come_back_with_their_data() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start_with(state.path(), &["--idle-unload", "0.5"]);
    let app = who_app();
    host.deploy_who(&app, "shop", "shop.test", "shop");
    assert_eq!(
        host.get("shop.test", "/?op=kv-set&key=k&value=kept")
            .await
            .0,
        200
    );
    let status = |host: &Host| {
        host.apps()["apps"][0]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while status(&host) != "idle" {
        assert!(
            std::time::Instant::now() < deadline,
            "never went idle: {}",
            host.wisp.stderr_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(host.apps()["apps"][0]["routes"], json!([]));
    assert!(
        host.wisp
            .stderr_text()
            .contains("unloaded until its next request")
    );
    // Several requests at once while idle: one load, every request answered.
    let answers =
        futures::future::join_all((0..8).map(|_| host.get("shop.test", "/?op=kv-get&key=k"))).await;
    assert!(
        answers.iter().all(|a| *a == (200, "kept".to_owned())),
        "{answers:?}"
    );
    assert_eq!(
        host.wisp
            .wait_for_stderr("loaded again after idling")
            .matches("loaded again after idling")
            .count(),
        1
    );
    assert_eq!(
        host.get("shop.test", "/?op=var&name=who").await,
        (200, "shop".into())
    );
}

#[tokio::test]
async fn tenants_cannot_raise_their_limits_and_the_operator_can_lower_them() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start_with(state.path(), &["--timeout", "2s"]);
    // The tenant's manifest asks for ten minutes per request.
    let greedy = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"greedy\"\n[[trigger.http]]\n\
         route = \"/...\"\ncomponent = \"probe\"\n[component.probe]\nsource = {}\n\
         [component.probe.limits]\ntimeout = \"600s\"\n",
        toml_path(&guests().probe)
    ));
    host.deploy(&[path_of(&greedy), "--name", "greedy", "--host", "shop.test"]);
    let probe = guests().probe.to_str().unwrap().to_owned();
    host.deploy(&[
        &probe,
        "--name",
        "small",
        "--host",
        "blog.test",
        "--memory-limit",
        "16MiB",
        "--timeout",
        "1s",
    ]);
    // Generous client-side bounds: a limit that did not apply would hang far longer.
    let bounded = |host_name: &'static str, path: &'static str| {
        let host = &host;
        async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(120),
                host.get(host_name, path),
            )
            .await
            .expect("the host's timeout should have ended the request")
        }
    };
    assert_eq!(bounded("shop.test", "/?op=loop").await.0, 504);
    assert_eq!(bounded("blog.test", "/?op=loop").await.0, 504);
    assert_eq!(bounded("shop.test", "/?op=hold&mb=64").await.0, 200);
    assert_ne!(bounded("blog.test", "/?op=hold&mb=64").await.0, 200);
    assert_eq!(
        bounded("blog.test", "/").await,
        (200, "hello from probe\n".into())
    );
    let small = &host.apps()["apps"][1];
    assert_eq!(
        small["limits"],
        json!({"memory_bytes": 16 << 20, "timeout_ms": 1000})
    );
    let (status, answer) = host
        .admin_call(
            reqwest::Method::PUT,
            "/v1/apps/zero",
            Some(json!({"source": {"path": probe}, "hosts": ["z.test"], "limits": {"timeout_ms": 0}})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_wide_instance_quota_bounds_a_flooded_tenant() {
    let state = tempfile::tempdir().unwrap();
    // Each app may hold two instances at once, whatever its component count.
    let host = Arc::new(Host::start_with(state.path(), &["--app-instances", "2"]));
    let two_components = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"pair\"\n\
         [[trigger.http]]\nroute = \"/a/...\"\ncomponent = \"a\"\n\
         [[trigger.http]]\nroute = \"/b/...\"\ncomponent = \"b\"\n\
         [component.a]\nsource = {probe}\n[component.b]\nsource = {probe}\n",
        probe = toml_path(&guests().probe)
    ));
    host.deploy(&[
        path_of(&two_components),
        "--name",
        "pair",
        "--host",
        "shop.test",
    ]);
    // The operator lowers one app's quota further at deploy.
    let probe = guests().probe.to_str().unwrap().to_owned();
    host.deploy(&[
        &probe,
        "--name",
        "single",
        "--host",
        "blog.test",
        "--app-instances",
        "1",
    ]);
    assert_eq!(
        host.apps()["apps"][1]["limits"],
        json!({"app_instances": 1})
    );

    // Each slow request holds its instance 6 s, longer than the 5 s an event may wait.
    let request = |name: &'static str, path: &'static str| {
        let host = host.clone();
        tokio::spawn(async move {
            let port = host.wisp.addr.rsplit(':').next().unwrap().to_owned();
            let response = host
                .client()
                .get(format!("http://{name}:{port}{path}"))
                .send()
                .await
                .unwrap();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), retry)
        })
    };
    let holding = [
        request("shop.test", "/a/?op=sleep&ms=6000"),
        request("shop.test", "/b/?op=sleep&ms=6000"),
        request("blog.test", "/?op=sleep&ms=6000"),
    ];
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Over quota: one more to either component of `pair`, or to `single`.
    let refused = [
        request("shop.test", "/a/"),
        request("shop.test", "/b/"),
        request("blog.test", "/"),
    ];
    for answer in refused {
        assert_eq!(answer.await.unwrap(), (503, Some("1".to_owned())));
    }
    for answer in holding {
        assert_eq!(answer.await.unwrap(), (200, None));
    }
    // The quota is free again once they finish.
    assert_eq!(
        host.get("shop.test", "/a/").await,
        (200, "hello from probe\n".into())
    );
    assert_eq!(
        host.get("blog.test", "/").await,
        (200, "hello from probe\n".into())
    );
}
