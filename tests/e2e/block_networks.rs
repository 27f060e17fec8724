//! `[outbound_networking] block_networks` in the runtime config: a network it names is
//! refused to every client — HTTP, sockets, Redis, PostgreSQL, MySQL, MQTT — even where a
//! component's `allowed_outbound_hosts` grants it, and the error names the rule.

use crate::harness::*;
use crate::servers::{MariaDb, Mosquitto, Postgres, Redis};
use crate::upstream::{Upstream, encode};

const BLOCK_PRIVATE: &str = "[outbound_networking]\nblock_networks = [\"private\"]\n";
const RULE: &str = "block_networks` entry `private`";

/// One app granting every loopback service: the probe (HTTP and TCP) on `/probe`, the
/// spin-sdk guest (Redis, PostgreSQL, MySQL, MQTT) on `/app`.
fn loopback_app() -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"blocked\"\n\
         [[trigger.http]]\nroute = \"/probe/...\"\ncomponent = \"probe\"\n\
         [[trigger.http]]\nroute = \"/app/...\"\ncomponent = \"app\"\n\
         [component.probe]\nsource = {}\n\
         allowed_outbound_hosts = [\"http://127.0.0.1:*\", \"tcp://127.0.0.1:*\"]\n\
         [component.app]\nsource = {}\n\
         allowed_outbound_hosts = [\"redis://127.0.0.1:*\", \"postgres://127.0.0.1:*\", \
         \"mysql://127.0.0.1:*\", \"mqtt://127.0.0.1:*\"]\n",
        toml_path(&guests().probe),
        toml_path(&guests().spin_app)
    ))
}

/// Every outbound client of the app, as `(what, path)`.
struct Targets(Vec<(&'static str, String)>);

impl Targets {
    fn new(
        upstream: &Upstream,
        redis: &Redis,
        pg: &Postgres,
        my: &MariaDb,
        mq: &Mosquitto,
    ) -> Self {
        let (user, pass) = Mosquitto::USER;
        let http = format!("http://127.0.0.1:{}/", upstream.port);
        Self(vec![
            ("http", format!("/probe/?op=fetch&url={}", encode(&http))),
            (
                "tcp",
                format!("/probe/?op=tcp&addr=127.0.0.1:{}", upstream.port),
            ),
            ("redis", format!("/app/?op=redis-open&addr={}", redis.url())),
            ("postgres", format!("/app/?op=pg-open&addr={}", pg.url())),
            ("mysql", format!("/app/?op=mysql-open&addr={}", my.url())),
            (
                "mqtt",
                format!(
                    "/app/?op=mqtt-publish&addr=mqtt://127.0.0.1:{}&topic=t&value=v&user={user}&pass={pass}",
                    mq.port
                ),
            ),
        ])
    }
}

#[tokio::test]
async fn private_blocks_loopback_for_every_client_even_where_it_is_granted() {
    let upstream = Upstream::start();
    let (redis, pg, my, mq) = (
        Redis::start(),
        Postgres::start(),
        MariaDb::start(),
        Mosquitto::start(),
    );
    let targets = Targets::new(&upstream, &redis, &pg, &my, &mq);
    let app = loopback_app();

    // The grants alone reach every server.
    let open = start_app(&app, None);
    for (what, path) in &targets.0 {
        let (status, body) = get(&open.url(path)).await;
        assert_eq!(status, 200, "{what} without block_networks: {body}");
    }
    drop(open);

    let blocked = start_app(&app, Some(BLOCK_PRIVATE));
    let upstream_connections = upstream.connections();
    for (what, path) in &targets.0 {
        let (status, body) = get(&blocked.url(path)).await;
        assert_ne!(status, 200, "{what} reached a blocked network: {body}");
        match *what {
            "http" => assert!(body.contains("DestinationIpProhibited"), "{body}"),
            "tcp" => assert_eq!(status, 403, "{body}"),
            // Interfaces with an error text carry the rule to the guest.
            _ => assert!(body.contains(RULE), "{what}: {body}"),
        }
    }
    assert_eq!(
        upstream.connections(),
        upstream_connections,
        "a blocked request connected"
    );
    // The host's log names the rule for the interfaces whose errors carry no text.
    let log = blocked.wait_for_stderr("outbound tcp socket to 127.0.0.1");
    assert!(log.contains(RULE), "{log}");
    assert!(
        blocked
            .stderr_text()
            .contains("outbound HTTP refused: 127.0.0.1 is in a blocked network")
    );
}

#[test]
fn a_malformed_block_networks_entry_stops_the_load() {
    let app = loopback_app();
    let rc =
        app.write_runtime_config("[outbound_networking]\nblock_networks = [\"10.0.0.0/33\"]\n");
    let err = up_fails(&["-f", &app.manifest(), "--runtime-config-file", &rc]);
    assert!(
        err.contains("block_networks") && err.contains("`10.0.0.0/33`"),
        "{err}"
    );
    let rc = app.write_runtime_config("[outbound_networking]\nmax_total_connections = 10\n");
    let err = up_fails(&["-f", &app.manifest(), "--runtime-config-file", &rc]);
    assert!(err.contains("max_total_connections"), "{err}");
}
