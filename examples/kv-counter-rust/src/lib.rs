//! A page-view counter in the default key-value store, written with the Spin SDK exactly
//! as it would be for Spin: `GET` reads it, `POST` adds one, `DELETE` resets it.

use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
    let store = Store::open_default()?;
    let current: u64 = match store.get("count")? {
        Some(bytes) => String::from_utf8(bytes)?.parse()?,
        None => 0,
    };
    // Read-modify-write is fine for a demo; for exact counts under concurrency use
    // `wasi:keyvalue/atomics` `increment`, which wisp serves too.
    let count = match req.method() {
        Method::Post => {
            let next = current + 1;
            store.set("count", next.to_string().as_bytes())?;
            next
        }
        Method::Delete => {
            store.delete("count")?;
            0
        }
        _ => current,
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(format!("{count}\n"))
        .build())
}
