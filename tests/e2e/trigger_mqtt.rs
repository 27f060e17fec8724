//! `[[trigger.mqtt]]` against a real Mosquitto broker: QoS 0 and 1 messages run the
//! component; a QoS 1 message whose handler failed is not acknowledged, so the broker
//! delivers it again to the trigger's next session; the trigger outlives a broker
//! restart; an unreachable broker stops `wisp up`.

use crate::harness::{AppDir, Wisp, free_port, guests, toml_path, up_fails};
use crate::servers::{Mosquitto, TestCa};
use crate::trigger_redis::{store_reader, wait_for_keys};
use std::time::{Duration, Instant};

/// An app with an HTTP route reading the default store (`web`) and the MQTT guest on
/// `things/#` at QoS 0 and `orders/#` at QoS 1, credentials from variables.
fn mqtt_app(port: u16) -> AppDir {
    mqtt_app_with(port, &guests().mqtt_sub)
}

/// [`mqtt_app`] with `guest` as the MQTT component.
fn mqtt_app_with(port: u16, guest: &std::path::Path) -> AppDir {
    mqtt_app_at(&format!("mqtt://127.0.0.1:{port}"), guest)
}

/// [`mqtt_app`] with the broker at `address` and `guest` as the MQTT component.
fn mqtt_app_at(address: &str, guest: &std::path::Path) -> AppDir {
    AppDir::new(&format!(
        r#"spin_manifest_version = 2
[application]
name = "mqtt-events"
[application.trigger.mqtt]
address = "{address}"
username = "{{{{ mqtt_user }}}}"
password = "{{{{ mqtt_password }}}}"
keep_alive_interval = 30
[variables]
mqtt_user = {{ default = "{user}" }}
mqtt_password = {{ default = "{password}", secret = true }}

[[trigger.mqtt]]
topic = "things/#"
qos = 0
component = "sub"
[[trigger.mqtt]]
topic = "orders/#"
qos = "1"
component = "sub"

[component.sub]
source = {sub}
key_value_stores = ["default"]
{web}"#,
        user = Mosquitto::USER.0,
        password = Mosquitto::USER.1,
        web = store_reader(),
        sub = toml_path(guest),
    ))
}

#[tokio::test]
async fn qos_0_and_qos_1_messages_run_the_component_with_their_topic() {
    let broker = Mosquitto::start();
    let app = mqtt_app(broker.port);
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    assert!(
        wisp.stdout_text()
            .contains("MQTT: mqtt-trigger-2: topic `orders/#` (QoS 1)"),
        "{}",
        wisp.stdout_text()
    );
    broker.publish("things/lamp", "on", 0);
    broker.publish("orders/42", "paid", 1);
    let keys = wait_for_keys(&wisp, &["mqtt:things/lamp:on", "mqtt:orders/42:paid"]).await;
    assert_eq!(keys, ["mqtt:orders/42:paid", "mqtt:things/lamp:on"]);
}

#[tokio::test]
async fn a_failed_qos_1_message_is_not_acknowledged_and_comes_back() {
    let broker = Mosquitto::start();
    let app = mqtt_app(broker.port);
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    broker.publish("orders/1", "fail", 1);
    let stderr = wisp.wait_for_stderr("not acknowledged");
    assert!(
        stderr.contains("handler returned an error (not acknowledged)"),
        "{stderr}"
    );
    drop(wisp);
    // The trigger's next session resumes the persistent one: the broker delivers the
    // unacknowledged message again.
    let again = Wisp::start(&["-f", &app.manifest()]);
    let stderr = again.wait_for_stderr("not acknowledged");
    assert!(
        stderr.contains("handler returned an error (not acknowledged)"),
        "redelivered: {stderr}"
    );
}

