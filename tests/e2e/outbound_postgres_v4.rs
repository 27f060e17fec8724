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
    assert_eq!(body, "TODO");
}

#[tokio::test]
async fn server_errors_arrive_structured_and_bad_parameters_are_refused() {
    let pg = Postgres::start();
    let app = p3_app(&format!("\"postgres://127.0.0.1:{}\"", pg.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (status, body) = get(&wisp.url(&format!("/p3/?op=pg4-errors&addr={}", pg.url()))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "TODO");
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
    assert_eq!(body, "TODO");
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
    assert_eq!(got, (200, "ssl=Boolean(true)".into()));
    // Without it the server's certificate is from an unknown issuer: no connection.
    let (status, body) = answer(tls("require", "").await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("ConnectionFailed"), "{body}");
    // `sslmode=disable` is honoured.
    let got = answer(tls("disable", "").await.unwrap()).await;
    assert_eq!(got, (200, "ssl=Boolean(false)".into()));
    // A CA root that is not a certificate is a bad parameter, before any connecting.
    let (status, body) = answer(tls("require", "not a certificate").await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("BadParameter"), "{body}");
}
