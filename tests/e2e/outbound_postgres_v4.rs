//! `spin:postgres@4.x` against a real PostgreSQL: a spin-sdk 7 guest (4.2.0, `async`
//! calls, rows streamed) writes and reads every version 4 type and sees the server's
//! structured errors; a spin-sdk 5 guest (4.0.0, blocking calls) links against the same
//! definitions; TLS verifies the server against the CA root the guest supplies.

use crate::harness::*;
use crate::upstream::encode;
use crate::wasi_p3::p3_app;

#[tokio::test]
async fn spin_sdk_7_round_trips_every_version_4_type() {
    let pg = Postgres::start();
    let app = p3_app(&format!("\"postgres://127.0.0.1:{}\"", pg.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url(&format!("/p3/?op=pg4-types&addr={}", pg.url()))).await;
    assert_eq!(status, 200, "{body}");
    // Discrete ranges come back normalised ((5, 7] is [6, 8)), the empty range as
    // [0, 0), jsonb in PostgreSQL's canonical form, decimals with their scale, and a
    // type no version carries (point) as its 16 bytes.
    assert_eq!(
        body,
        "inserted=1 rows=1 | \
         DbValue::Uuid(\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\") \
         jsonb({\"a\": [1, 2], \"b\": 1}) \
         DbValue::Decimal(\"12345.678900\") \
         DbValue::RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((10, RangeBoundKind::Exclusive)))) \
         DbValue::RangeInt64((Some((6, RangeBoundKind::Inclusive)), Some((8, RangeBoundKind::Exclusive)))) \
         DbValue::RangeDecimal((Some((\"-1.5\", RangeBoundKind::Inclusive)), None)) \
         DbValue::ArrayInt32([Some(1), None, Some(-3)]) \
         DbValue::ArrayInt64([Some(9223372036854775807)]) \
         DbValue::ArrayDecimal([Some(\"0.1\"), None]) \
         DbValue::ArrayStr([Some(\"héllo\"), None, Some(\"\")]) \
         DbValue::Interval(Interval { micros: 1500000, days: 2, months: 14 }) \
         DbValue::Int64(1700000000) \
         DbValue::RangeInt32((Some((0, RangeBoundKind::Inclusive)), Some((0, RangeBoundKind::Exclusive)))) \
         DbValue::DbNull \
         DbValue::Boolean(true) \
         unsupported(16 bytes) | \
         u:DbDataType::Uuid,j:DbDataType::Jsonb,d:DbDataType::Decimal,\
         r4:DbDataType::RangeInt32,r8:DbDataType::RangeInt64,rd:DbDataType::RangeDecimal,\
         a4:DbDataType::ArrayInt32,a8:DbDataType::ArrayInt64,ad:DbDataType::ArrayDecimal,\
         at:DbDataType::ArrayStr,iv:DbDataType::Interval,ts:DbDataType::Int64,\
         e:DbDataType::RangeInt32,n:DbDataType::Decimal,empty:DbDataType::Boolean,\
         p:DbDataType::Other(\"point\")"
    );
}

#[tokio::test]
async fn server_errors_arrive_structured_and_bad_parameters_are_refused() {
    let pg = Postgres::start();
    let app = p3_app(&format!("\"postgres://127.0.0.1:{}\"", pg.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url(&format!("/p3/?op=pg4-errors&addr={}", pg.url()))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "code=23505 severity=ERROR detail=Some(\"Key (id)=(1) already exists.\") \
         constraint=Some((\"constraint\", \"pg4e_pkey\")) \
         message=duplicate key value violates unique constraint \"pg4e_pkey\"\n\
         code=42601 text=syntax error at or near \"SELEC\" (42601)\n\
         bad-parameter: `nope` is not a UUID: invalid character: found `n` at 0"
    );
}

#[tokio::test]
async fn spin_sdk_5_blocking_pg4_calls_link_against_4_2_0() {
    let pg = Postgres::start();
    let app = AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"pg4-sync\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\nallowed_outbound_hosts = [\"postgres://127.0.0.1:{}\"]\n",
        toml_path(&guests().spin_app),
        pg.port
    ));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url(&format!("/?op=pg4-sync&addr={}", pg.url()))).await;
    assert_eq!(status, 200, "{body}");
    // The decimal was computed by the server: the parameter really arrived as numeric.
    assert_eq!(
        body,
        "[DbValue::Uuid(\"123e4567-e89b-12d3-a456-426614174000\"), DbValue::Decimal(\"0.50\")] \
         [Column { name: \"u\", data-type: DbDataType::Uuid }, \
         Column { name: \"d\", data-type: DbDataType::Decimal }]"
    );
}

#[tokio::test]
async fn tls_verifies_the_server_against_the_guests_ca_root() {
    let ca = TestCa::new();
    let pg = Postgres::start_tls(&ca);
    let app = p3_app(&format!("\"postgres://127.0.0.1:{}\"", pg.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let client = reqwest::Client::new();
    let tls = |mode: &str, ca_pem: &str| {
        let addr = format!("{}?sslmode={mode}", pg.url());
        client
            .post(wisp.url(&format!("/p3/?op=pg4-tls&addr={}", encode(&addr))))
            .body(ca_pem.to_owned())
            .send()
    };
    let answer = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    };

    // Trusting the test CA, the connection is encrypted and verified.
    let got = answer(tls("require", &ca.ca_pem).await.unwrap()).await;
    assert_eq!(got, (200, "ssl=DbValue::Boolean(true)".into()));
    // Without it the server's certificate is from an unknown issuer: no connection.
    let (status, body) = answer(tls("require", "").await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("ConnectionFailed"), "{body}");
    // `sslmode=disable` is honoured.
    let got = answer(tls("disable", "").await.unwrap()).await;
    assert_eq!(got, (200, "ssl=DbValue::Boolean(false)".into()));
    // A CA root that is not a certificate is a bad parameter, before any connecting.
    let (status, body) = answer(tls("require", "not a certificate").await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("BadParameter"), "{body}");
}
