//! hub-bench: a load generator for realtime-hub and the servers it is compared with.
//!
//! It speaks the Django Channels tutorial's chat protocol (`/ws/chat/{room}/`, `{"message"}`
//! out, `{"message","user",…}` back to every member), which every peer in `scripts/bench.sh`
//! serves, and the guitar protocol for the practice-pair workload. Each message carries its
//! send time; receivers find it by a byte search (no JSON parsing) and record the latency.
//! Results: a human table on stderr and one JSON line on stdout.

mod fanout;
mod idle;
mod pairs;
mod report;
mod wire;

use clap::{Parser, Subcommand};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "hub-bench",
    about = "Load generator for realtime-hub and its peers"
)]
pub struct Cli {
    /// Base URL of the server, e.g. ws://127.0.0.1:8000.
    #[arg(long, default_value = "ws://127.0.0.1:8000", global = true)]
    url: String,
    /// The server's PID, for CPU and memory from /proc.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Name of the server in the report.
    #[arg(long, default_value = "server", global = true)]
    peer: String,
    /// The workload to run.
    #[command(subcommand)]
    workload: Workload,
}

/// The workloads.
#[derive(Debug, Subcommand)]
pub enum Workload {
    /// N subscribers in R rooms, P publishers: M messages as fast as a window allows, or a
    /// fixed rate for a duration.
    Fanout(fanout::Args),
    /// N idle connections: resident memory per connection.
    Idle(idle::Args),
    /// Many two-device rooms: one device sends at a rate, the other measures latency.
    Pairs(pairs::Args),
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.workload {
        Workload::Fanout(args) => fanout::run(&cli.url, &cli.peer, cli.server_pid, args).await,
        Workload::Idle(args) => idle::run(&cli.url, &cli.peer, cli.server_pid, args).await,
        Workload::Pairs(args) => pairs::run(&cli.url, &cli.peer, cli.server_pid, args).await,
    };
    match result {
        Ok(report) => report.print(),
        Err(e) => {
            eprintln!("hub-bench: {e}");
            std::process::exit(1);
        }
    }
}
