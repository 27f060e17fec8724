//! An MQTT trigger guest: each message is written to the default key-value store as
//! `mqtt:<topic>:<message>`; `fail` returns an error, `trap` traps.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../../wit/deps/spin-mqtt-trigger-3.0.0",
        world: "spin-mqtt",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::spin::mqtt_trigger::spin_mqtt_types::{Error, Metadata};
use spin_sdk::key_value::Store;

struct Mqtt;

impl bindings::Guest for Mqtt {
    async fn handle_message(message: Vec<u8>, metadata: Metadata) -> Result<(), Error> {
        let text = String::from_utf8_lossy(&message).into_owned();
        match text.as_str() {
            "trap" => panic!("asked to trap"),
            "fail" => return Err(Error::Other("asked to fail".into())),
            _ => {}
        }
        let store = Store::open_default()
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        store
            .set(format!("mqtt:{}:{text}", metadata.topic), text.as_bytes())
            .await
            .map_err(|e| Error::Other(e.to_string()))
    }
}

bindings::export!(Mqtt with_types_in bindings);
