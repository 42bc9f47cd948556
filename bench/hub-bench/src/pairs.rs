//! Many small rooms: pairs of devices, one sending at a steady rate, the other measuring — the
//! guitar practice shape (a phone sends chord changes, the PC shows them).
//!
//! `--protocol chat` is the stand-in every peer serves: each pair is a chat room, the phone
//! sends stamped chat messages and the PC reads the stamp. `--protocol guitar` is realtime-hub's
//! guitar dialect: each pair's session is created over REST, the phone sends `chord_change`
//! frames, and since those carry no text of ours, the PC matches them in order with the send
//! times the phone queued. A new dialect is one more `Protocol` arm: a path template, a frame
//! to send, how a received frame is recognised, and what greetings to wait for.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{connect_all, Batch, Reader, SharedWriter, SMALL_BUFFER};
use crate::report::{Clock, Latencies, Report};
use crate::stamp::{self, chat_frame, is_history, now_nanos};

/// Which protocol the pairs speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The chat protocol (`/ws/chat/{room}/`), served by every peer: stamped messages.
    Chat,
    /// realtime-hub's guitar dialect (`/ws/guitar/{room}/?token={token}`): `chord_change`.
    Guitar,
}

impl Protocol {
    fn default_path(self) -> &'static str {
        match self {
            Protocol::Chat => "/ws/chat/{room}/",
            Protocol::Guitar => "/ws/guitar/{room}/?token={token}",
        }
    }
}

/// Pair options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pairs of connections, one room each.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// Messages per second each phone sends.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds after the last send that stragglers may still arrive.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// The protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Chat)]
    protocol: Protocol,
    /// Socket path; `{room}` is the room (chat: `pair-<n>`; guitar: the session id created
    /// over REST) and `{token}` the --token. Default: the protocol's path.
    #[arg(long)]
    path_template: Option<String>,
    /// Bearer token for protocols that need one (guitar: both devices sign in as its user).
    #[arg(long)]
    token: Option<String>,
    /// Bytes of chat message text (the stamp included).
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Connections opened at once.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
}

const CHORDS: [&str; 8] = ["C", "G", "Am", "F", "Dm7", "E7", "Bbmaj7", "G/B"];

