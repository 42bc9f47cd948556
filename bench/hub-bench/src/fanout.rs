//! Fan-out: subscribers in rooms, publishers sending stamped chat messages, every delivery timed.
//!
//! `--protocol broadcast` runs the same over realtime-hub's broadcast dialect (seeds/004): every
//! connection signs in with the `--token` naming the channel, publishers send `{"data": {…}}`,
//! or with `--redis-url` publish as the Laravel side does, through Redis `PUBLISH` (and still read
//! their echoes as members, which keeps the window).
//!
//! Two ways to send: as fast as a window of unechoed messages allows (each publisher is also a
//! member of its room, so its own echo tells it the server has taken a message: throughput
//! without an unbounded backlog), or open loop at a fixed total rate for a duration (latency,
//! as clients that do not wait for the server would see it). Every phase has a time bound; what
//! arrived before it is reported with the loss.
//!
//! Given several server URLs (the nodes of one cluster), subscribers and publishers are spread
//! over them round-robin within each room, so every room has members and a publisher on every
//! node; each delivery is then counted as local (publisher and subscriber on the same node) or
//! relayed (it crossed to another node), and both kinds are reported beside the totals.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{connect_all, Batch, Reader, SharedWriter, BIG_BUFFER, SMALL_BUFFER};
use crate::report::{Clock, Latencies, Report};
use crate::stamp::{self, find_warm, is_history, now_nanos, Shape};

/// Fan-out options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rooms; subscribers and publishers are spread over them round-robin.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Subscriber connections (they only read).
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Publisher connections (at least one per room and node; they also receive, as members).
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Messages in all, when no --rate is given.
    #[arg(long, default_value_t = 20_000)]
    messages: u64,
    /// Messages per second in all, for --duration, instead of as fast as possible.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds of sending at --rate.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Bytes of message text (the stamp included).
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Messages a publisher may have sent and not yet seen echoed. Default: 64 as fast as
    /// possible; unbounded at a fixed rate (open loop).
    #[arg(long)]
    window: Option<usize>,
    /// Seconds from the first send after which the run stops, whatever has arrived.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Seconds without a delivery after which the run stops early.
    #[arg(long, default_value_t = 3.0)]
    stall: f64,
    /// What is spoken.
    #[arg(long, value_enum, default_value_t = Protocol::Chat)]
    protocol: Protocol,
    /// Socket path; `{room}` is replaced by the room name (`bench-<n>`), `{token}` by --token.
    /// Default: the protocol's.
    #[arg(long)]
    path_template: Option<String>,
    /// Bearer token (broadcast: it names the channel every connection joins).
    #[arg(long)]
    token: Option<String>,
    /// Broadcast: publish through this Redis server instead of the publishers' sockets.
    #[arg(long)]
    redis_url: Option<String>,
    /// Broadcast over Redis: the channel the hub subscribes to (`{REDIS_PREFIX}broadcast`).
    #[arg(long, default_value = "broadcast")]
    redis_channel: String,
    /// Broadcast over Redis: the hub channel named in each payload (the token's).
    #[arg(long, default_value = "bench")]
    channel: String,
    /// Connections opened at once.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
}

/// What the publishers and subscribers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The chat protocol of seeds/003 (`/ws/chat/{room}/`), served by every peer.
    Chat,
    /// realtime-hub's broadcast dialect (`/ws/broadcast/?token=…`): one channel per token.
    Broadcast,
}

/// Where a publisher's messages go in.
#[derive(Clone)]
enum Outlet {
    /// Its own WebSocket.
    Socket(SharedWriter),
    /// Redis `PUBLISH` on a channel, as a Laravel app publishes.
    Redis(redis::aio::MultiplexedConnection, String),
}

impl Outlet {
    async fn send(&mut self, frame: &[u8]) -> Result<(), String> {
        match self {
            Outlet::Socket(writer) => writer
                .lock()
                .await
                .text(frame)
                .await
                .map_err(|e| e.to_string()),
            Outlet::Redis(conn, channel) => redis::cmd("PUBLISH")
                .arg(&*channel)
                .arg(frame)
                .query_async::<i64>(conn)
                .await
                .map(drop)
                .map_err(|e| format!("redis: {e}")),
        }
    }
}

/// Where connections go: room and node of the n-th subscriber or publisher.
#[derive(Debug, Clone, Copy)]
struct Layout {
    rooms: usize,
    nodes: usize,
}

