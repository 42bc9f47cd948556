//! RFC 6455 to the letter, tried with a raw client (no WebSocket library on the client side):
//! every frame below is written byte by byte, and what the server answers is read the same way.

mod common;

use std::time::Duration;

use common::TestApp;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A client that speaks frames by hand.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A masked client frame: `first` is FIN/RSV/opcode, the length is encoded minimally.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    realtime_hub::hub::frame::masked(first, payload, [0x12, 0x34, 0x56, 0x78])
}

impl Raw {
    async fn connect(app: &TestApp, path: &str) -> Raw {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            app.addr
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        let head = loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(raw.buf[..end].to_vec()).unwrap();
                raw.buf.drain(..end + 4);
                break head;
            }
            assert!(raw.fill().await > 0, "closed during the handshake");
        };
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        raw
    }

    async fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 65536];
        let n = tokio::time::timeout(common::WAIT, self.stream.read(&mut chunk))
            .await
            .expect("timed out reading")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next frame from the server: (opcode, payload); `None` at the end of the stream.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[0] & 0x70, 0, "server set reserved bits");
                assert_eq!(self.buf[1] & 0x80, 0, "server masked a frame");
                let (extra, len) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (2, u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize)
                    }
                    127 if self.buf.len() >= 10 => (
                        8,
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (0, n as usize),
                };
                if extra != usize::MAX && self.buf.len() >= 2 + extra + len {
                    let opcode = self.buf[0] & 0x0f;
                    let payload = self.buf[2 + extra..2 + extra + len].to_vec();
                    self.buf.drain(..2 + extra + len);
                    return Some((opcode, payload));
                }
            }
            if self.fill().await == 0 {
                return None;
            }
        }
    }

    /// The next text frame as JSON, skipping pings.
    async fn json(&mut self) -> Value {
        loop {
            match self.frame().await {
                Some((0x1, payload)) => return serde_json::from_slice(&payload).unwrap(),
                Some((0x9, _)) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads to the server's close frame: its code and reason.
    async fn close(&mut self) -> (u16, String) {
        loop {
            match self.frame().await {
                Some((0x8, payload)) => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    return (code, String::from_utf8(payload[2..].to_vec()).unwrap());
                }
                Some(_) => continue,
                None => panic!("the connection ended without a close frame"),
            }
        }
    }

    /// Whether the server ends the TCP connection within `limit` (EOF or reset).
    async fn ended_within(&mut self, limit: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        tokio::time::timeout(limit, async {
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }
}

async fn chat(app: &TestApp) -> Raw {
    Raw::connect(app, "/ws/chat/raw/").await
}

async fn closed_with(bytes: &[u8], code: u16, reason: &str) {
    let app = TestApp::spawn();
    let mut raw = chat(&app).await;
    raw.send(bytes).await;
    assert_eq!(
        raw.close().await,
        (code, reason.to_string()),
        "for {bytes:02x?}"
    );
    // The client never answers: the server does not wait for it forever.
    assert!(raw.ended_within(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn protocol_errors_close_with_1002() {
    let unmasked = [0x81, 0x02, b'h', b'i'];
    let mut continuation = frame(0x80, b"x");
    continuation.truncate(continuation.len());
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (unmasked.to_vec(), "unmasked client frame"),
        (frame(0xC1, b"{}"), "reserved bits set"),
        (frame(0x83, b"x"), "reserved opcode"),
        (frame(0x89, &[b'p'; 126]), "invalid control frame"),
        (frame(0x09, b"p"), "invalid control frame"),
        (continuation, "continuation with nothing to continue"),
        (frame(0x88, &999u16.to_be_bytes()), "invalid close code"),
    ];
    for (bytes, reason) in cases {
        closed_with(&bytes, 1002, reason).await;
    }
}

#[tokio::test]
async fn fragments_are_reassembled_with_a_ping_between() {
    let app = TestApp::spawn();
    let mut raw = chat(&app).await;
    raw.send(&frame(0x01, br#"{"message":"#)).await;
    raw.send(&frame(0x89, b"mid")).await;
    raw.send(&frame(0x00, br#""frag"#)).await;
    raw.send(&frame(0x80, br#"ments"}"#)).await;
    assert_eq!(raw.frame().await, Some((0xA, b"mid".to_vec())));
    let got = raw.json().await;
    assert_eq!(
        (got["message"].clone(), got["user"].clone()),
        (json!("fragments"), json!("anonymous"))
    );
    // Split inside a character: still one valid message.
    let e_acute = "é".as_bytes();
    raw.send(&frame(
        0x01,
        &[br#"{"message":""#.as_slice(), &e_acute[..1]].concat(),
    ))
    .await;
    raw.send(&frame(0x80, &[&e_acute[1..], br#""}"#.as_slice()].concat()))
        .await;
    assert_eq!(raw.json().await["message"], "é");
}

#[tokio::test]
async fn oversized_messages_close_with_1009_at_once() {
    // Fragments adding up past the 64 KiB limit.
    let mut parts = frame(0x01, &[b'a'; 40_000]);
    parts.extend(frame(0x00, &[b'a'; 40_000]));
    closed_with(&parts, 1009, "frame too large").await;
    // Headers announcing 70 KB, 300 KB, 1 MB and 2^62 bytes: refused before the payload.
    for len in [70_000u64, 300_000, 1_000_000, 1 << 62] {
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        closed_with(&header, 1009, "frame too large").await;
    }
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007_also_when_reassembled() {
    closed_with(
        &frame(0x81, &[0xff, 0xfe]),
        1007,
        "invalid UTF-8 in text frame",
    )
    .await;
    let mut split = frame(0x01, b"{\"message\":\"");
    split.extend(frame(0x80, &[0xc3, 0x28, b'"', b'}']));
    closed_with(&split, 1007, "invalid UTF-8 in text frame").await;
}

#[tokio::test]
async fn binary_on_a_text_protocol_closes_with_1003() {
    closed_with(
        &frame(0x82, &[1, 2, 3]),
        1003,
        "binary frames are not supported",
    )
    .await;
}

#[tokio::test]
async fn pings_are_answered_and_counted_against_the_rate() {
    let app = TestApp::with(&[("HUB_RATE_PER_SEC", "50")]);
    let mut raw = chat(&app).await;
    raw.send(&frame(0x89, b"rtt")).await;
    assert_eq!(raw.frame().await, Some((0xA, b"rtt".to_vec())));
    // A flood of pings is a flood: over twice the rate in a second closes with 4101.
    let flood: Vec<u8> = (0..200).flat_map(|_| frame(0x89, b"")).collect();
    raw.send(&flood).await;
    assert_eq!(raw.close().await, (4101, "rate limit exceeded".into()));
}

#[tokio::test]
async fn the_close_handshake_has_the_server_close_tcp_first() {
    let app = TestApp::spawn();
    let mut raw = chat(&app).await;
    raw.send(&frame(0x88, &1000u16.to_be_bytes())).await;
    assert_eq!(
        raw.frame().await,
        Some((0x8, 1000u16.to_be_bytes().to_vec()))
    );
    // The client does not hang up: the server does, without lingering (RFC 6455 §7.1.1).
    assert!(raw.ended_within(Duration::from_millis(500)).await);

    // An empty close is echoed empty.
    let mut raw = chat(&app).await;
    raw.send(&frame(0x88, b"")).await;
    assert_eq!(raw.frame().await, Some((0x8, Vec::new())));
    assert!(raw.ended_within(Duration::from_millis(500)).await);
}

#[tokio::test]
async fn a_client_that_never_answers_the_close_is_cut_off() {
    let app = TestApp::with(&[
        ("HUB_HEARTBEAT_INTERVAL_MS", "100"),
        ("HUB_HEARTBEAT_TIMEOUT_MS", "300"),
    ]);
    let mut raw = chat(&app).await;
    // Silent past the heartbeat timeout: the server closes with 4201 ...
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(raw.close().await, (4201, "pong timeout".into()));
    // ... and, with no answer to its close, ends the connection after its close wait.
    assert!(raw.ended_within(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_that_still_reads_gets_4102_first() {
    let app = TestApp::with(&[
        ("HUB_SLOW_CONSUMER_BYTES", "262144"),
        ("HUB_RATE_PER_SEC", "100000"),
        ("HUB_CHAT_HISTORY", "0"),
    ]);
    let mut slow = chat(&app).await;
    // Keep what the kernel buffers for the slow reader modest, so the server's queue is what
    // fills (and not so small that TCP itself crawls).
    socket2::SockRef::from(&slow.stream)
        .set_recv_buffer_size(256 * 1024)
        .unwrap();
    // It reads, a frame a millisecond at best: slower than the room sends, but it keeps
    // reading.
    let reader = tokio::spawn(async move {
        let mut n = 0;
        loop {
            match slow.frame().await {
                Some((0x8, payload)) => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    return (code, String::from_utf8(payload[2..].to_vec()).unwrap());
                }
                Some(_) => {
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                None => panic!("reset before the close frame arrived after {n} frames"),
            }
        }
    });
    // The publisher reads its own echoes every 50 messages, so it is no slow reader itself.
    let mut publisher = app.ws("/ws/chat/raw/").await;
    let frame = json!({ "message": "x".repeat(4000) }).to_string();
    for _ in 0..60 {
        for _ in 0..50 {
            publisher.send_text(&frame).await;
        }
        for _ in 0..50 {
            publisher.recv_text().await;
        }
    }
    let closed = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the slow reader was closed")
        .unwrap();
    assert_eq!(closed, (4102, "slow consumer".into()));
    assert_eq!(app.metric("hub_slow_consumer_evictions_total").await, 1.0);
}
