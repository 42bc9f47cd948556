//! Direct messages with read receipts: the messaging app of seeds/000, over realtime-hub's
//! messages dialect (hub only: no peer speaks it).
//!
//! Pairs of users. The sender posts each message over REST (`POST /api/messages/`, one
//! keep-alive connection per sender, as the seed's Next.js app calls its API); the recipient's
//! socket (`/ws/messages/`) receives `new_message` and answers with `mark_read`, as the seed's
//! client does once it shows a message. The latency measured is from the start of the POST to
//! the `new_message` frame; the receipts are load on the hub (a database write and two pushes
//! each), not measured. Tokens are minted here with the hub's secret, one user per device.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use realtime_hub::auth::Auth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{connect_all, Batch, Reader, SharedWriter, SMALL_BUFFER};
use crate::report::{Clock, Latencies, Report};
use crate::stamp::{self, Shape};

/// Messaging options.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pairs of users: one sends, the other reads and marks read.
    #[arg(long, default_value_t = 500)]
    pairs: usize,
    /// Messages per second each sender posts.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds after the last send that stragglers may still arrive.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// The hub's JWT_SECRET, to mint a token per user.
    #[arg(long, env = "JWT_SECRET")]
    jwt_secret: String,
    /// The first user id used (ids are consecutive from here).
    #[arg(long, default_value_t = 1_000_000)]
    first_user_id: i64,
    /// Bytes of message body (the stamp included).
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Connections opened at once.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
}

/// One keep-alive HTTP/1.1 connection, enough for the hub's JSON answers.
struct Http {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Http {
    async fn connect(host: &str) -> Result<Http, String> {
        let stream = TcpStream::connect(host).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Http {
            stream,
            host: host.to_string(),
            buf: Vec::with_capacity(4096),
        })
    }

