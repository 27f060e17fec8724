//! Key-value, SQLite and variables through a guest built with the real spin-sdk 5.2.0:
//! every interface version, the denials, durability, concurrency and the seeding flags.

use crate::harness::*;

/// An app running the spin-sdk guest with `grants` added to its component table.
pub fn spin_app(grants: &str, extra: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"state\"\n{extra}\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\n{grants}\n",
        toml_path(&guests().spin_app)
    ))
}

const KV_DEFAULT: &str = "key_value_stores = [\"default\"]";

#[tokio::test]
async fn key_value_v2_round_trip_and_denial() {
    let app = spin_app(KV_DEFAULT, "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // Everything spin-sdk 5 imports (postgres 4.0.0 and sqlite 3.0.0 included) has a
    // synchronous form, so the guest gets the engine without component-model-async.
    assert!(
        wisp.stdout_text()
            .lines()
            .any(|l| l.starts_with("app: ") && l.ends_with("runs on the WASI 0.2 engine")),
        "{}",
        wisp.stdout_text()
    );
    let op = |q: &str| wisp.url(&format!("/?op={q}"));
    assert_eq!(
        get(&op("kv-set&key=a&value=hello")).await,
        (200, "ok".into())
    );
    assert_eq!(get(&op("kv-get&key=a")).await, (200, "hello".into()));
    assert_eq!(get(&op("kv-set&key=b&value=2")).await.0, 200);
    assert_eq!(get(&op("kv-keys")).await, (200, "a,b".into()));
    assert_eq!(get(&op("kv-exists&key=a")).await, (200, "true".into()));
    assert_eq!(get(&op("kv-exists&key=nope")).await, (200, "false".into()));
    assert_eq!(
        get(&op("kv-delete&key=nope")).await,
        (200, "deleted".into()),
        "deleting a missing key is not an error"
    );
    assert_eq!(get(&op("kv-delete&key=a")).await.0, 200);
    assert_eq!(get(&op("kv-get&key=a")).await, (404, "missing".into()));
    // A label the component was not granted.
    assert_eq!(
        get(&op("kv-open&store=other")).await,
        (403, "Error::AccessDenied".into())
    );
}

#[tokio::test]
async fn wasi_keyvalue_atomics_and_batch() {
    let app = spin_app(KV_DEFAULT, "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let op = |q: &str| wisp.url(&format!("/?op={q}"));
    assert_eq!(get(&op("kv-incr&key=n&n=5")).await, (200, "5".into()));
    assert_eq!(get(&op("kv-incr&key=n&n=-2")).await, (200, "3".into()));
    // The counter is readable as a decimal string through the Spin interface too.
    assert_eq!(get(&op("kv-get&key=n")).await, (200, "3".into()));
    assert_eq!(get(&op("kv-set&key=text&value=abc")).await.0, 200);
    let (status, body) = get(&op("kv-incr&key=text")).await;
    assert_eq!(status, 500);
    assert!(body.contains("not an integer"), "{body}");
    assert_eq!(get(&op("kv-cas&key=s&value=x")).await, (200, "1".into()));
    assert_eq!(get(&op("kv-cas&key=s&value=y")).await.0, 200);
    assert_eq!(get(&op("kv-get&key=s")).await, (200, "xy".into()));
    assert_eq!(
        get(&op("kv-batch")).await,
        (200, "[(\"a\", Some([49])), (\"b\", Some([50])), (\"zz\", None)] a-exists-after-delete=false".into())
    );
    assert_eq!(get(&op("kv-open&store=other")).await.0, 403);
}

/// Two clients each incrementing one key 1,000 times end at exactly 2,000; eight
/// compare-and-swap appenders all land.
pub async fn concurrent_atomics(wisp: &Wisp) {
    let incr = wisp.url("/?op=kv-incr&key=counter&times=1000");
    let (a, b) = tokio::join!(get(&incr), get(&incr));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    assert_eq!(
        get(&wisp.url("/?op=kv-get&key=counter")).await,
        (200, "2000".into())
    );

    let appends = (0..8).map(|_| get_owned(wisp.url("/?op=kv-cas&key=log&value=x")));
    for (status, body) in futures::future::join_all(appends).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        get(&wisp.url("/?op=kv-get&key=log")).await,
        (200, "xxxxxxxx".into())
    );
}

#[tokio::test]
async fn concurrent_increments_are_exact_on_sqlite() {
    let app = spin_app(KV_DEFAULT, "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    concurrent_atomics(&wisp).await;
}

#[tokio::test]
async fn data_survives_restart_and_kill_9() {
    let app = spin_app(KV_DEFAULT, "");
    {
        let wisp = Wisp::start(&["-f", &app.manifest()]);
        assert_eq!(get(&wisp.url("/?op=kv-set&key=kept&value=1")).await.0, 200);
        wisp.terminate();
    }
    let mut wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(
        get(&wisp.url("/?op=kv-get&key=kept")).await,
        (200, "1".into())
    );
    // Acknowledged, then killed without warning.
    for i in 0..20 {
        assert_eq!(
            get(&wisp.url(&format!("/?op=kv-set&key=k{i}&value={i}"))).await,
            (200, "ok".into())
        );
    }
    wisp.child.kill().unwrap(); // SIGKILL
    wisp.child.wait().unwrap();
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    for i in 0..20 {
        assert_eq!(
            get(&wisp.url(&format!("/?op=kv-get&key=k{i}"))).await,
            (200, i.to_string())
        );
    }
    assert!(app.path().join(".wisp/sqlite_key_value.db").is_file());
}

#[tokio::test]
async fn huge_values_and_many_keys() {
    let app = spin_app(KV_DEFAULT, "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let n = 16 * 1024 * 1024;
    assert_eq!(
        get(&wisp.url(&format!("/?op=kv-big&key=big&n={n}"))).await,
        (200, n.to_string())
    );
    assert_eq!(
        get(&wisp.url("/?op=kv-many&n=100000&prefix=m")).await,
        (200, "100000".into())
    );
}

#[tokio::test]
async fn key_value_flag_seeds_the_default_store() {
    let app = spin_app(KV_DEFAULT, "");
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--key-value",
        "greeting=hi there",
        "--key-value",
        "n=7",
    ]);
    assert_eq!(
        get(&wisp.url("/?op=kv-get&key=greeting")).await,
        (200, "hi there".into())
    );
    assert_eq!(get(&wisp.url("/?op=kv-get&key=n")).await, (200, "7".into()));
}

#[tokio::test]
async fn sqlite_types_flags_and_denial() {
    let app = spin_app("sqlite_databases = [\"default\"]", "");
    app.write(
        "seed.sql",
        "CREATE TABLE pets (name TEXT, legs INTEGER); INSERT INTO pets VALUES ('cat', 4);",
    );
    let seed = format!("@{}", app.path().join("seed.sql").display());
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--sqlite",
        &seed,
        "--sqlite",
        "INSERT INTO pets VALUES ('bird', 2)",
    ]);
    let (status, body) = get(&wisp.url("/?op=sql-types")).await;
    assert_eq!(status, 200, "values did not round-trip exactly: {body}");
    let resp = reqwest::Client::new()
        .post(wisp.url("/?op=sql"))
        .body("SELECT name, legs FROM pets ORDER BY legs")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        "[\"name\", \"legs\"]\n[Value::Text(\"bird\"), Value::Integer(2)]\n[Value::Text(\"cat\"), Value::Integer(4)]"
    );
    assert_eq!(
        get(&wisp.url("/?op=sql-open&db=other")).await,
        (403, "Error::AccessDenied".into())
    );
    // Key-value was not granted to this component.
    assert_eq!(get(&wisp.url("/?op=kv-open")).await.0, 403);
    assert!(app.path().join(".wisp/sqlite_db.db").is_file());
}

