//! Idle connections: how much resident memory each costs the server.

use std::time::Duration;

use futures_util::StreamExt;

use crate::report::{sample, Report};
use crate::wire::connect;

/// Idle options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Connections to hold open.
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// Rooms they are spread over.
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// Socket path; `{room}` is replaced by the room name.
    #[arg(long, default_value = "/ws/chat/{room}/")]
    path_template: String,
    /// Connections opened at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
}

/// Runs the workload.
pub async fn run(url: &str, peer: &str, pid: Option<u32>, args: Args) -> Result<Report, String> {
    let before = sample(pid);
    let started = std::time::Instant::now();
    let conns = futures_util::stream::iter(0..args.connections)
        .map(|i| {
            let u = format!(
                "{url}{}",
                args.path_template
                    .replace("{room}", &format!("idle-{}", i % args.rooms))
            );
            async move { connect(&u).await }
        })
        .buffer_unordered(args.connect_concurrency)
        .collect::<Vec<_>>()
        .await;
    // A server that refuses some connections is reported, not aborted.
    let failed = conns.iter().filter(|c| c.is_err()).count();
    if let Some(Err(e)) = conns.iter().find(|c| c.is_err()) {
        eprintln!("hub-bench: {failed} connections failed, e.g. {e}");
    }
    let conns: Vec<_> = conns.into_iter().filter_map(Result::ok).collect();
    let connect_secs = started.elapsed().as_secs_f64();
    // Let the server finish joins and settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = sample(pid);
    let n = conns.len();
    let report = Report {
        workload: format!("idle {n} connections"),
        peer: peer.to_string(),
        connections: n,
        connect_per_s: n as f64 / connect_secs.max(1e-9),
        server_rss_kib: after.rss_kib,
        rss_per_conn_kib: after.rss_kib.saturating_sub(before.rss_kib) as f64 / n.max(1) as f64,
        seconds: connect_secs,
        failed_connections: failed,
        ..Report::default()
    };
    drop(conns);
    Ok(report)
}
