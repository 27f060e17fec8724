//! An HTTP component that imports `wisp:test/hog` (satisfied by composing it with
//! `memory-hog`): `?hold=N&own=M` asks the hog to hold N MiB in its memory, then holds M
//! MiB in this component's own memory, and answers `held N own M`.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../memory-hog/wit",
        world: "hog-user",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
    });
}

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

fn number(query: &str, name: &str) -> u32 {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

#[http_component]
fn handle(req: Request) -> Response {
    let query = req.query().to_owned();
    let held = bindings::wisp::test::hog::hold(number(&query, "hold"));
    let own: Vec<Vec<u8>> = (0..number(&query, "own")).map(|_| vec![1u8; 1 << 20]).collect();
    std::hint::black_box(&own);
    Response::new(200, format!("held {held} own {}", own.len()))
}
