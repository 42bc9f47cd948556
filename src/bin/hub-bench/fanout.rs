//! Fan-out: subscribers in rooms, publishers sending stamped chat messages (as fast as a
//! window of unacknowledged messages allows, or at a fixed rate), every delivery timed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::report::{histogram, sample, Report};
use crate::wire::{chat_frame, connect, find_stamp, is_history, now_nanos, stamped, Source};

/// Fan-out options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rooms; subscribers and publishers are spread over them round-robin.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Subscriber connections (they only read).
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Publisher connections (at least one per room).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Messages in all, when no --rate is given.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Messages per second in all (with --duration) instead of as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of sending at --rate.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Bytes of message text.
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Messages a publisher may have sent but not yet seen echoed.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Seconds after which the run stops, whatever has arrived.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Socket path; `{room}` is replaced by the room name.
    #[arg(long, default_value = "/ws/chat/{room}/")]
    path_template: String,
    /// Connections opened at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
}

/// Counters shared by the readers.
#[derive(Default)]
struct Tally {
    delivered: AtomicU64,
    warm: AtomicU64,
    last_nanos: AtomicU64,
}

async fn subscriber(
    mut source: Source,
    tally: Arc<Tally>,
    mut stop: watch::Receiver<bool>,
) -> Histogram<u64> {
    let mut hist = histogram();
    loop {
        let msg = tokio::select! {
            m = source.next() => m,
            _ = stop.changed() => break,
        };
        let Some(Ok(msg)) = msg else { break };
        let Message::Text(text) = msg else { continue };
        let bytes = text.as_bytes();
        if is_history(bytes) {
            continue;
        }
        if let Some(sent) = find_stamp(bytes) {
            let now = now_nanos();
            let _ = hist.record(now.saturating_sub(sent) / 1000);
            tally.delivered.fetch_add(1, Relaxed);
            tally.last_nanos.fetch_max(now, Relaxed);
        } else if bytes.windows(2).any(|w| w == b"w:") {
            tally.warm.fetch_add(1, Relaxed);
        }
    }
    hist
}

/// A publisher's own echoes give window permits back.
async fn echoes(mut source: Source, permits: Arc<Semaphore>, mine: String) {
    while let Some(Ok(msg)) = source.next().await {
        if let Message::Text(text) = msg {
            if text.contains(mine.as_str()) {
                permits.add_permits(1);
            }
        }
    }
}