#[tokio::test]
async fn runtime_config_maps_labels_to_files_and_memory() {
    let app = spin_app(
        "key_value_stores = [\"default\", \"scratch\"]\nsqlite_databases = [\"reports\"]",
        "",
    );
    app.write(
        "runtime-config.toml",
        "[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n\
         [key_value_store.scratch]\ntype = \"memory\"\n\
         [sqlite_database.reports]\ntype = \"spin\"\npath = \"data/reports.db\"\n",
    );
    let rc = app.path().join("runtime-config.toml");
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--runtime-config-file",
        rc.to_str().unwrap(),
    ]);
    assert_eq!(get(&wisp.url("/?op=kv-set&key=x&value=1")).await.0, 200);
    assert_eq!(
        get(&wisp.url("/?op=kv-set&store=scratch&key=y&value=2"))
            .await
            .0,
        200
    );
    assert_eq!(
        get(&wisp.url("/?op=kv-get&store=scratch&key=y")).await,
        (200, "2".into())
    );
    assert_eq!(
        get(&wisp.url("/?op=kv-get&store=scratch&key=x")).await.0,
        404,
        "stores share keys"
    );
    assert_eq!(get(&wisp.url("/?op=sql-open&db=reports")).await.0, 200);
    assert!(app.path().join("data/kv.db").is_file());
    assert!(app.path().join("data/reports.db").is_file());
    assert!(!app.path().join(".wisp/sqlite_key_value.db").exists());
}

#[test]
fn unserved_labels_and_bad_runtime_configs_fail_at_startup() {
    let app = spin_app("key_value_stores = [\"cache\"]", "");
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("component `app` uses key-value store `cache`, which no backend serves"),
        "{err}"
    );
    assert!(err.contains("[key_value_store.cache]"), "{err}");

    let app = spin_app("sqlite_databases = [\"reports\"]", "");
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("SQLite database `reports`, which no backend serves"),
        "{err}"
    );

    let app = spin_app(KV_DEFAULT, "");
    for (body, expect) in [
        (
            "[key_value_store.default]\ntype = \"dynamo\"\n",
            "unknown variant `dynamo`",
        ),
        ("[key_value_store.default\n", "runtime-config.toml:1:"),
        (
            "[key_value_store.default]\ntype = \"redis\"\n",
            "missing field `url`",
        ),
    ] {
        let err = up_fails_with_runtime_config(&app, body);
        assert!(err.contains(expect), "{body}: {err}");
    }
    // A Redis nobody listens on.
    let port = free_port();
    let err = up_fails_with_runtime_config(
        &app,
        &format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n"
        ),
    );
    assert!(err.contains("cannot reach Redis"), "{err}");
}

