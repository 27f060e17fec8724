//! A cron trigger guest: each event is written to the default key-value store as
//! `tick:<timestamp>`, and the variable `mode` can make it trap or run slow.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../../wit/deps/spin-cron-2.0.0",
        world: "spin-cron",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error, Metadata};
use spin_sdk::key_value::Store;

struct Cron;

impl bindings::Guest for Cron {
    async fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let mode = std::env::var("MODE").unwrap_or_default();
        if mode == "trap" {
            panic!("asked to trap");
        }
        let store = Store::open_default()
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        store
            .set(format!("tick:{}", metadata.timestamp), b"1")
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        if let Some(ms) = mode.strip_prefix("sleep:") {
            let ms: u64 = ms.parse().unwrap_or(0);
            spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        Ok(())
    }
}

bindings::export!(Cron with_types_in bindings);
