//! A `wasi:cli` command component: the wrong world for the HTTP trigger, and the guest
//! of the command trigger's tests. It prints its argv and `GREETING`, then does what its
//! first argument says: `exit N`, `trap`, `loop`, or nothing.

fn main() {
    println!("I am a command, not an HTTP handler");
    let args: Vec<String> = std::env::args().collect();
    println!("args: {}", args.join(" "));
    if let Ok(greeting) = std::env::var("GREETING") {
        println!("greeting: {greeting}");
    }
    match args.get(1).map(String::as_str) {
        Some("exit") => {
            let status = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
            std::process::exit(status);
        }
        Some("trap") => panic!("asked to trap"),
        #[allow(clippy::empty_loop, reason = "the test wants a guest that never ends")]
        Some("loop") => loop {},
        _ => {}
    }
}
