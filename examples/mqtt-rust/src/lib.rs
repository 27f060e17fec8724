//! A `[[trigger.mqtt]]` component: wisp calls `handle-message` for every message on
//! the trigger's topic filter; at QoS 1 the message is acknowledged once this returns
//! `Ok`.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "wit",
        world: "spin-mqtt",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::spin::mqtt_trigger::spin_mqtt_types::{Error, Metadata};

struct Listener;

impl bindings::Guest for Listener {
    async fn handle_message(message: Vec<u8>, metadata: Metadata) -> Result<(), Error> {
        let text = String::from_utf8(message).map_err(|e| Error::Other(e.to_string()))?;
        println!("{}: {text}", metadata.topic);
        Ok(())
    }
}

bindings::export!(Listener with_types_in bindings);
