//! Outbound MQTT (`fermyon:spin/mqtt@2.0.0`) from a real spin-sdk guest to a real
//! Mosquitto: every QoS reaches a subscriber, credentials are passed on, and ungranted
//! brokers are refused before connecting.

use crate::harness::*;

fn mqtt_app(allowed: &str) -> AppDir {
    AppDir::new(&format!(
        "spin_manifest_version = 2\n[application]\nname = \"mqtt-out\"\n\
         [[trigger.http]]\nroute = \"/...\"\ncomponent = \"app\"\n\
         [component.app]\nsource = {}\nallowed_outbound_hosts = [{allowed}]\n",
        toml_path(&guests().spin_app)
    ))
}

#[tokio::test]
async fn every_qos_reaches_a_subscriber() {
    let broker = Mosquitto::start();
    let (mut sub, mut lines) = broker.subscribe("wisp/news");
    let app = mqtt_app(&format!("\"mqtt://127.0.0.1:{}\"", broker.port));
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    let (user, pass) = Mosquitto::USER;
    for qos in ["0", "1", "2"] {
        let url = wisp.url(&format!(
            "/?op=mqtt-publish&addr=mqtt://127.0.0.1:{}&topic=wisp/news&value=qos-{qos}\
             &qos={qos}&user={user}&pass={pass}",
            broker.port
        ));
        assert_eq!(get(&url).await, (200, "published".into()), "qos {qos}");
        let got = crate::servers::next_message(&mut lines);
        assert_eq!(got.as_deref(), Some(format!("qos-{qos}").as_str()));
    }
    let _ = sub.kill();
    let _ = sub.wait();

    // Wrong credentials: the broker refuses the session, and the guest hears so.
    let url = wisp.url(&format!(
        "/?op=mqtt-publish&addr=mqtt://127.0.0.1:{}&topic=t&value=v&user={user}&pass=wrong",
        broker.port
    ));
    let (status, body) = get(&url).await;
    assert_eq!(status, 500);
    assert!(body.contains("ConnectionFailed"), "{body}");
}

#[tokio::test]
async fn ungranted_brokers_are_refused_as_spin_refuses_them() {
    let broker = Mosquitto::start();
    let app = mqtt_app("\"mqtt://broker.example.com\"");
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    for addr in [
        format!("mqtt://127.0.0.1:{}", broker.port),
        format!("redis://127.0.0.1:{}", broker.port),
        "nonsense".to_owned(),
    ] {
        let url = wisp.url(&format!("/?op=mqtt-publish&addr={addr}&topic=t&value=v"));
        let (status, body) = get(&url).await;
        assert_eq!(status, 500, "{addr}: {body}");
        let spin_says = format!("ConnectionFailed(\"address {addr} is not permitted\")");
        assert!(body.contains(&spin_says), "{addr}: {body}");
    }
}