const VARS: &str = "[variables]\ngreeting = { default = \"hello\" }\nwho = { required = true }\n\
                    token = { default = \"s3cr3t-default\", secret = true }\nunset = { default = \"\" }\n";

fn vars_app() -> AppDir {
    spin_app(
        "variables = { message = \"{{ greeting }}, {{ who }}!\", api_token = \"{{ token }}\" }",
        VARS,
    )
}

#[tokio::test]
async fn variables_resolve_from_env_then_defaults() {
    let app = vars_app();
    let wisp = Wisp::start_with_env(
        &["-f", &app.manifest()],
        &[
            ("SPIN_VARIABLE_WHO", "spin"),
            ("WISP_VARIABLE_GREETING", "hi"),
            ("SPIN_VARIABLE_GREETING", "ignored"),
        ],
    );
    let op = |q: &str| wisp.url(&format!("/?op={q}"));
    assert_eq!(
        get(&op("var&name=message")).await,
        (200, "hi, spin!".into())
    );
    assert_eq!(
        get(&op("var&name=api_token")).await,
        (200, "s3cr3t-default".into())
    );
    // Only the component's own keys: app variables are not directly visible.
    let (status, body) = get(&op("var&name=greeting")).await;
    assert_eq!(status, 404);
    assert!(body.contains("Undefined"), "{body}");
    let (status, body) = get(&op("var&name=Bad-Name")).await;
    assert_eq!(status, 404);
    assert!(body.contains("InvalidName"), "{body}");
    // The same values through wasi:config.
    assert_eq!(
        get(&op("config&name=message")).await,
        (200, "hi, spin!".into())
    );
    assert_eq!(get(&op("config&name=greeting")).await, (404, "none".into()));
    assert_eq!(
        get(&op("config-all")).await,
        (
            200,
            "[(\"api_token\", \"s3cr3t-default\"), (\"message\", \"hi, spin!\")]".into()
        )
    );
    assert!(!wisp.stdout_text().contains("s3cr3t") && !wisp.stderr_text().contains("s3cr3t"));
}

#[tokio::test]
async fn variable_flags_win_over_the_environment() {
    let app = vars_app();
    app.write("vars.toml", "greeting = \"hey\"\nwho = \"toml\"\n");
    app.write("token.txt", "from-a-file");
    let toml = format!("@{}", app.path().join("vars.toml").display());
    let token = format!("token=@{}", app.path().join("token.txt").display());
    let wisp = Wisp::start_with_env(
        &[
            "-f",
            &app.manifest(),
            "--variable",
            &toml,
            "--variable",
            "who=flag",
            "--variable",
            &token,
        ],
        &[
            ("SPIN_VARIABLE_WHO", "env"),
            ("WISP_VARIABLE_GREETING", "env"),
        ],
    );
    let op = |q: &str| wisp.url(&format!("/?op={q}"));
    assert_eq!(
        get(&op("var&name=message")).await,
        (200, "hey, flag!".into())
    );
    assert_eq!(
        get(&op("var&name=api_token")).await,
        (200, "from-a-file".into())
    );
    let err = up_fails(&["-f", &app.manifest(), "--variable", "nonsense"]);
    assert!(err.contains("--variable nonsense"), "{err}");
}

#[test]
fn a_required_variable_without_a_value_stops_startup() {
    let app = vars_app();
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("variable `who` is required but not set"),
        "{err}"
    );
    assert!(err.contains("SPIN_VARIABLE_WHO"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[tokio::test]
async fn a_plain_wit_bindgen_guest_links_against_the_host_wit() {
    // No SDK in between: bindings generated from wisp's own `wit/` must match the host.
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"raw\"\n\
         [variables]\ncolour = {{ default = \"teal\" }}\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"raw\"\n\
         [component.raw]\nsource = {}\nkey_value_stores = [\"default\"]\n\
         sqlite_databases = [\"default\"]\n\
         [component.raw.variables]\nfavourite = \"{{{{ colour }}}}\"\n",
        toml_path(&guests().raw_spin)
    ));
    let state = tempfile::tempdir().unwrap();
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_eq!(
        get(&wisp.url("/?op=kv")).await,
        (
            200,
            "back=Some([98, 121, 116, 101, 115, 32, 0, 255]) missing=None keys=[\"raw\"] \
             denied=Some(Error::AccessDenied)"
                .into()
        )
    );
    assert_eq!(
        get(&wisp.url("/?op=sql")).await,
        (
            200,
            "Value::Integer(-9223372036854775808) Value::Real(0.1) Value::Text(\"t\") \
             Value::Blob([1, 2]) Value::Null"
                .into()
        )
    );
    assert_eq!(
        get(&wisp.url("/?op=var&name=favourite")).await,
        (200, "teal".into())
    );
}
