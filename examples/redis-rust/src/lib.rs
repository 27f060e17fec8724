//! A `[[trigger.redis]]` component: wisp runs it for every message published on the
//! `messages` channel. It prints the message and keeps it as `last-message` in the
//! default key-value store.

use spin_sdk::key_value::Store;
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let text = String::from_utf8(message)?;
    println!("got a message: {text}");
    Store::open_default()?.set("last-message", text.as_bytes())?;
    Ok(())
}
