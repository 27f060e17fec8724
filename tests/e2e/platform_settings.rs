//! Platform mode settings: a Spin runtime config of each deployment's own, whose stores
//! live in that app's folder and nowhere else; and `wisp update`, which changes a
//! deployed app's settings live without a new version.

use crate::platform::{Host, TOKEN, path_of, who_app};
use crate::state::spin_app;
use serde_json::json;

#[tokio::test]
async fn each_app_runs_with_its_own_runtime_config() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start(state.path());
    let app = spin_app(
        "key_value_stores = [\"cache\"]\nsqlite_databases = [\"reports\"]",
        "",
    );

    // Without a backend for its `cache` store the app is refused, and nothing deployed.
    let (ok, out, err) = host.cli(&[
        "deploy",
        path_of(&app),
        "--name",
        "shop",
        "--host",
        "shop.test",
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("key-value store `cache`, which no backend serves"),
        "{err}"
    );
    assert_eq!(host.get("shop.test", "/").await.0, 404);

    app.write(
        "rc.toml",
        "[key_value_store.cache]\ntype = \"spin\"\npath = \"data/cache.db\"\n\
         [sqlite_database.reports]\ntype = \"spin\"\npath = \"data/reports.db\"\n",
    );
    let rc = app.path().join("rc.toml");
    for (name, host_name) in [("shop", "shop.test"), ("blog", "blog.test")] {
        host.deploy(&[
            path_of(&app),
            "--name",
            name,
            "--host",
            host_name,
            "--runtime-config-file",
            rc.to_str().unwrap(),
        ]);
    }
    let set = host
        .get("shop.test", "/?op=kv-set&store=cache&key=x&value=1")
        .await;
    assert_eq!(set.0, 200, "{set:?}");
    assert_eq!(
        host.get("shop.test", "/?op=kv-get&store=cache&key=x").await,
        (200, "1".to_owned())
    );
    // The same relative path is a file of each app's own.
    assert_eq!(
        host.get("blog.test", "/?op=kv-get&store=cache&key=x")
            .await
            .0,
        404
    );
    assert_eq!(
        host.get("shop.test", "/?op=sql-open&db=reports").await.0,
        200
    );
    let apps = state.path().join("apps");
    assert!(apps.join("shop/data/cache.db").is_file());
    assert!(apps.join("shop/data/reports.db").is_file());
    assert!(apps.join("blog/data/cache.db").is_file());

    // The API tells that an app has a runtime config, not what it holds.
    let (status, info) = host
        .admin_call(reqwest::Method::GET, "/v1/apps/shop", None, Some(TOKEN))
        .await;
    assert_eq!(status, 200);
    assert_eq!(info["runtime_config"], json!(true));
    assert!(!info.to_string().contains("cache.db"), "{info}");

    // A config that does not parse is refused by the host itself, naming the line.
    let body = json!({
        "source": {"path": path_of(&app)},
        "hosts": ["bad.test"],
        "runtime_config": "[key_value_store.cache]\ntype = \"dynamo\"\n",
    });
    let (status, answer) = host
        .admin_call(
            reqwest::Method::PUT,
            "/v1/apps/bad",
            Some(body),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains("runtime-config.toml:2"), "{error}");
    assert!(error.contains("unknown variant `dynamo`"), "{error}");
}

#[tokio::test]
async fn update_changes_an_apps_settings_live_and_keeps_its_version() {
    let state = tempfile::tempdir().unwrap();
    let host = Host::start(state.path());
    let app = who_app();
    host.deploy_who(&app, "shop", "shop.test", "one");
    host.deploy_who(&app, "blog", "blog.test", "blog");
    let who = "/?op=var&name=who";
    assert_eq!(host.get("shop.test", who).await, (200, "one".to_owned()));
    let digest = |info: &serde_json::Value| info["digest"].as_str().unwrap().to_owned();
    let (_, before) = host
        .admin_call(reqwest::Method::GET, "/v1/apps/shop", None, Some(TOKEN))
        .await;

    // New variables and a new host: the same snapshot, loaded again with them.
    let (ok, out, err) = host.cli(&[
        "update",
        "shop",
        "--variable",
        "who=two",
        "--host",
        "shop.test",
        "--host",
        "a.wild.test",
    ]);
    assert!(ok, "{err}");
    assert!(out.starts_with("Updated shop sha256:"), "{out}");
    assert_eq!(host.get("shop.test", who).await, (200, "two".to_owned()));
    assert_eq!(host.get("a.wild.test", who).await, (200, "two".to_owned()));
    let (_, after) = host
        .admin_call(reqwest::Method::GET, "/v1/apps/shop", None, Some(TOKEN))
        .await;
    assert_eq!(digest(&after), digest(&before));

    // A change that cannot apply changes nothing: a host another app holds, a limit of
    // zero, an app that does not exist, nothing to change.
    for (args, expect) in [
        (vec!["update", "shop", "--host", "blog.test"], "blog"),
        (vec!["update", "shop", "--max-instances", "0"], "above zero"),
        (vec!["update", "nobody", "--variable", "who=x"], "HTTP 404"),
        (vec!["update", "shop"], "give a setting to change"),
    ] {
        let (ok, _, err) = host.cli(&args);
        assert!(!ok, "{args:?} was applied");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    assert_eq!(host.get("shop.test", who).await, (200, "two".to_owned()));
    assert_eq!(host.get("blog.test", who).await, (200, "blog".to_owned()));

    // Dropping a required variable fails to load, and the running version stays.
    let (status, answer) = host
        .admin_call(
            reqwest::Method::PATCH,
            "/v1/apps/shop",
            Some(json!({"variables": {}})),
            Some(TOKEN),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("`who`"),
        "{answer}"
    );
    assert_eq!(host.get("a.wild.test", who).await, (200, "two".to_owned()));
}
