//! Exports `wisp:test/hog`: holds memory in this component's own linear memory. Composed
//! with `memory-front`, it makes one instance with two memories.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "wit",
        world: "hog-provider",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
    });
}

use std::sync::Mutex;

/// What this instance holds, kept between calls.
static HELD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Hog;

impl bindings::exports::wisp::test::hog::Guest for Hog {
    fn hold(mib: u32) -> u32 {
        let mut held = HELD.lock().unwrap();
        for _ in 0..mib {
            // Touched, so the pages are really in use.
            held.push(vec![1u8; 1 << 20]);
        }
        held.len() as u32
    }
}

bindings::export!(Hog with_types_in bindings);
