//! Outbound PostgreSQL (`fermyon:spin/postgres@2.0.0`) from a real spin-sdk guest against
//! a real PostgreSQL started for the test: type round-trips, transactions on one
//! connection, server errors, and denial by `allowed_outbound_hosts`.

use crate::harness::*;

fn pg_app(allowed: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"pg-out\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(&guests().spin_app)
    ))
}

#[tokio::test]
async fn postgres_round_trips_types_and_keeps_transactions_on_one_connection() {
    let pg = Postgres::start();
    let app = pg_app(&format!("\"postgres://127.0.0.1:{}\"", pg.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let op = |op: &str| wisp.url(&format!("/?op={op}&addr={}", pg.url()));

    let (status, body) = get(&op("pg-types")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "inserted=1 same=true types=b:DbDataType::Boolean,i2:DbDataType::Int16,\
         i4:DbDataType::Int32,i8:DbDataType::Int64,f4:DbDataType::Floating32,\
         f8:DbDataType::Floating64,t:DbDataType::Str,v:DbDataType::Str,\
         by:DbDataType::Binary,n:DbDataType::Int32"
    );
    // Run twice: a pooled client comes back clean, with no transaction left open.
    for _ in 0..2 {
        assert_eq!(
            get(&op("pg-rollback")).await,
            (200, "inside=1 after=0".into())
        );
    }
    // Version 3's dates and times (timestamptz read back in UTC).
    assert_eq!(
        get(&op("pg3-times")).await,
        (
            200,
            "date(2024, 2, 29) time(23, 59, 58, 123456000) datetime(1999, 12, 31, 23, 59, 59, 0) \
             datetime(2023, 11, 14, 22, 13, 20, 0) int8(-1) | \
             DbDataType::Date,DbDataType::Time,DbDataType::Datetime,DbDataType::Datetime,\
             DbDataType::Int64"
                .into()
        )
    );
    let (status, body) = get(&op("pg-bad-sql")).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("QueryFailed") && body.contains("syntax error"),
        "{body}"
    );
}

#[tokio::test]
async fn ungranted_databases_are_refused_before_connecting() {
    let pg = Postgres::start();
    let app = pg_app("\"postgres://db.example.com\"");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    // Spin's words: the host and port the address names, as a `postgres://` URL.
    let (status, body) = get(&wisp.url(&format!("/?op=pg-open&addr={}", pg.url()))).await;
    assert_eq!(status, 500, "{body}");
    let spin_says = format!("address postgres://127.0.0.1:{} is not permitted", pg.port);
    assert!(body.contains(&spin_says), "{body}");
    // Neither a PostgreSQL URL nor libpq's key=value form.
    for addr in [
        format!("mysql://127.0.0.1:{}/postgres", pg.port),
        "garbage".to_owned(),
    ] {
        let (status, body) = get(&wisp.url(&format!("/?op=pg-open&addr={addr}"))).await;
        assert_eq!(status, 500, "{addr}: {body}");
        assert!(body.contains("ConnectionFailed"), "{addr}: {body}");
    }
    // A granted address whose server is down is a connection failure, not a hang.
    let down = free_port();
    let app = pg_app(&format!("\"postgres://127.0.0.1:{down}\""));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let url = format!("postgres://postgres@127.0.0.1:{down}/postgres");
    let (status, body) = get(&wisp.url(&format!("/?op=pg-open&addr={url}"))).await;
    assert_eq!(status, 500);
    assert!(body.contains("ConnectionFailed"), "{body}");
}

#[tokio::test]
async fn libpq_key_value_addresses_are_checked_against_the_grant_and_connect() {
    let pg = Postgres::start();
    let granted = pg_app(&format!("\"postgres://127.0.0.1:{}\"", pg.port));
    let wisp = Wisp::start(&["-f", &granted.manifest()]);
    let address = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        pg.port
    );
    let open = format!("/?op=pg-open&addr={}", crate::upstream::encode(&address));
    assert_eq!(get(&wisp.url(&open)).await, (200, "opened".into()));
    drop(wisp);

    // The same address against a grant for another port is refused as Spin refuses it.
    let other = pg_app("\"postgres://127.0.0.1:1\"");
    let wisp = Wisp::start(&["-f", &other.manifest()]);
    let (status, body) = get(&wisp.url(&open)).await;
    assert_eq!(status, 500, "{body}");
    let spin_says = format!("address postgres://127.0.0.1:{} is not permitted", pg.port);
    assert!(body.contains(&spin_says), "{body}");
}
