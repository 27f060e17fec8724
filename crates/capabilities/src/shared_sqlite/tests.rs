use super::*;

fn open_temp() -> (tempfile::TempDir, SharedConnection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = SharedConnection::open(Some(&dir.path().join("db.sqlite"))).unwrap();
    (dir, conn)
}

async fn exec(conn: &SharedConnection, sql: &str) -> Result<(), SqliteError> {
    let sql = sql.to_owned();
    conn.run(move |c| {
        let mut stmt = c.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        Ok(())
    })
    .await
}

#[tokio::test]
async fn statements_that_reach_past_the_file_are_refused_with_a_reason() {
    let (dir, conn) = open_temp();
    let outside = dir.path().join("outside.db");
    let cases = [
        (format!("ATTACH '{}' AS x", outside.display()), "ATTACH"),
        (
            format!("VACUUM INTO '{}'", outside.display()),
            "VACUUM INTO",
        ),
        ("PRAGMA database_list".into(), "database_list"),
        ("SELECT * FROM pragma_database_list".into(), "database_list"),
        (
            "PRAGMA temp_store_directory = '/tmp'".into(),
            "temp_store_directory",
        ),
        (
            "PRAGMA journal_mode = OFF".into(),
            "journal_mode may be read",
        ),
        ("SELECT load_extension('x')".into(), "extensions"),
        ("DETACH temp".into(), "DETACH"),
    ];
    for (sql, reason) in cases {
        match exec(&conn, &sql).await {
            Err(SqliteError::Denied(msg)) => assert!(msg.contains(reason), "{sql}: {msg}"),
            other => panic!("{sql} was not refused: {other:?}"),
        }
    }
    assert!(!outside.exists(), "a refused statement created a file");
}

#[tokio::test]
async fn ordinary_schema_work_is_allowed() {
    let (_dir, conn) = open_temp();
    for sql in [
        "CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT)",
        "PRAGMA foreign_keys = ON",
        "PRAGMA table_info(t)",
        "SELECT * FROM pragma_table_info('t')",
        "PRAGMA journal_mode",
        "PRAGMA user_version = 3",
        "CREATE TEMP TABLE scratch (v)",
        "VACUUM",
    ] {
        exec(&conn, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[tokio::test]
async fn the_host_itself_is_not_fenced() {
    let (_dir, conn) = open_temp();
    let list = conn
        .run_now(|c| c.query_row("PRAGMA database_list", [], |r| r.get::<_, String>(1)))
        .unwrap();
    assert_eq!(list, "main");
}

#[tokio::test]
async fn a_value_past_the_length_cap_is_an_error_not_an_allocation() {
    let (_dir, conn) = open_temp();
    let err = exec(&conn, "SELECT zeroblob(900000000)").await.unwrap_err();
    assert!(err.to_string().contains("too big"), "{err}");
}

#[tokio::test]
async fn dropping_the_caller_interrupts_a_runaway_statement() {
    let (_dir, conn) = open_temp();
    exec(&conn, "CREATE TABLE t (x)").await.unwrap();
    let runaway = exec(
        &conn,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT max(x) FROM c",
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(200), runaway)
            .await
            .is_err(),
        "the runaway statement finished on its own"
    );
    // The connection is free again: the next statement runs, well before the runaway
    // one could ever have ended.
    tokio::time::timeout(
        Duration::from_secs(60),
        exec(&conn, "INSERT INTO t VALUES (1)"),
    )
    .await
    .expect("the runaway statement still holds the connection")
    .unwrap();
}
