//! Runaway statements on real database servers (issue: security, item 2): when the
//! request that started a PostgreSQL or MySQL statement ends, the statement is cancelled
//! on the server instead of running on and holding its connection.

use crate::harness::*;
use crate::upstream::encode;
use std::time::Duration;

/// Polls `url` until its body contains `wanted` (at most ~20 s); the last body.
async fn eventually(url: &str, wanted: &str) -> String {
    let mut body = String::new();
    for _ in 0..40 {
        body = get(url).await.1;
        if body.contains(wanted) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    body
}

#[tokio::test]
async fn abandoned_postgres_and_mysql_statements_are_cancelled_on_the_server() {
    let (pg, my) = (Postgres::start(), MariaDb::start());
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"runaway\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\n\
         allowed_outbound_hosts = [\"postgres://127.0.0.1:{}\", \"mysql://127.0.0.1:{}\"]\n\
         [component.app.limits]\ntimeout = \"1s\"\n",
        toml_path(&guests().spin_app),
        pg.port,
        my.port
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let query = |db: &str, addr: &str, sql: &str| {
        wisp.url(&format!(
            "/?op={db}-query&addr={}&sql={}",
            encode(addr),
            encode(sql)
        ))
    };

    let (status, _) = get(&query("pg", &pg.url(), "SELECT pg_sleep(60)")).await;
    assert_eq!(status, 504);
    let running = query(
        "pg",
        &pg.url(),
        "SELECT count(*) FROM pg_stat_activity \
         WHERE query LIKE 'SELECT pg_sleep(60%' AND state = 'active'",
    );
    let body = eventually(&running, "Int64(0)").await;
    assert!(
        body.contains("Int64(0)"),
        "pg_sleep still runs on the server: {body}"
    );

    let (status, _) = get(&query("mysql", &my.url(), "SELECT SLEEP(60)")).await;
    assert_eq!(status, 504);
    let running = query(
        "mysql",
        &my.url(),
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE INFO LIKE 'SELECT SLEEP(60%'",
    );
    let body = eventually(&running, "(0)").await;
    assert!(
        body.contains("(0)"),
        "SLEEP still runs on the server: {body}"
    );
}