/// `POST /api/guitar/sessions/` over a plain HTTP/1.1 connection; the new session's id.
async fn create_session(url: &str, token: &str) -> Result<String, String> {
    let host = url.trim_start_matches("ws://").trim_end_matches('/');
    let mut tcp = tokio::net::TcpStream::connect(host)
        .await
        .map_err(|e| e.to_string())?;
    let request = format!(
        "POST /api/guitar/sessions/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    tcp.read_to_string(&mut response)
        .await
        .map_err(|e| e.to_string())?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    let json: serde_json::Value =
        serde_json::from_str(body).map_err(|_| format!("session not created: {response}"))?;
    json["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("session not created: {body}"))
}

/// The socket URL of every pair's room.
async fn room_urls(url: &str, args: &Args) -> Result<Vec<String>, String> {
    let template = args
        .path_template
        .as_deref()
        .unwrap_or(args.protocol.default_path());
    let token = args.token.as_deref().unwrap_or("");
    if template.contains("{token}") && token.is_empty() {
        return Err(format!("--protocol {:?} needs --token", args.protocol).to_lowercase());
    }
    let mut urls = Vec::with_capacity(args.pairs);
    for i in 0..args.pairs {
        let room = match args.protocol {
            Protocol::Chat => format!("pair-{i}"),
            Protocol::Guitar => create_session(url, token).await?,
        };
        let path = template.replace("{room}", &room).replace("{token}", token);
        urls.push(format!("{url}{path}"));
    }
    Ok(urls)
}

/// Waits for the greetings that show both devices have joined (guitar: each gets its own
/// `connection_update` and its `session_state`, and the PC sees the phone arrive); chat has
/// none.
async fn greeted(protocol: Protocol, pc: &mut Reader, phone: &mut Reader) -> Result<(), String> {
    if protocol == Protocol::Guitar {
        let within = Duration::from_secs(10);
        for _ in 0..2 {
            pc.next_text(within).await?;
        }
        for _ in 0..2 {
            phone.next_text(within).await?;
        }
        pc.next_text(within).await?;
    }
    Ok(())
}

/// The phone: sends `count` messages at the pace given, queueing send times for protocols
/// whose frames cannot carry them.
async fn phone(
    protocol: Protocol,
    me: u32,
    writer: SharedWriter,
    pace: (Duration, Instant),
    count: u64,
    payload: usize,
    queued: Arc<Mutex<VecDeque<u64>>>,
) {
    let mut ticker = tokio::time::interval_at(pace.1, pace.0);
    let mut frame = Vec::new();
    for seq in 0..count {
        ticker.tick().await;
        match protocol {
            Protocol::Chat => chat_frame(&mut frame, me, seq, payload),
            Protocol::Guitar => {
                queued.lock().expect("queue").push_back(now_nanos());
                let chord = CHORDS[seq as usize % CHORDS.len()];
                frame = format!("{{\"type\":\"chord_change\",\"data\":{{\"chord\":\"{chord}\"}}}}")
                    .into_bytes();
            }
        }
        if writer.lock().await.text(&frame).await.is_err() {
            return;
        }
    }
}

/// The PC: times each message until `count` arrived or the deadline.
async fn pc(
    protocol: Protocol,
    mut reader: Reader,
    count: u64,
    deadline: Instant,
    queued: Arc<Mutex<VecDeque<u64>>>,
    latencies: Arc<Latencies>,
    delivered: Arc<AtomicU64>,
) {
    let mut got = 0;
    let mut sent: Vec<u64> = Vec::new();
    while got < count {
        let batch = reader.read_batch(|frame| match protocol {
            Protocol::Chat if !is_history(frame) => {
                sent.extend(stamp::find(frame).map(|s| s.sent_nanos));
            }
            Protocol::Guitar if frame.windows(14).any(|w| w == b"\"chord_change\"") => {
                sent.extend(queued.lock().expect("queue").pop_front());
            }
            _ => {}
        });
        let batch = tokio::time::timeout_at(deadline, batch).await;
        got += latencies.arrived(&mut sent, &delivered);
        if !matches!(batch, Ok(Ok(Batch::Open))) {
            return;
        }
    }
}

/// Reads and drops what comes back to the phone (chat echoes its own messages; the server
/// must not find it a slow reader).
async fn drain(mut reader: Reader) {
    while let Ok(Batch::Open) = reader.read_batch(|_| {}).await {}
}

/// Runs the workload.
pub async fn run(url: &str, peer: &str, pids: &[u32], args: Args) -> Result<Report, String> {
    let urls = room_urls(url, &args).await?;
    let within = Duration::from_secs(10);
    // PCs first, so each is in its room before its phone.
    let pcs = connect_all(urls.clone(), SMALL_BUFFER, args.connect_concurrency, within).await;
    let phones = connect_all(urls, SMALL_BUFFER, args.connect_concurrency, within).await;
    let connect_secs = pcs.secs + phones.secs;
    let mut pairs = Vec::new();
    for (pc, phone) in pcs.conns.into_iter().zip(phones.conns) {
        if let (Some(pc), Some(phone)) = (pc, phone) {
            pairs.push((pc, phone));
        }
    }
    let failed = pcs.failed + phones.failed;
    for (pc, phone) in &mut pairs {
        greeted(args.protocol, &mut pc.0, &mut phone.0).await?;
    }

    let count = (args.rate * args.duration).round() as u64;
    let latencies = Arc::new(Latencies::default());
    let delivered = Arc::new(AtomicU64::new(0));
    let clock = Clock::start(pids);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration + args.drain);
    let gap = Duration::from_secs_f64(1.0 / args.rate);
    let mut background: Vec<JoinHandle<()>> = Vec::new();
    let mut pcs_done = Vec::new();
    let n = pairs.len();
    for (i, ((pc_reader, _), (phone_reader, phone_writer))) in pairs.into_iter().enumerate() {
        let queued: Arc<Mutex<VecDeque<u64>>> = Arc::default();
        // Phones start spread over one interval, as independent devices would.
        let first = start + gap.mul_f64(i as f64 / n as f64);
        background.push(tokio::spawn(drain(phone_reader)));
        background.push(tokio::spawn(phone(
            args.protocol,
            i as u32,
            phone_writer,
            (gap, first),
            count,
            args.payload,
            queued.clone(),
        )));
        pcs_done.push(tokio::spawn(pc(
            args.protocol,
            pc_reader,
            count,
            deadline,
            queued,
            latencies.clone(),
            delivered.clone(),
        )));
    }
    for t in pcs_done {
        let _ = t.await;
    }
    let mut report = Report {
        workload: format!(
            "pairs {n} x 2 devices, {} msg/s each for {} s ({} protocol)",
            args.rate,
            args.duration,
            format!("{:?}", args.protocol).to_lowercase()
        ),
        peer: peer.to_string(),
        connections: 2 * args.pairs,
        failed_connections: failed,
        connect_per_s: (2 * n) as f64 / connect_secs.max(1e-9),
        planned_messages: count * args.pairs as u64,
        messages: count * n as u64,
        timed_out: Instant::now() >= deadline,
        ..Report::default()
    };
    clock.stop(&mut report);
    background.iter().for_each(JoinHandle::abort);
    let got = delivered.load(Relaxed);
    report.deliveries(count * n as u64, got);
    report.deliveries_per_s = got as f64 / clock.elapsed().as_secs_f64().max(1e-9);
    report.latencies(&latencies);
    report.efficiency(false);
    Ok(report)
}
