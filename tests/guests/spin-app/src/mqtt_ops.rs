//! Outbound MQTT through `spin_sdk::mqtt` (`fermyon:spin/mqtt@2.0.0`).

use spin_sdk::http::Response;
use spin_sdk::mqtt::{Connection, Qos};

/// Runs `op` against the broker at `addr`; `None` when `op` is not an MQTT op.
pub fn run(op: &str, p: &dyn Fn(&str) -> Option<String>) -> Option<Response> {
    if op != "mqtt-publish" {
        return None;
    }
    let addr = p("addr").unwrap_or_default();
    let topic = p("topic").unwrap_or_default();
    let value = p("value").unwrap_or_default();
    let qos = match p("qos").as_deref() {
        Some("1") => Qos::AtLeastOnce,
        Some("2") => Qos::ExactlyOnce,
        _ => Qos::AtMostOnce,
    };
    let user = p("user").unwrap_or_default();
    let pass = p("pass").unwrap_or_default();
    let result = Connection::open(&addr, &user, &pass, 30)
        .and_then(|c| c.publish(&topic, &value.into_bytes(), qos));
    Some(match result {
        Ok(()) => Response::new(200, "published"),
        Err(e) => Response::new(500, format!("{e:?}")),
    })
}
