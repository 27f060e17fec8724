//! A `wasi:cli` command component: the wrong world for the HTTP trigger.

fn main() {
    println!("I am a command, not an HTTP handler");
}
