//! Outbound MySQL (`fermyon:spin/mysql@2.0.0`) from a real spin-sdk guest against a real
//! MariaDB started for the test: type round-trips, transactions on one connection,
//! server errors, and denial by `allowed_outbound_hosts`.

use crate::harness::*;

fn mysql_app(allowed: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"mysql-out\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(&guests().spin_app)
    ))
}

#[tokio::test]
async fn mysql_round_trips_types_and_keeps_transactions_on_one_connection() {
    let db = MariaDb::start();
    let app = mysql_app(&format!("\"mysql://127.0.0.1:{}\"", db.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let op = |op: &str| wisp.url(&format!("/?op={op}&addr={}", db.url()));

    let (status, body) = get(&op("mysql-types")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("same=true "), "{body}");
    assert!(
        body.ends_with(
            "types=i1:DbDataType::Int8,u1:DbDataType::Uint8,i2:DbDataType::Int16,\
             i4:DbDataType::Int32,i8:DbDataType::Int64,u8:DbDataType::Uint64,\
             f4:DbDataType::Floating32,f8:DbDataType::Floating64,t:DbDataType::Str,\
             b:DbDataType::Binary,bl:DbDataType::Binary,n:DbDataType::Int32"
        ),
        "{body}"
    );
    // Twice: a connection back from the pool carries no open transaction.
    for _ in 0..2 {
        assert_eq!(
            get(&op("mysql-rollback")).await,
            (200, "inside=1 after=0".into())
        );
    }
    let (status, body) = get(&op("mysql-bad-sql")).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("QueryFailed") && body.contains("syntax"),
        "{body}"
    );
}

#[tokio::test]
async fn ungranted_mysql_addresses_are_refused_before_connecting() {
    let db = MariaDb::start();
    let app = mysql_app("\"mysql://db.example.com\"");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    for addr in [
        db.url(),
        format!("postgres://127.0.0.1:{}/wisp", db.port),
        "garbage".to_owned(),
    ] {
        let (status, body) = get(&wisp.url(&format!("/?op=mysql-open&addr={addr}"))).await;
        assert_eq!(status, 500, "{addr}: {body}");
        let spin_says = format!("ConnectionFailed(\"address {addr} is not permitted\")");
        assert!(body.contains(&spin_says), "{addr}: {body}");
    }
}
