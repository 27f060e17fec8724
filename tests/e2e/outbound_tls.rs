//! Redis (`rediss://`), MQTT (`mqtts://`), MySQL (`?require_ssl=true`) and PostgreSQL
//! (`sslmode=require`) over TLS from a real spin-sdk guest to real servers given a
//! throwaway CA: the server is verified against a `[[client_tls]]` entry's CA roots (and
//! refused without them), and the entry's client certificate is presented where the
//! server demands one.

use crate::harness::*;
use crate::servers::TestCa;
use crate::upstream::encode;

fn spin_app(allowed: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"tls-out\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(&guests().spin_app)
    ))
}

/// A `[[client_tls]]` entry for component `app` and `host`, trusting the test CA, and
/// with `identity` presenting its client certificate.
fn client_tls(host: &str, identity: bool) -> String {
    let mut entry = format!(
        "[[client_tls]]\ncomponent_ids = [\"app\"]\nhosts = [\"{host}\"]\nca_roots_file = \"ca.pem\"\n"
    );
    if identity {
        entry.push_str(
            "client_cert_file = \"client.pem\"\nclient_private_key_file = \"client.key\"\n",
        );
    }
    entry
}

#[tokio::test]
async fn rediss_verifies_the_server_and_presents_the_client_certificate() {
    let ca = TestCa::new();
    let redis = Redis::start_tls(&ca);
    let host = format!("localhost:{}", redis.port);
    let app = spin_app(&format!("\"rediss://{host}\""));
    ca.write_to(app.path());
    let set_get = format!("/?op=redis-set-get&addr=rediss://{host}&key=k&value=over-tls");

    for (config, why) in [
        (None, "the test CA is not trusted"),
        (
            Some(client_tls(&host, false)),
            "the server demands a client certificate",
        ),
    ] {
        let wisp = start_app(&app, config.as_deref());
        let (status, body) = get(&wisp.url(&set_get)).await;
        assert_eq!(status, 500, "{why}: {body}");
    }
    let wisp = start_app(&app, Some(&client_tls(&host, true)));
    assert_eq!(get(&wisp.url(&set_get)).await, (200, "over-tls".into()));
}

#[tokio::test]
async fn mqtts_verifies_the_broker_and_presents_the_client_certificate() {
    let ca = TestCa::new();
    let (broker, tls_port) = Mosquitto::start_tls(&ca);
    let host = format!("localhost:{tls_port}");
    let app = spin_app(&format!("\"mqtts://{host}\""));
    ca.write_to(app.path());
    let (user, pass) = Mosquitto::USER;
    let publish = format!(
        "/?op=mqtt-publish&addr=mqtts://{host}&topic=wisp/tls&value=secret-news&qos=1\
         &user={user}&pass={pass}"
    );

    for config in [None, Some(client_tls(&host, false))] {
        let wisp = start_app(&app, config.as_deref());
        let (status, body) = get(&wisp.url(&publish)).await;
        assert_eq!(status, 500, "{config:?}: {body}");
        assert!(body.contains("ConnectionFailed"), "{body}");
    }
    // The subscriber listens on the broker's plain listener.
    let (mut sub, mut lines) = broker.subscribe("wisp/tls");
    let wisp = start_app(&app, Some(&client_tls(&host, true)));
    assert_eq!(get(&wisp.url(&publish)).await, (200, "published".into()));
    let got = crate::servers::next_message(&mut lines);
    let _ = sub.kill();
    let _ = sub.wait();
    assert_eq!(got.as_deref(), Some("secret-news"));
}

#[tokio::test]
async fn mysql_with_require_ssl_verifies_the_server() {
    let ca = TestCa::new();
    let db = MariaDb::start_tls(&ca);
    let host = format!("localhost:{}", db.port);
    let app = spin_app(&format!("\"mysql://{host}\""));
    ca.write_to(app.path());
    let open = |query: &str| {
        let addr = format!("mysql://root@{host}/wisp{query}");
        format!("/?op=mysql-open&addr={}", encode(&addr))
    };

    // TLS is the URL's to ask for; asked, the server's certificate is checked, and the
    // test CA is not trusted yet.
    let wisp = start_app(&app, None);
    let (status, body) = get(&wisp.url(&open("?require_ssl=true"))).await;
    assert_eq!(status, 500, "{body}");
    drop(wisp);

    let wisp = start_app(&app, Some(&client_tls(&host, false)));
    assert_eq!(
        get(&wisp.url(&open("?require_ssl=true"))).await,
        (200, "opened".into())
    );
}

#[tokio::test]
async fn postgres_verifies_the_server_and_presents_the_client_certificate() {
    let ca = TestCa::new();
    let pg = Postgres::start_mutual_tls(&ca);
    let host = format!("localhost:{}", pg.port);
    let app = spin_app(&format!("\"postgres://{host}\""));
    ca.write_to(app.path());
    let addr = format!("postgres://postgres@{host}/postgres?sslmode=require");
    let open = format!("/?op=pg-open&addr={}", encode(&addr));

    for (config, why) in [
        (None, "the test CA is not trusted"),
        (
            Some(client_tls(&host, false)),
            "the server demands a client certificate",
        ),
    ] {
        let wisp = start_app(&app, config.as_deref());
        let (status, body) = get(&wisp.url(&open)).await;
        assert_eq!(status, 500, "{why}: {body}");
        assert!(body.contains("ConnectionFailed"), "{why}: {body}");
    }
    let wisp = start_app(&app, Some(&client_tls(&host, true)));
    assert_eq!(get(&wisp.url(&open)).await, (200, "opened".into()));
}
