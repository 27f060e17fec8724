//! wisp-bench: the side-by-side benchmarks. `wisp-bench http` serves the same
//! hello-world under a native hyper server, `wisp up` and (when a `wasmtime` binary is
//! found) `wasmtime serve`, one after another on this machine, loads each with `wrk`
//! (server pinned to one CPU, wrk to the other), and prints a Markdown table of
//! requests/s, latency, peak memory and start-up time, each next to its ratio to native;
//! the same figures go to `bench/results/<date>.json`. `wisp-bench outbound` does the
//! same for outbound HTTP: a guest proxy under wisp against a native proxy, both in front
//! of the same native upstream (`bench/results/<date>-outbound.json`). `wisp-bench
//! events` measures the Redis trigger against a native subscriber and the cron
//! trigger's jitter (`bench/results/<date>-events.json`).

mod events;
mod http;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Side-by-side benchmarks of wisp and its baselines")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// HTTP hello-world: native hyper vs wisp vs `wasmtime serve`, under wrk.
    Http(http::HttpArgs),
    /// Outbound HTTP: a native hyper proxy vs a wisp guest proxy to the same upstream.
    Outbound(http::HttpArgs),
    /// Event triggers: Redis trigger events/s against a native subscriber, and cron jitter.
    Events(events::EventsArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Http(args) => http::run(args),
        Command::Outbound(args) => http::run_outbound(args),
        Command::Events(args) => events::run(args),
    }
}