/// Runs the workload.
pub async fn run(url: &str, peer: &str, pid: Option<u32>, args: Args) -> Result<Report, String> {
    if args.publishers < args.rooms {
        return Err("need at least one publisher per room".into());
    }
    let room_url = |i: usize| {
        format!(
            "{url}{}",
            args.path_template.replace("{room}", &format!("bench-{i}"))
        )
    };
    let started = Instant::now();
    let subs = futures_util::stream::iter(0..args.subscribers)
        .map(|i| {
            let u = room_url(i % args.rooms);
            async move {
                connect(&u)
                    .await
                    .map(|(_, source)| (i % args.rooms, source))
            }
        })
        .buffer_unordered(args.connect_concurrency)
        .collect::<Vec<_>>()
        .await;
    // Refused subscribers are reported, not fatal: the rest are measured.
    let failed = subs.iter().filter(|s| s.is_err()).count();
    if let Some(Err(e)) = subs.iter().find(|s| s.is_err()) {
        eprintln!("hub-bench: {failed} subscriber connections failed, e.g. {e}");
    }
    let subs: Vec<(usize, Source)> = subs.into_iter().filter_map(Result::ok).collect();
    let connect_secs = started.elapsed().as_secs_f64();
    let mut subs_per_room = vec![0u64; args.rooms];
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut readers = Vec::new();
    for (room, source) in subs {
        subs_per_room[room] += 1;
        readers.push(tokio::spawn(subscriber(
            source,
            tally.clone(),
            stop_rx.clone(),
        )));
    }

    // Publishers: also members; their own echoes open the window.
    let mut pubs = Vec::new();
    let mut pubs_per_room = vec![0u64; args.rooms];
    for p in 0..args.publishers {
        let room = p % args.rooms;
        pubs_per_room[room] += 1;
        let (sink, source) = connect(&room_url(room)).await?;
        let permits = Arc::new(Semaphore::new(args.window));
        tokio::spawn(echoes(source, permits.clone(), format!(":p{p}:")));
        pubs.push((p, sink, permits));
    }
    // Warm-up: one unmeasured message per publisher, seen by every subscriber of its room,
    // proves every member has joined before measuring starts.
    let warm_expected: u64 = (0..args.rooms)
        .map(|r| subs_per_room[r] * pubs_per_room[r])
        .sum();
    for (p, sink, _) in &mut pubs {
        sink.send(Message::text(chat_frame(&format!("w:{p}"))))
            .await
            .map_err(|e| e.to_string())?;
    }
    let warm_deadline = Instant::now() + Duration::from_secs(30);
    while tally.warm.load(Relaxed) < warm_expected {
        if Instant::now() > warm_deadline {
            return Err(format!(
                "only {} of {warm_expected} warm-up deliveries arrived",
                tally.warm.load(Relaxed)
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let total = match args.rate {
        Some(rate) => (rate * args.duration).round() as u64,
        None => args.messages,
    };
    let per_pub = total / args.publishers as u64;
    let gap = args
        .rate
        .map(|rate| Duration::from_secs_f64(args.publishers as f64 / rate));
    let before = sample(pid);
    let first_send = now_nanos();
    let publish_start = Instant::now();
    let bound = Duration::from_secs_f64(args.timeout);
    let mut senders = Vec::new();
    for (p, mut sink, permits) in pubs {
        let payload = args.payload;
        senders.push(tokio::spawn(async move {
            let mut ticker = gap.map(tokio::time::interval);
            for seq in 0..per_pub {
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                let Ok(permit) = permits.acquire().await else {
                    break;
                };
                permit.forget();
                let mut text = stamped(0, 0).replacen(":0:", &format!(":p{p}:{seq}:"), 1);
                while text.len() < payload {
                    text.push('x');
                }
                if sink.send(Message::text(chat_frame(&text))).await.is_err() {
                    break;
                }
                if publish_start.elapsed() > bound {
                    break;
                }
            }
            sink
        }));
    }
    let mut sinks = Vec::new();
    for s in senders {
        sinks.push(s.await.map_err(|e| e.to_string())?);
    }
    let sent = per_pub * args.publishers as u64;
    let expected: u64 = (0..args.rooms)
        .map(|r| subs_per_room[r] * pubs_per_room[r] * per_pub)
        .sum();
    // Wait for the stragglers: until all arrived, nothing moved for 3 s, or the bound.
    let mut last = (tally.delivered.load(Relaxed), Instant::now());
    let mut timed_out = false;
    while tally.delivered.load(Relaxed) < expected {
        let now = tally.delivered.load(Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(3) {
            break;
        }
        if publish_start.elapsed() > bound {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let after = sample(pid);
    let elapsed = publish_start.elapsed();
    let _ = stop_tx.send(true);
    let mut hist = histogram();
    for r in readers {
        if let Ok(h) = r.await {
            hist.add(h).map_err(|e| e.to_string())?;
        }
    }
    drop(sinks);
    let delivered = tally.delivered.load(Relaxed);
    let span = (tally.last_nanos.load(Relaxed).saturating_sub(first_send)) as f64 / 1e9;
    let mut report = Report {
        workload: match args.rate {
            Some(rate) => format!(
                "fanout {} rooms x {} subs, {rate} msg/s for {} s",
                args.rooms, args.subscribers, args.duration
            ),
            None => format!(
                "fanout {} rooms x {} subs, {} msgs",
                args.rooms, args.subscribers, total
            ),
        },
        peer: peer.to_string(),
        connections: args.subscribers + args.publishers,
        connect_per_s: args.subscribers as f64 / connect_secs.max(1e-9),
        messages: sent,
        expected,
        deliveries: delivered,
        loss: if expected == 0 {
            0.0
        } else {
            1.0 - delivered as f64 / expected as f64
        },
        deliveries_per_s: if span > 0.0 {
            delivered as f64 / span
        } else {
            0.0
        },
        seconds: elapsed.as_secs_f64(),
        timed_out,
        failed_connections: failed,
        ..Report::default()
    };
    report.latencies(&hist);
    report.server(before, after, elapsed);
    Ok(report)
}
