//! Idle connections: how much resident memory each one costs the server.
//!
//! The server's RSS is read before the first connection and again once all are open and the
//! server has had two seconds to finish its joins; the difference over the number open is the
//! cost of one connection (its socket buffers, session state and room membership).

use std::time::Duration;

use crate::client::connect_all;
use crate::procfs;
use crate::report::{Clock, Report};

/// Idle options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Connections to hold open.
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// Rooms they are spread over.
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// Seconds to wait, once all are open, before reading the server's memory.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
    /// Socket path; `{room}` is replaced by the room name (`idle-<n>`).
    #[arg(long, default_value = "/ws/chat/{room}/")]
    path_template: String,
    /// Connections opened at once.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
}

/// Read buffer per idle connection: they receive nothing, so the generator keeps them small.
const IDLE_BUFFER: usize = 256;

/// Runs the workload.
pub async fn run(url: &str, peer: &str, pids: &[u32], args: Args) -> Result<Report, String> {
    let before = procfs::sample_all(pids);
    let clock = Clock::start(pids);
    let urls = (0..args.connections)
        .map(|i| {
            let room = format!("idle-{}", i % args.rooms.max(1));
            format!("{url}{}", args.path_template.replace("{room}", &room))
        })
        .collect();
    let opened = connect_all(
        urls,
        IDLE_BUFFER,
        args.connect_concurrency,
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let n = opened.conns.iter().flatten().count();
    let mut report = Report {
        workload: format!(
            "idle {} connections in {} rooms",
            args.connections, args.rooms
        ),
        peer: peer.to_string(),
        connections: args.connections,
        failed_connections: opened.failed,
        connect_per_s: n as f64 / opened.secs.max(1e-9),
        ..Report::default()
    };
    clock.stop(&mut report);
    report.rss_per_conn_kib =
        report.server_rss_kib.saturating_sub(before.rss_kib) as f64 / n.max(1) as f64;
    drop(opened);
    Ok(report)
}