#[tokio::test]
async fn the_trigger_reconnects_after_the_broker_restarts() {
    let mut broker = Mosquitto::start();
    let app = mqtt_app(broker.port);
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    broker.publish("things/a", "before", 0);
    wait_for_keys(&wisp, &["mqtt:things/a:before"]).await;

    broker.stop();
    let stderr = wisp.wait_for_stderr("lost the broker");
    assert!(stderr.contains("lost the broker"), "{stderr}");
    assert_eq!(
        crate::trigger_redis::kv_keys(&wisp).await,
        ["mqtt:things/a:before"],
        "HTTP keeps serving"
    );
    broker.start_again();
    // Both triggers resubscribe; until then a message could be missed, so wait.
    let deadline = Instant::now() + Duration::from_secs(20);
    while wisp
        .stderr_text()
        .matches("reconnected and resubscribed")
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "{}", wisp.stderr_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The SUBSCRIBE is sent right after CONNACK; give the broker a moment to apply it.
    std::thread::sleep(Duration::from_millis(300));
    broker.publish("things/a", "after", 0);
    let keys = wait_for_keys(&wisp, &["mqtt:things/a:after"]).await;
    assert!(keys.contains(&"mqtt:things/a:after".to_owned()), "{keys:?}");
}

#[tokio::test]
async fn a_trap_fails_its_message_and_the_trigger_goes_on() {
    let broker = Mosquitto::start();
    let app = mqtt_app(broker.port);
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    broker.publish("things/x", "trap", 0);
    broker.publish("things/x", "next", 0);
    let keys = wait_for_keys(&wisp, &["mqtt:things/x:next"]).await;
    assert_eq!(keys, ["mqtt:things/x:next"]);
    let stderr = wisp.wait_for_stderr("guest failed");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("guest failed") && l.contains("mqtt-trigger-1")),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_broker_at_startup_is_one_clear_error() {
    let app = mqtt_app(free_port());
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("mqtt trigger `mqtt-trigger-1`: cannot subscribe to \"things/#\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_guest_of_the_earlier_unversioned_interface_runs_too() {
    let broker = Mosquitto::start();
    let app = mqtt_app_with(broker.port, &guests().mqtt_sub_v2);
    let wisp = Wisp::start(&["-f", &app.manifest()]);
    broker.publish("orders/7", "shipped", 1);
    let keys = wait_for_keys(&wisp, &["mqtt2:orders/7:shipped"]).await;
    assert_eq!(keys, ["mqtt2:orders/7:shipped"]);
}

#[test]
fn a_component_without_an_mqtt_handler_is_refused() {
    let app = mqtt_app_with(free_port(), &guests().redis_sub);
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("component `sub` does not export `spin:mqtt-trigger/spin-mqtt@3.0.0`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_tls_broker_is_verified_with_the_components_client_tls_settings() {
    let ca = TestCa::new();
    let (broker, tls_port) = Mosquitto::start_tls(&ca);
    let host = format!("localhost:{tls_port}");
    let app = mqtt_app_at(&format!("mqtts://{host}"), &guests().mqtt_sub);
    ca.write_to(app.path());
    // The test CA is not trusted by default: the broker's certificate is refused.
    let err = up_fails(&["-f", &app.manifest()]);
    assert!(
        err.contains("mqtt trigger `mqtt-trigger-1`: cannot subscribe"),
        "{err}"
    );
    let runtime_config = app.write_runtime_config(&format!(
        "[[client_tls]]\ncomponent_ids = [\"sub\"]\nhosts = [\"{host}\"]\n\
         ca_roots_file = \"ca.pem\"\nclient_cert_file = \"client.pem\"\n\
         client_private_key_file = \"client.key\"\n"
    ));
    let wisp = Wisp::start(&[
        "-f",
        &app.manifest(),
        "--runtime-config-file",
        &runtime_config,
    ]);
    // Published on the broker's plain listener, received over TLS.
    broker.publish("orders/9", "over-tls", 1);
    let keys = wait_for_keys(&wisp, &["mqtt:orders/9:over-tls"]).await;
    assert_eq!(keys, ["mqtt:orders/9:over-tls"]);
}
