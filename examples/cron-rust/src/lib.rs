//! A `[[trigger.cron]]` component: wisp calls `handle-cron-event` at each time of the
//! trigger's schedule, with that time as Unix seconds.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "wit",
        world: "spin-cron",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error, Metadata};

struct Tick;

impl bindings::Guest for Tick {
    async fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        println!("tick at {}", metadata.timestamp);
        Ok(())
    }
}

bindings::export!(Tick with_types_in bindings);
