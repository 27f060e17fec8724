//! A Redis trigger guest built with spin-sdk 7 (WASI 0.3): each message is written to
//! the default key-value store as `redis3:<message>`; `trap` traps.

use spin_sdk::key_value::Store;
use spin_sdk::redis_subscriber;

#[redis_subscriber]
async fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&message).into_owned();
    if text == "trap" {
        panic!("asked to trap");
    }
    let store = Store::open_default().await?;
    store.set(format!("redis3:{text}"), text.as_bytes()).await?;
    Ok(())
}
