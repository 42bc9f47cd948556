//! hub-bench: the load generator for realtime-hub and the servers it is compared with.
//!
//! It speaks the Django Channels tutorial's chat protocol (`/ws/chat/{room}/`, `{"message"}`
//! in, `{"message", "user", …}` out to every member of the room), which every peer in
//! `scripts/bench.sh` serves, realtime-hub's guitar dialect for the practice-pair workload, and
//! its broadcast dialect (published over the socket or through Redis) for fan-out, and its
//! messages dialect (REST in, receipts over the socket) for direct messages.
//! Every measured message carries its send time; receivers find it by a byte search, not a JSON
//! parse, in frames read by a lean client that parses whole socket reads in place, so the
//! generator's one core is not what is measured (its own CPU is reported beside the server's).
//! Results: a table and then one JSON line, on stdout.
//!
//! # Layout
//! - `client`: WebSocket upgrade, frame reading and masked writing.
//! - `stamp`: the send-time marker in every measured message and how it is found.
//! - `fanout`, `idle`, `pairs`, `messages`: the workloads.
//! - `report`, `procfs`: latencies, rates and the CPU and memory of both processes.

mod client;
mod fanout;
mod idle;
mod messages;
mod pairs;
mod procfs;
mod report;
mod stamp;

use clap::{Parser, Subcommand};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "hub-bench",
    about = "Load generator for realtime-hub and its peers (chat protocol)"
)]
struct Cli {
    /// Base URL of the server, e.g. ws://127.0.0.1:8000. The fan-out workload takes several
    /// (repeated or comma-separated): nodes of one cluster, over which it spreads its
    /// subscribers and publishers round-robin; the other workloads take one.
    #[arg(
        long,
        default_value = "ws://127.0.0.1:8000",
        global = true,
        value_delimiter = ','
    )]
    url: Vec<String>,
    /// The server's PID, for its CPU and memory from /proc; several (repeated or
    /// comma-separated) are summed, one per node.
    #[arg(long, global = true, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Name of the server in the report.
    #[arg(long, default_value = "server", global = true)]
    peer: String,
    /// The workload to run.
    #[command(subcommand)]
    workload: Workload,
}

/// The workloads.
#[derive(Debug, Subcommand)]
enum Workload {
    /// N subscribers in R rooms, P publishers: M messages as fast as a window allows, or a
    /// fixed rate for a duration.
    Fanout(fanout::Args),
    /// N idle connections: the server's resident memory per connection.
    Idle(idle::Args),
    /// Many two-device rooms: one device sends at a rate, the other measures latency.
    Pairs(pairs::Args),
    /// Pairs of users of the messages dialect: messages over REST, receipts over the socket.
    Messages(messages::Args),
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let cli = Cli::parse();
    let urls: Vec<&str> = cli.url.iter().map(|u| u.trim_end_matches('/')).collect();
    let pids = &cli.server_pid;
    let one = || match urls.as_slice() {
        [url] => Ok(*url),
        _ => Err("this workload takes one --url (only fanout spreads over nodes)".to_string()),
    };
    let result = match cli.workload {
        Workload::Fanout(args) => fanout::run(&urls, &cli.peer, pids, args).await,
        Workload::Idle(args) => match one() {
            Ok(url) => idle::run(url, &cli.peer, pids, args).await,
            Err(e) => Err(e),
        },
        Workload::Pairs(args) => match one() {
            Ok(url) => pairs::run(url, &cli.peer, pids, args).await,
            Err(e) => Err(e),
        },
        Workload::Messages(args) => match one() {
            Ok(url) => messages::run(url, &cli.peer, pids, args).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(report) => report.print(),
        Err(e) => {
            eprintln!("hub-bench: {e}");
            std::process::exit(1);
        }
    }
}
