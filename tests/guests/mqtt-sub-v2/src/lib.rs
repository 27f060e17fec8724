//! An MQTT trigger guest of the earlier plugin's interface (WASI 0.2): each message is
//! written to the default key-value store as `mqtt2:<topic>:<message>`.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../../wit/spin-mqtt-trigger-unversioned",
        world: "spin-mqtt",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::spin::mqtt_trigger::spin_mqtt_types::{Error, Metadata};
use spin_sdk::key_value::Store;

struct Mqtt;

impl bindings::Guest for Mqtt {
    fn handle_message(message: Vec<u8>, metadata: Metadata) -> Result<(), Error> {
        let text = String::from_utf8_lossy(&message).into_owned();
        let store = Store::open_default().map_err(|e| Error::Other(e.to_string()))?;
        store
            .set(&format!("mqtt2:{}:{text}", metadata.topic), text.as_bytes())
            .map_err(|e| Error::Other(e.to_string()))
    }
}

bindings::export!(Mqtt with_types_in bindings);