    /// POSTs `body` as JSON; the answer's status (its body is read and dropped).
    async fn post(&mut self, path: &str, token: &str, body: &[u8]) -> Result<u16, String> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream
            .write_all(&request)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            if let Some((status, len)) = answer(&self.buf)? {
                self.buf.drain(..len);
                return Ok(status);
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("the hub closed the HTTP connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The status and whole length of the first complete answer in `buf`, if it is all there.
fn answer(buf: &[u8]) -> Result<Option<(u16, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head}"))?;
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let total = end + 4 + length;
    Ok((buf.len() >= total).then_some((status, total)))
}

/// A sender: posts `count` stamped messages at the pace given; the first failure ends it.
async fn sender(
    me: u32,
    mut http: Http,
    token: String,
    shape: Shape,
    pace: (Duration, Instant),
    count: u64,
    payload: usize,
) -> Result<(), String> {
    let mut ticker = tokio::time::interval_at(pace.1, pace.0);
    let mut body = Vec::new();
    for seq in 0..count {
        ticker.tick().await;
        shape.stamped(&mut body, me, seq, payload);
        match http.post("/api/messages/", &token, &body).await? {
            201 => {}
            status => return Err(format!("POST /api/messages/ answered {status}")),
        }
    }
    Ok(())
}

/// The id in a `new_message` frame, for the receipt.
fn message_id(frame: &[u8]) -> Option<i64> {
    let v: serde_json::Value = serde_json::from_slice(frame).ok()?;
    v["message"]["id"].as_i64()
}

/// A recipient: times each `new_message` and marks it read, until `count` arrived or the
/// deadline.
async fn recipient(
    mut reader: Reader,
    writer: SharedWriter,
    count: u64,
    deadline: Instant,
    latencies: Arc<Latencies>,
    delivered: Arc<AtomicU64>,
    receipts: Arc<AtomicU64>,
) {
    let mut got = 0;
    let mut sent: Vec<u64> = Vec::new();
    let mut read: Vec<i64> = Vec::new();
    while got < count {
        let batch = reader.read_batch(|frame| {
            const NEW: &[u8] = b"\"new_message\"";
            if frame.windows(NEW.len()).any(|w| w == NEW) {
                sent.extend(stamp::find(frame).map(|s| s.sent_nanos));
                read.extend(message_id(frame));
            }
        });
        let batch = tokio::time::timeout_at(deadline, batch).await;
        got += latencies.arrived(&mut sent, &delivered);
        for id in read.drain(..) {
            let frame = format!("{{\"type\":\"mark_read\",\"message_id\":{id}}}");
            if writer.lock().await.text(frame.as_bytes()).await.is_err() {
                return;
            }
            receipts.fetch_add(1, Relaxed);
        }
        if !matches!(batch, Ok(Ok(Batch::Open))) {
            return;
        }
    }
}

/// Runs the workload.
pub async fn run(url: &str, peer: &str, pids: &[u32], args: Args) -> Result<Report, String> {
    let auth = Auth::new(&args.jwt_secret);
    let user = |i: usize, role: i64| args.first_user_id + 2 * i as i64 + role;
    let token = |id: i64| auth.mint(id, &format!("u{id}"), None, 3600);
    let within = Duration::from_secs(10);
    // Recipients connect first: a user exists once it has signed in, and a message to a user
    // who does not exist yet is refused.
    let urls = (0..args.pairs)
        .map(|i| format!("{url}/ws/messages/?token={}", token(user(i, 1))))
        .collect();
    let conns = connect_all(urls, SMALL_BUFFER, args.connect_concurrency, within).await;
    let host = url.trim_start_matches("ws://").to_string();
    let mut pairs = Vec::new();
    for (i, conn) in conns.conns.into_iter().enumerate() {
        if let Some((mut reader, writer)) = conn {
            reader.next_text(within).await?; // {"type":"connection",…}
            pairs.push((i, reader, writer, Http::connect(&host).await?));
        }
    }

    let count = (args.rate * args.duration).round() as u64;
    let latencies = Arc::new(Latencies::default());
    let delivered = Arc::new(AtomicU64::new(0));
    let receipts = Arc::new(AtomicU64::new(0));
    let clock = Clock::start(pids);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration + args.drain);
    let gap = Duration::from_secs_f64(1.0 / args.rate);
    let n = pairs.len();
    let mut senders: Vec<JoinHandle<Result<(), String>>> = Vec::new();
    let mut readers = Vec::new();
    for (k, (i, reader, writer, http)) in pairs.into_iter().enumerate() {
        let shape = Shape {
            open: format!(
                "{{\"recipient_id\":{},\"subject\":\"bench\",\"body\":\"",
                user(i, 1)
            )
            .into_bytes()
            .into(),
            close: b"\"}",
        };
        // Senders start spread over one interval, as independent people would.
        let first = start + gap.mul_f64(k as f64 / n as f64);
        senders.push(tokio::spawn(sender(
            i as u32,
            http,
            token(user(i, 0)),
            shape,
            (gap, first),
            count,
            args.payload,
        )));
        readers.push(tokio::spawn(recipient(
            reader,
            writer,
            count,
            deadline,
            latencies.clone(),
            delivered.clone(),
            receipts.clone(),
        )));
    }
    for s in senders {
        if let Ok(Err(e)) = s.await {
            readers.iter().for_each(JoinHandle::abort);
            return Err(e);
        }
    }
    for r in readers {
        let _ = r.await;
    }
    let mut report = Report {
        workload: format!(
            "messages {n} pairs, {} msg/s each for {} s over REST, read receipts over the socket",
            args.rate, args.duration
        ),
        peer: peer.to_string(),
        connections: 2 * args.pairs,
        failed_connections: conns.failed,
        connect_per_s: n as f64 / conns.secs.max(1e-9),
        planned_messages: count * args.pairs as u64,
        messages: count * n as u64,
        timed_out: Instant::now() >= deadline,
        ..Report::default()
    };
    clock.stop(&mut report);
    let got = delivered.load(Relaxed);
    report.deliveries(count * n as u64, got);
    report.deliveries_per_s = got as f64 / clock.elapsed().as_secs_f64().max(1e-9);
    report.latencies(&latencies);
    report.efficiency(false);
    eprintln!("hub-bench: {} read receipts sent", receipts.load(Relaxed));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_framed_by_their_length() {
        let two = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}HTTP/1.1 4";
        assert_eq!(answer(two).unwrap(), Some((201, 45)));
        assert_eq!(&two[45..], b"HTTP/1.1 4");
        assert_eq!(
            answer(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\n{}").unwrap(),
            None
        );
        assert_eq!(answer(b"HTTP/1.1 201 Cre").unwrap(), None);
        assert!(answer(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn ids_come_from_the_message_object() {
        let frame = br#"{"type":"new_message","message":{"id":17,"body":"b:1:2:3:"}}"#;
        assert_eq!(message_id(frame), Some(17));
        assert_eq!(message_id(br#"{"type":"unread_count","count":1}"#), None);
    }
}
