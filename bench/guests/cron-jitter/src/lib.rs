//! The cron benchmark's handler: prints how late it runs, in microseconds, against the
//! scheduled time it is given (`late_us=N`).

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../../wit/deps/spin-cron-2.0.0",
        world: "spin-cron",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error, Metadata};
use std::time::{SystemTime, UNIX_EPOCH};

struct Jitter;

impl bindings::Guest for Jitter {
    async fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| Error::Other(e.to_string()))?;
        let late = now.as_micros() as i128 - i128::from(metadata.timestamp) * 1_000_000;
        println!("late_us={late}");
        Ok(())
    }
}

bindings::export!(Jitter with_types_in bindings);
