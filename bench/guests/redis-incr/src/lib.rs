//! The Redis-trigger benchmark's handler: each message increments the counter named by
//! the `counter` variable on the server named by `redis_address` (the same work the
//! native subscriber does per message).

use spin_sdk::redis::Connection;
use spin_sdk::{redis_component, variables};

#[redis_component]
fn on_message(_message: Vec<u8>) -> anyhow::Result<()> {
    let connection = Connection::open(&variables::get("redis_address")?)?;
    connection.incr(&variables::get("counter")?)?;
    Ok(())
}