impl Layout {
    /// Round-robin over rooms, then over nodes within a room, so that with one room the
    /// connections alternate between nodes, and with several each room still spans them all.
    fn place(self, n: usize) -> (usize, usize) {
        (n % self.rooms, (n / self.rooms) % self.nodes)
    }

    /// The node of a sender (publisher) number, as stamps and warm-ups carry it.
    fn node_of(self, sender: u32) -> usize {
        self.place(sender as usize).1
    }

    /// The mask of a member that has heard from every node.
    fn all_nodes(self) -> u64 {
        u64::MAX >> (64 - self.nodes)
    }
}

/// Deliveries on the publisher's own node, and deliveries that crossed to another.
const LOCAL: usize = 0;
const RELAYED: usize = 1;

/// What the receiving tasks count.
struct Tally {
    layout: Layout,
    /// Whether deliveries are told apart as local and relayed (several nodes, socket
    /// publishers); otherwise all count as local.
    split: bool,
    /// Measured messages received by subscribers: local, relayed.
    delivered: [AtomicU64; 2],
    /// Members (subscribers and publishers) that have seen a live warm-up message from every
    /// node.
    warmed: AtomicU64,
    /// When the last measured message arrived, nanoseconds since the epoch.
    last_nanos: AtomicU64,
    /// Their latencies: local, relayed.
    latencies: [Latencies; 2],
}

impl Tally {
    fn new(layout: Layout, split: bool) -> Tally {
        Tally {
            layout,
            split,
            delivered: Default::default(),
            warmed: AtomicU64::new(0),
            last_nanos: AtomicU64::new(0),
            latencies: Default::default(),
        }
    }

    fn delivered(&self) -> u64 {
        self.delivered[LOCAL].load(Relaxed) + self.delivered[RELAYED].load(Relaxed)
    }

    /// Which count a message from `sender` received on `node` goes to.
    fn class(&self, sender: u32, node: usize) -> usize {
        if self.split && self.layout.node_of(sender) != node {
            RELAYED
        } else {
            LOCAL
        }
    }

    /// Notes a warm-up from `sender` in a member's mask of nodes heard from.
    fn heard(&self, seen: &mut u64, sender: u32) {
        *seen |= 1 << self.layout.node_of(sender);
    }
}

/// A subscriber on `node`: counts and times every measured message until the task is aborted.
async fn subscriber(mut reader: Reader, node: usize, tally: Arc<Tally>) {
    let mut sent: [Vec<u64>; 2] = [Vec::with_capacity(1024), Vec::new()];
    let all = tally.layout.all_nodes();
    let (mut seen, mut warm) = (0u64, false);
    loop {
        let batch = reader
            .read_batch(|frame| {
                // History comes only on join, before the first live message: once this member
                // has seen the warm-up live from every node, no frame needs the extra search.
                if !warm {
                    if is_history(frame) {
                        return;
                    }
                    if let Some(sender) = find_warm(frame) {
                        tally.heard(&mut seen, sender);
                        return;
                    }
                }
                if let Some(s) = stamp::find(frame) {
                    sent[tally.class(s.sender, node)].push(s.sent_nanos);
                }
            })
            .await;
        if !warm && seen == all {
            warm = true;
            tally.warmed.fetch_add(1, Relaxed);
        }
        let mut now = 0;
        for (class, sent) in sent.iter_mut().enumerate() {
            if !sent.is_empty() {
                if now == 0 {
                    now = now_nanos();
                }
                tally.latencies[class].record(now, sent);
                tally.delivered[class].fetch_add(sent.len() as u64, Relaxed);
                sent.clear();
            }
        }
        if now != 0 {
            tally.last_nanos.fetch_max(now, Relaxed);
        }
        if !matches!(batch, Ok(Batch::Open)) {
            return;
        }
    }
}

/// A publisher's receiving side: its own echoes give window permits back.
async fn echoes(mut reader: Reader, me: u32, permits: Arc<Semaphore>, tally: Arc<Tally>) {
    let all = tally.layout.all_nodes();
    let (mut seen, mut warm) = (0u64, false);
    loop {
        let mut mine = 0;
        let batch = reader
            .read_batch(|frame| match stamp::find(frame) {
                Some(s) if s.sender == me => mine += 1,
                Some(_) => {}
                None if warm || is_history(frame) => {}
                None => {
                    if let Some(sender) = find_warm(frame) {
                        tally.heard(&mut seen, sender);
                    }
                }
            })
            .await;
        permits.add_permits(mine);
        if !warm && seen == all {
            warm = true;
            tally.warmed.fetch_add(1, Relaxed);
        }
        if !matches!(batch, Ok(Batch::Open)) {
            return;
        }
    }
}

