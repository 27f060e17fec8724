//! A `[[trigger.command]]` guest: a plain Rust program built for `wasm32-wasip2`. wisp
//! runs its `main` once, with the arguments given after `--` on `wisp up`, and exits
//! with its status.

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        eprintln!("usage: wisp up -f examples/hello-command-rust -- NAME...");
        std::process::exit(1);
    }
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".into());
    for name in names {
        println!("{greeting}, {name}!");
    }
}
