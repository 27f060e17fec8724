//! Attacks on the SQLite grant by a hostile guest (issue: security, items 1, 2 and the
//! SQLite part of 4): its SQL must reach exactly the database it was granted, a runaway
//! statement must end with its request, and one value or result must not balloon the
//! host.

use crate::harness::*;
use crate::state::spin_app;
use std::time::Duration;

/// Runs `statement` through the spin-sdk guest's `sql` op: status and body.
async fn sql(wisp: &Wisp, statement: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(wisp.url("/?op=sql"))
        .body(statement.to_owned())
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

#[tokio::test]
async fn guest_sql_cannot_reach_other_files_or_learn_host_paths() {
    let app = spin_app("sqlite_databases = [\"default\"]", "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(sql(&wisp, "CREATE TABLE t (x)").await.0, 200);
    let state = app.path().join(".wisp");
    let elsewhere = app.path().join("planted.db");
    let attacks = [
        ("PRAGMA database_list".to_owned(), "database_list"),
        (
            "SELECT file FROM pragma_database_list".to_owned(),
            "database_list",
        ),
        (
            format!(
                "ATTACH DATABASE '{}' AS kv",
                state.join("sqlite_key_value.db").display()
            ),
            "ATTACH",
        ),
        (
            format!("ATTACH '{}' AS planted", elsewhere.display()),
            "ATTACH",
        ),
        (
            format!("VACUUM INTO '{}'", elsewhere.display()),
            "VACUUM INTO",
        ),
        (
            "PRAGMA temp_store_directory = '/tmp'".to_owned(),
            "temp_store_directory",
        ),
        (
            "SELECT load_extension('/tmp/evil')".to_owned(),
            "extensions",
        ),
        ("PRAGMA writable_schema = 1".to_owned(), "writable_schema"),
        ("PRAGMA synchronous = OFF".to_owned(), "synchronous"),
    ];
    for (statement, refused) in attacks {
        let (status, body) = sql(&wisp, &statement).await;
        assert_eq!(status, 500, "{statement} was not refused: {body}");
        assert!(
            body.contains("not authorized") && body.contains(refused),
            "{statement}: {body}"
        );
        assert!(
            !body.contains(&*state.to_string_lossy()),
            "{statement} revealed the state directory: {body}"
        );
    }
    assert!(!elsewhere.exists(), "a refused statement created a file");
    // What stays inside the granted file still works.
    for statement in [
        "PRAGMA foreign_keys = ON",
        "PRAGMA table_info(t)",
        "INSERT INTO t VALUES (1)",
        "VACUUM",
    ] {
        let (status, body) = sql(&wisp, statement).await;
        assert_eq!(status, 200, "{statement}: {body}");
    }
}

#[tokio::test]
async fn a_runaway_query_ends_with_its_request_and_frees_the_database() {
    let app = spin_app(
        "sqlite_databases = [\"default\"]\n[component.app.limits]\ntimeout = \"1s\"",
        "",
    );
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert_eq!(sql(&wisp, "CREATE TABLE t (x)").await.0, 200);
    let runaway =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT max(x) FROM c";
    assert_eq!(sql(&wisp, runaway).await.0, 504);
    // Before the fix the statement kept the connection forever, so this timed out too.
    for n in 0..3 {
        let (status, body) = sql(&wisp, &format!("INSERT INTO t VALUES ({n})")).await;
        assert_eq!(status, 200, "the database is still held: {body}");
    }
    let (status, body) = sql(&wisp, "SELECT count(*) FROM t").await;
    assert_eq!(
        (status, body.lines().nth(1)),
        (200, Some("[Value::Integer(3)]"))
    );
}

#[tokio::test]
async fn huge_values_and_results_fail_the_statement_not_the_host() {
    let app = spin_app("sqlite_databases = [\"default\"]", "");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let before = wisp.rss_kib();
    let (status, body) = sql(&wisp, "SELECT zeroblob(900000000)").await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("too big"), "{body}");
    // Three million rows of 100 bytes: past the result cap, refused before the host
    // holds all of it.
    let (status, body) = sql(
        &wisp,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 3000000) \
         SELECT x, randomblob(100) FROM c",
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("larger than"), "{body}");
    let growth_mib = wisp.rss_kib().saturating_sub(before) / 1024;
    assert!(growth_mib < 200, "host grew by {growth_mib} MiB");
    assert_eq!(sql(&wisp, "SELECT 1").await.0, 200, "the host still serves");
}
