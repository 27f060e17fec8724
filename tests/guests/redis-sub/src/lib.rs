//! A Redis trigger guest built with spin-sdk 5.2: each message is written to the
//! default key-value store as `redis:<message>`; a few messages ask for failures.

use spin_sdk::key_value::Store;
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&message).into_owned();
    match text.as_str() {
        "trap" => panic!("asked to trap"),
        "loop" => loop {
            std::hint::black_box(0);
        },
        "fail" => anyhow::bail!("asked to fail"),
        _ => {}
    }
    if let Some(ms) = text.strip_prefix("sleep:") {
        std::thread::sleep(std::time::Duration::from_millis(ms.parse()?));
    }
    Store::open_default()?.set(&format!("redis:{text}"), text.as_bytes())?;
    Ok(())
}