/// Sends warm-up messages until every member has seen one live from every node (a connection
/// is open before the server has added it to its room, a message stored before a member's
/// join comes to it as history, and a node hears another's rooms only once it has subscribed
/// to them), then returns. Warm-ups are never counted.
async fn warm_up(
    outlets: &mut [Outlet],
    shape: &Shape,
    tally: &Tally,
    members: u64,
) -> Result<(), String> {
    let bound = Instant::now() + Duration::from_secs(30);
    while tally.warmed.load(Relaxed) < members {
        for (p, outlet) in outlets.iter_mut().enumerate() {
            outlet.send(&shape.warm(p as u32)).await?;
        }
        let round = Instant::now() + Duration::from_secs(2);
        while tally.warmed.load(Relaxed) < members && Instant::now() < round {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if Instant::now() > bound {
            return Err(format!(
                "warm-up: only {} of {members} members got a message from every node within 30 s",
                tally.warmed.load(Relaxed)
            ));
        }
    }
    Ok(())
}

/// How one publisher sends.
struct Sending {
    shape: Shape,
    count: u64,
    payload: usize,
    /// Time between two sends at a fixed rate, and this publisher's first send.
    pace: Option<(Duration, Instant)>,
    deadline: Instant,
}

/// Sends `count` stamped messages; how many went out before the deadline.
async fn publish(me: u32, mut outlet: Outlet, permits: Arc<Semaphore>, how: Sending) -> u64 {
    let mut ticker = how
        .pace
        .map(|(gap, first)| tokio::time::interval_at(first, gap));
    let mut frame = Vec::with_capacity(how.payload + 32);
    let mut sent = 0;
    for seq in 0..how.count {
        if let Some(t) = ticker.as_mut() {
            if tokio::time::timeout_at(how.deadline, t.tick())
                .await
                .is_err()
            {
                break;
            }
        }
        match tokio::time::timeout_at(how.deadline, permits.acquire()).await {
            Ok(Ok(permit)) => permit.forget(),
            _ => break,
        }
        how.shape.stamped(&mut frame, me, seq, how.payload);
        if !matches!(
            tokio::time::timeout_at(how.deadline, outlet.send(&frame)).await,
            Ok(Ok(()))
        ) {
            break;
        }
        sent += 1;
    }
    sent
}

/// The socket path and the frames' shape the options ask for.
fn shapes(args: &Args) -> Result<(String, Shape), String> {
    let token = args.token.as_deref();
    match args.protocol {
        Protocol::Chat if args.redis_url.is_some() => {
            Err("--redis-url is for --protocol broadcast".into())
        }
        Protocol::Chat => Ok((
            args.path_template
                .clone()
                .unwrap_or("/ws/chat/{room}/".into()),
            Shape::chat(),
        )),
        Protocol::Broadcast => {
            let token = token.ok_or("--protocol broadcast needs --token")?;
            if args.rooms != 1 {
                return Err("--protocol broadcast: one channel, the token's (--rooms 1)".into());
            }
            let path = args
                .path_template
                .clone()
                .unwrap_or("/ws/broadcast/?token={token}".into())
                .replace("{token}", token);
            let open = match args.redis_url {
                // The hub's Redis ingress payload (docs/broadcast.md).
                Some(_) => format!(
                    "{{\"channel\":{},\"type\":\"message\",\"data\":{{\"m\":\"",
                    serde_json::to_string(&args.channel).map_err(|e| e.to_string())?
                ),
                None => "{\"data\":{\"m\":\"".into(),
            };
            Ok((
                path,
                Shape {
                    open: open.into_bytes().into(),
                    close: b"\"}}",
                },
            ))
        }
    }
}

/// Runs the workload against the nodes at `urls` (one for a single server).
pub async fn run(urls: &[&str], peer: &str, pids: &[u32], args: Args) -> Result<Report, String> {
    if args.rooms == 0 || args.publishers < args.rooms {
        return Err("need at least one room and one publisher per room".into());
    }
    if urls.is_empty() || urls.len() > 64 {
        return Err("give between 1 and 64 --url".into());
    }
    let layout = Layout {
        rooms: args.rooms,
        nodes: urls.len(),
    };
    if args.publishers < args.rooms * layout.nodes {
        return Err(format!(
            "{} rooms on {} nodes need at least {} publishers (one per room on every node)",
            args.rooms,
            layout.nodes,
            args.rooms * layout.nodes
        ));
    }
    let (path, shape) = shapes(&args)?;
    let room_url = |i: usize| {
        let (room, node) = layout.place(i);
        format!(
            "{}{}",
            urls[node],
            path.replace("{room}", &format!("bench-{room}"))
        )
    };
    let within = Duration::from_secs(10);
    let subs = connect_all(
        (0..args.subscribers).map(room_url).collect(),
        BIG_BUFFER,
        args.connect_concurrency,
        within,
    )
    .await;
    let pubs = connect_all(
        (0..args.publishers).map(room_url).collect(),
        SMALL_BUFFER.max(args.payload * 4),
        args.connect_concurrency,
        within,
    )
    .await;
    if pubs.failed > 0 {
        return Err(format!("{} publishers could not connect", pubs.failed));
    }

    // Through Redis every publisher's messages enter every node alike: none is relayed.
    let tally = Arc::new(Tally::new(
        layout,
        layout.nodes > 1 && args.redis_url.is_none(),
    ));
    // Open subscribers by room and node.
    let mut subs_at = vec![vec![0u64; layout.nodes]; args.rooms];
    let mut readers: Vec<JoinHandle<()>> = Vec::new();
    for (i, conn) in subs.conns.into_iter().enumerate() {
        if let Some((reader, _writer)) = conn {
            let (room, node) = layout.place(i);
            subs_at[room][node] += 1;
            readers.push(tokio::spawn(subscriber(reader, node, tally.clone())));
        }
    }
    let open_subs: u64 = subs_at.iter().flatten().sum();
    // Open loop at a rate: a window no run fills (echoes give permits back, so it must stay
    // well below the semaphore's maximum).
    let window = args
        .window
        .unwrap_or(if args.rate.is_some() { 1 << 32 } else { 64 });
    let redis = match &args.redis_url {
        Some(url) => Some(
            redis::Client::open(url.as_str())
                .map_err(|e| format!("redis: {e}"))?
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("redis: {e}"))?,
        ),
        None => None,
    };
    let mut outlets = Vec::new();
    let mut writers = Vec::new();
    let mut permits = Vec::new();
    for (p, conn) in pubs.conns.into_iter().enumerate() {
        let (reader, writer) = conn.ok_or("a publisher could not connect")?;
        let window = Arc::new(Semaphore::new(window));
        readers.push(tokio::spawn(echoes(
            reader,
            p as u32,
            window.clone(),
            tally.clone(),
        )));
        outlets.push(match &redis {
            Some(conn) => Outlet::Redis(conn.clone(), args.redis_channel.clone()),
            None => Outlet::Socket(writer.clone()),
        });
        // Kept open: a publisher is a member, and its reader answers pings through it.
        writers.push(writer);
        permits.push(window);
    }
    let members = open_subs + args.publishers as u64;
    if let Err(e) = warm_up(&mut outlets, &shape, &tally, members).await {
        readers.iter().for_each(JoinHandle::abort);
        return Err(e);
    }

    let planned = match args.rate {
        Some(rate) => (rate * args.duration).round() as u64,
        None => args.messages,
    };
    let clock = Clock::start(pids);
    let first_send = now_nanos();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.timeout);
    let n = args.publishers as u64;
    let mut senders = Vec::new();
    for (p, (outlet, window)) in outlets.iter().zip(&permits).enumerate() {
        // Publisher p sends every n-th message; at a rate, their sends interleave evenly.
        let count = planned / n + u64::from((p as u64) < planned % n);
        let pace = args.rate.map(|rate| {
            let gap = Duration::from_secs_f64(n as f64 / rate);
            (gap, start + gap.mul_f64(p as f64 / n as f64))
        });
        let how = Sending {
            shape: shape.clone(),
            count,
            payload: args.payload,
            pace,
            deadline,
        };
        senders.push(tokio::spawn(publish(
            p as u32,
            outlet.clone(),
            window.clone(),
            how,
        )));
    }
    // Every message is due at every subscriber of its room, on whichever node.
    let mut expected = [0; 2];
    let mut sent = 0;
    for (p, s) in senders.into_iter().enumerate() {
        let count = s.await.map_err(|e| e.to_string())?;
        sent += count;
        let (room, _) = layout.place(p);
        for (at, &subs) in subs_at[room].iter().enumerate() {
            expected[tally.class(p as u32, at)] += count * subs;
        }
    }
    let expected_all = expected[LOCAL] + expected[RELAYED];
    // Stragglers: until all arrived, nothing moved for --stall seconds, or the bound.
    let stall = Duration::from_secs_f64(args.stall);
    let mut last = (tally.delivered(), Instant::now());
    let mut timed_out = false;
    while tally.delivered() < expected_all {
        let now = tally.delivered();
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > stall {
            break;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    timed_out |= sent < planned;
    let mut report = Report {
        workload: format!(
            "fanout {} room(s) x {} subs{}, {}, {} B{}",
            args.rooms,
            args.subscribers,
            if layout.nodes > 1 {
                format!(
                    " over {} nodes, {} publishers",
                    layout.nodes, args.publishers
                )
            } else {
                String::new()
            },
            match args.rate {
                Some(rate) => format!("{rate} msg/s for {} s", args.duration),
                None => format!("{planned} msgs"),
            },
            args.payload,
            match (args.protocol, &args.redis_url) {
                (Protocol::Chat, _) => "",
                (Protocol::Broadcast, None) => " (broadcast protocol)",
                (Protocol::Broadcast, Some(_)) => " (broadcast protocol, published through Redis)",
            }
        ),
        peer: peer.to_string(),
        connections: args.subscribers + args.publishers,
        failed_connections: subs.failed,
        connect_per_s: open_subs as f64 / subs.secs.max(1e-9),
        planned_messages: planned,
        messages: sent,
        timed_out,
        nodes: layout.nodes,
        ..Report::default()
    };
    clock.stop(&mut report);
    readers.iter().for_each(JoinHandle::abort);
    let delivered = tally.delivered();
    report.deliveries(expected_all, delivered);
    if tally.split {
        report.split(
            &tally.latencies[LOCAL],
            &tally.latencies[RELAYED],
            expected[RELAYED],
            tally.delivered[RELAYED].load(Relaxed),
        );
    }
    let span = tally.last_nanos.load(Relaxed).saturating_sub(first_send) as f64 / 1e9;
    report.deliveries_per_s = if span > 0.0 {
        delivered as f64 / span
    } else {
        0.0
    };
    report.latencies(&Latencies::merged(&[
        &tally.latencies[LOCAL],
        &tally.latencies[RELAYED],
    ]));
    report.efficiency(args.rate.is_none());
    drop(writers);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_room_spans_every_node() {
        let one = Layout { rooms: 3, nodes: 1 };
        assert_eq!(
            (0..4).map(|n| one.place(n)).collect::<Vec<_>>(),
            [(0, 0), (1, 0), (2, 0), (0, 0)]
        );
        assert_eq!(one.all_nodes(), 1);
        let two = Layout { rooms: 1, nodes: 2 };
        assert_eq!(
            (0..4).map(|n| two.place(n).1).collect::<Vec<_>>(),
            [0, 1, 0, 1]
        );
        let grid = Layout { rooms: 2, nodes: 2 };
        let placed: Vec<_> = (0..4).map(|n| grid.place(n)).collect();
        assert_eq!(placed, [(0, 0), (1, 0), (0, 1), (1, 1)]);
        assert_eq!((grid.node_of(2), grid.all_nodes()), (1, 0b11));
    }

    #[test]
    fn deliveries_are_local_or_relayed_by_the_senders_node() {
        let tally = Tally::new(Layout { rooms: 1, nodes: 2 }, true);
        assert_eq!(
            (tally.class(0, 0), tally.class(1, 0), tally.class(3, 1)),
            (LOCAL, RELAYED, LOCAL)
        );
        let mut seen = 0;
        tally.heard(&mut seen, 4);
        tally.heard(&mut seen, 2);
        assert_eq!(seen, 0b01);
        tally.heard(&mut seen, 5);
        assert_eq!(seen, tally.layout.all_nodes());
        let unsplit = Tally::new(Layout { rooms: 1, nodes: 2 }, false);
        assert_eq!(unsplit.class(1, 0), LOCAL);
    }
}
