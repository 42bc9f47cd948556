//! Many small rooms: pairs of devices, one sending at a steady rate, the other measuring —
//! the guitar practice shape (phone → PC). Over the chat protocol every peer serves, or over
//! the hub's guitar protocol (`--protocol guitar`, sessions created over REST).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::report::{histogram, sample, Report};
use crate::wire::{chat_frame, connect, find_stamp, is_history, now_nanos, stamped, Sink, Source};

/// Which protocol the pairs speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// `/ws/chat/{room}/`, stamped messages (the receiver reads the stamp).
    Chat,
    /// `/ws/guitar/{id}/`, `chord_change` frames (matched in order with their send times).
    Guitar,
}

/// Pair options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pairs of connections.
    #[arg(long, default_value_t = 1000)]
    pairs: usize,
    /// Messages per second each sender sends.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// The protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Chat)]
    protocol: Protocol,
    /// Token for `--protocol guitar` (both devices of every pair sign in as this user).
    #[arg(long)]
    token: Option<String>,
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

/// One pair, connected and ready.
struct Pair {
    phone: Sink,
    phone_echoes: Source,
    pc: Source,
}

async fn open_pair(url: &str, i: usize, args: &Args) -> Result<Pair, String> {
    let path = match args.protocol {
        Protocol::Chat => format!("{url}/ws/chat/pair-{i}/"),
        Protocol::Guitar => {
            let token = args
                .token
                .as_deref()
                .ok_or("--protocol guitar needs --token")?;
            let id = create_session(url, token).await?;
            format!("{url}/ws/guitar/{id}/?token={token}")
        }
    };
    let (_, mut pc) = connect(&path).await?;
    let (phone, mut phone_echoes) = connect(&path).await?;
    if args.protocol == Protocol::Guitar {
        // Both have joined once each has its session_state and the PC has seen the phone arrive.
        for source in [&mut pc, &mut phone_echoes] {
            next_text(source).await?;
        }
        next_text(&mut pc).await?;
    }
    Ok(Pair {
        phone,
        phone_echoes,
        pc,
    })
}

async fn next_text(source: &mut Source) -> Result<String, String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), source.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Ok(t.to_string()),
            Ok(Some(Ok(_))) => continue,
            _ => return Err("a device did not get its greeting".into()),
        }
    }
}

/// Runs the workload.
pub async fn run(url: &str, peer: &str, pid: Option<u32>, args: Args) -> Result<Report, String> {
    let started = Instant::now();
    let pairs: Vec<Pair> = futures_util::stream::iter(0..args.pairs)
        .map(|i| open_pair(url, i, &args))
        .buffer_unordered(args.connect_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let connect_secs = started.elapsed().as_secs_f64();
    let per_sender = (args.rate * args.duration).round() as u64;
    let delivered = Arc::new(AtomicU64::new(0));
    let before = sample(pid);
    let t0 = Instant::now();
    let bound = Duration::from_secs_f64(args.duration + 15.0);
    let mut tasks = Vec::new();
    for (i, pair) in pairs.into_iter().enumerate() {
        let (protocol, delivered) = (args.protocol, delivered.clone());
        let sent_at: Arc<Mutex<VecDeque<u64>>> = Arc::default();
        let Pair {
            mut phone,
            mut phone_echoes,
            mut pc,
        } = pair;
        // The phone drains what comes back to it (chat echoes its own messages).
        tokio::spawn(async move { while let Some(Ok(_)) = phone_echoes.next().await {} });
        let stamps = sent_at.clone();
        let gap = Duration::from_secs_f64(1.0 / args.rate);
        tokio::spawn(async move {
            // Spread the pairs' first sends over one interval, as independent phones would.
            tokio::time::sleep(gap.mul_f64((i % 100) as f64 / 100.0)).await;
            let mut ticker = tokio::time::interval(gap);
            for seq in 0..per_sender {
                ticker.tick().await;
                let frame = match protocol {
                    Protocol::Chat => chat_frame(&stamped(seq, 32)),
                    Protocol::Guitar => {
                        stamps.lock().expect("stamps").push_back(now_nanos());
                        format!(
                            "{{\"type\":\"chord_change\",\"data\":{{\"chord\":\"{}\"}}}}",
                            CHORDS[seq as usize % CHORDS.len()]
                        )
                    }
                };
                if phone.send(Message::text(frame)).await.is_err() {
                    break;
                }
            }
            phone
        });
        tasks.push(tokio::spawn(async move {
            let mut hist: Histogram<u64> = histogram();
            let mut got = 0;
            while got < per_sender && t0.elapsed() < bound {
                let msg = match tokio::time::timeout(Duration::from_secs(1), pc.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(_))) | Err(_) => continue,
                    Ok(None) | Ok(Some(Err(_))) => break,
                };
                let bytes = msg.as_bytes();
                let sent = match protocol {
                    Protocol::Chat if !is_history(bytes) => find_stamp(bytes),
                    Protocol::Guitar if msg.contains("\"chord_change\"") => {
                        sent_at.lock().expect("stamps").pop_front()
                    }
                    _ => None,
                };
                if let Some(sent) = sent {
                    let _ = hist.record(now_nanos().saturating_sub(sent) / 1000);
                    got += 1;
                    delivered.fetch_add(1, Relaxed);
                }
            }
            hist
        }));
    }
    let mut hist = histogram();
    for t in tasks {
        if let Ok(h) = t.await {
            hist.add(h).map_err(|e| e.to_string())?;
        }
    }
    let elapsed = t0.elapsed();
    let after = sample(pid);
    let expected = per_sender * args.pairs as u64;
    let got = delivered.load(Relaxed);
    let mut report = Report {
        workload: format!(
            "pairs {} x 2 devices, {} msg/s each ({:?})",
            args.pairs, args.rate, args.protocol
        )
        .to_lowercase(),
        peer: peer.to_string(),
        connections: args.pairs * 2,
        connect_per_s: (args.pairs * 2) as f64 / connect_secs.max(1e-9),
        messages: expected,
        expected,
        deliveries: got,
        loss: if expected == 0 {
            0.0
        } else {
            1.0 - got as f64 / expected as f64
        },
        deliveries_per_s: got as f64 / elapsed.as_secs_f64().max(1e-9),
        seconds: elapsed.as_secs_f64(),
        timed_out: elapsed >= bound,
        ..Report::default()
    };
    report.latencies(&hist);
    report.server(before, after, elapsed);
    Ok(report)
}
