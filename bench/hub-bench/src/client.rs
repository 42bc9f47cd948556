//! A lean WebSocket client: the HTTP upgrade, then frames parsed in place from one read buffer.
//!
//! Why not tokio-tungstenite's stream: at a million deliveries a second the generator, on its
//! one core, must spend well under a microsecond per frame. A `Stream` of `Message`s costs an
//! owned message, UTF-8 validation and a poll per frame; here one `read` fills a buffer with
//! hundreds of frames and the caller sees each text payload as a borrowed slice. Server frames
//! are unmasked, so parsing is a few header bytes. Only what the peers use is handled: text
//! (fragmented or not), ping (answered with pong), pong, close. tungstenite still provides the
//! handshake key and its expected answer, so the upgrade is checked as any client would.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::handshake::{client::generate_key, derive_accept_key};

/// Bytes of read buffer for connections that receive a lot (fan-out subscribers).
pub const BIG_BUFFER: usize = 64 * 1024;
/// Bytes of read buffer for connections that receive little (pairs, idle).
pub const SMALL_BUFFER: usize = 4 * 1024;
/// The longest response head the upgrade accepts.
const MAX_HEAD: usize = 16 * 1024;

/// The write half; shared between a sender and its reader, which answers pings through it.
pub type SharedWriter = Arc<Mutex<Writer>>;

/// Sends masked frames (clients must mask, RFC 6455 §5.3).
pub struct Writer {
    /// The socket's write half.
    half: OwnedWriteHalf,
    /// xorshift state for masking keys: unpredictable enough for a benchmark, and free.
    mask_state: u32,
    /// One frame being assembled, reused so a send allocates nothing.
    frame: Vec<u8>,
}

impl Writer {
    fn new(half: OwnedWriteHalf, seed: u32) -> Self {
        Self {
            half,
            mask_state: seed | 1,
            frame: Vec::with_capacity(256),
        }
    }

    /// Sends one text frame.
    pub async fn text(&mut self, payload: &[u8]) -> io::Result<()> {
        self.send(0x1, payload).await
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.mask_state ^= self.mask_state << 13;
        self.mask_state ^= self.mask_state >> 17;
        self.mask_state ^= self.mask_state << 5;
        let mask = self.mask_state.to_be_bytes();
        self.frame.clear();
        encode_masked(&mut self.frame, opcode, payload, mask);
        self.half.write_all(&self.frame).await
    }
}

/// Appends one complete, masked client frame to `out`.
fn encode_masked(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// One server frame's header, once enough bytes have arrived to read it.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    fin: bool,
    opcode: u8,
    /// Where the payload starts, from the frame's first byte.
    offset: usize,
    len: usize,
}

/// Reads a frame header from the start of `buf`; `None` until all of it is there.
fn header(buf: &[u8]) -> Option<Header> {
    let (b0, b1) = (*buf.first()?, *buf.get(1)?);
    let masked = b1 & 0x80 != 0;
    let (len, mut offset) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (usize::from(n), 2),
    };
    // Servers do not mask; a masked frame would be a broken peer, skipped over all the same.
    if masked {
        offset += 4;
    }
    Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        offset,
        len,
    })
}

/// What [`Reader::read_batch`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    /// Frames were read; the connection is open.
    Open,
    /// The server closed the connection (close frame or end of stream).
    Closed,
}

/// Reads frames; text payloads are handed to the caller as borrowed slices.
pub struct Reader {
    /// The socket's read half.
    half: OwnedReadHalf,
    /// Received bytes; `buf[start..end]` not yet parsed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// A fragmented text message being put together (servers here rarely fragment).
    partial: Vec<u8>,
    /// Where pongs go.
    writer: SharedWriter,
}

impl Reader {
    /// Moves the unparsed tail (at most part of one frame) to the front and doubles the buffer
    /// when that tail fills it, so the next read always has room.
    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
    }

    /// One read from the socket into the buffer; 0 at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        self.make_room();
        let n = self.half.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads once from the socket (waiting for data), then calls `on_text` with every complete
    /// text message now in the buffer, in order. Pings are answered after the batch.
    pub async fn read_batch(&mut self, mut on_text: impl FnMut(&[u8])) -> io::Result<Batch> {
        if self.fill().await? == 0 {
            return Ok(Batch::Closed);
        }
        let mut pings: Vec<Vec<u8>> = Vec::new();
        let mut closed = false;
        while let Some(h) = header(&self.buf[self.start..self.end]) {
            let frame_end = self.start + h.offset + h.len;
            if frame_end > self.end {
                break;
            }
            let payload = &self.buf[self.start + h.offset..frame_end];
            self.start = frame_end;
            match h.opcode {
                0x1 if h.fin => on_text(payload),
                0x1 | 0x0 => {
                    self.partial.extend_from_slice(payload);
                    if h.fin {
                        on_text(&self.partial);
                        self.partial.clear();
                    }
                }
                0x8 => {
                    closed = true;
                    break;
                }
                0x9 => pings.push(payload.to_vec()),
                _ => {}
            }
        }
        if !pings.is_empty() {
            let mut w = self.writer.lock().await;
            for p in pings {
                w.send(0xA, &p).await?;
            }
        }
        Ok(if closed { Batch::Closed } else { Batch::Open })
    }

    /// The next text message, copied, leaving later ones buffered; for the few greeting
    /// frames of a handshake, not for measured traffic.
    pub async fn next_text(&mut self, within: Duration) -> Result<Vec<u8>, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(h) = header(&self.buf[self.start..self.end]) {
                let frame_end = self.start + h.offset + h.len;
                if frame_end > self.end {
                    break;
                }
                let payload = &self.buf[self.start + h.offset..frame_end];
                self.start = frame_end;
                if h.opcode == 0x1 && h.fin {
                    return Ok(payload.to_vec());
                }
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Ok(Ok(0)) => return Err("the server closed the connection".into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("no message within the time allowed".into()),
            }
        }
    }
}

/// `ws://host:port/path?query` split into the address and the request target.
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| format!("{url}: only ws:// URLs are supported"))?;
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

/// Opens a WebSocket connection; `buffer` is the read buffer's starting size.
pub async fn connect(url: &str, buffer: usize) -> Result<(Reader, SharedWriter), String> {
    let (host, target) = split_url(url)?;
    let mut tcp = TcpStream::connect(host)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    // Requests are single small frames; waiting to coalesce them would add latency.
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let key = generate_key();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    let mut head = vec![0u8; 1024];
    let mut end = 0;
    let head_len = loop {
        if end == head.len() {
            if head.len() >= MAX_HEAD {
                return Err(format!("connect {url}: response head too long"));
            }
            head.resize(head.len() * 2, 0);
        }
        let n = tcp
            .read(&mut head[end..])
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        if n == 0 {
            return Err(format!("connect {url}: closed during the upgrade"));
        }
        end += n;
        if let Some(i) = head[..end].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    check_upgrade(&String::from_utf8_lossy(&head[..head_len]), &key)
        .map_err(|e| format!("connect {url}: {e}"))?;
    // Frames the server sent right after its answer came with the head: keep them.
    let early = &head[head_len..end];
    let mut buf = vec![0u8; buffer.max(early.len() * 2).max(16)];
    buf[..early.len()].copy_from_slice(early);
    let (read_half, write_half) = tcp.into_split();
    let writer = Arc::new(Mutex::new(Writer::new(write_half, key_seed(&key))));
    let reader = Reader {
        half: read_half,
        buf,
        start: 0,
        end: early.len(),
        partial: Vec::new(),
        writer: writer.clone(),
    };
    Ok((reader, writer))
}

/// Connections opened together, in the order asked for.
pub struct Opened {
    /// One entry per URL asked for: the connection, or why it failed.
    pub conns: Vec<Option<(Reader, SharedWriter)>>,
    /// How many failed.
    pub failed: usize,
    /// Seconds the whole batch took.
    pub secs: f64,
}

/// Opens one connection per URL, `concurrency` handshakes at a time, each bounded by `within`.
/// Failures are counted and the first one is logged: a server that refuses some connections
/// is measured on the rest and its refusals reported, not aborted on.
pub async fn connect_all(
    urls: Vec<String>,
    buffer: usize,
    concurrency: usize,
    within: Duration,
) -> Opened {
    use futures_util::StreamExt;
    let started = std::time::Instant::now();
    type Attempt = (usize, Result<(Reader, SharedWriter), String>);
    let mut results: Vec<Attempt> = futures_util::stream::iter(urls.into_iter().enumerate())
        .map(|(i, url)| async move {
            let r = match tokio::time::timeout(within, connect(&url, buffer)).await {
                Ok(r) => r,
                Err(_) => Err(format!("connect {url}: no answer within {within:?}")),
            };
            (i, r)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if let Some((_, Err(e))) = results.iter().find(|(_, r)| r.is_err()) {
        eprintln!("hub-bench: {failed} connections failed, e.g. {e}");
    }
    Opened {
        conns: results.into_iter().map(|(_, r)| r.ok()).collect(),
        failed,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Checks the status line and `Sec-WebSocket-Accept` of an upgrade response.
fn check_upgrade(head: &str, key: &str) -> Result<(), String> {
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("101") {
        return Err(format!("upgrade refused: {status}"));
    }
    let expected = derive_accept_key(key.as_bytes());
    let accepted = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == expected
        })
    });
    if accepted {
        Ok(())
    } else {
        Err("missing or wrong Sec-WebSocket-Accept".into())
    }
}

/// A masking seed from the (random) handshake key, so connections mask differently.
fn key_seed(key: &str) -> u32 {
    key.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 65535 => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn headers_of_every_length_form() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let frame = server_frame(0x1, true, &vec![b'a'; len]);
            let h = header(&frame).unwrap();
            assert_eq!((h.fin, h.opcode, h.len), (true, 0x1, len));
            assert_eq!(h.offset + h.len, frame.len());
            assert_eq!(header(&frame[..h.offset - 1]), None);
        }
    }

    #[test]
    fn masked_frames_unmask_to_the_payload() {
        let mut out = Vec::new();
        let mask = [1, 2, 3, 4];
        encode_masked(&mut out, 0x1, b"{\"message\":\"hi\"}", mask);
        let h = header(&out).unwrap();
        assert_eq!(h.len, 16);
        let unmasked: Vec<u8> = out[h.offset..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(unmasked, b"{\"message\":\"hi\"}");
    }

    #[test]
    fn upgrade_answers_are_checked() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                    sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check_upgrade(good, key), Ok(()));
        assert!(check_upgrade("HTTP/1.1 403 Forbidden\r\n\r\n", key).is_err());
        assert!(check_upgrade(&good.replace("s3p", "xxx"), key).is_err());
        assert_eq!(
            split_url("ws://127.0.0.1:8000/ws/chat/a/?t=1"),
            Ok(("127.0.0.1:8000", "/ws/chat/a/?t=1"))
        );
    }

    /// Frames split across reads, fragments, pings and a close, against a real socket.
    #[tokio::test]
    async fn batches_deliver_whole_messages() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let key = head
                .lines()
                .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .trim()
                .to_string();
            let mut bytes = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\n\r\n",
                derive_accept_key(key.as_bytes())
            )
            .into_bytes();
            bytes.extend(server_frame(0x1, true, b"first"));
            bytes.extend(server_frame(0x9, true, b"p"));
            bytes.extend(server_frame(0x1, false, b"frag"));
            bytes.extend(server_frame(0x0, true, b"ment"));
            bytes.extend(server_frame(0x1, true, &vec![b'z'; 10_000]));
            bytes.extend(server_frame(0x8, true, &1000u16.to_be_bytes()));
            // Dribble it out so frames straddle reads.
            for chunk in bytes.chunks(7) {
                tcp.write_all(chunk).await.unwrap();
                tcp.flush().await.unwrap();
            }
            let mut pong = [0u8; 7];
            tcp.read_exact(&mut pong).await.unwrap();
            pong
        });
        let (mut reader, _writer) = connect(&format!("ws://{addr}/ws/chat/x/"), 64)
            .await
            .unwrap();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while reader.read_batch(|t| got.push(t.to_vec())).await.unwrap() == Batch::Open {}
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], b"first");
        assert_eq!(got[1], b"fragment");
        assert_eq!(got[2].len(), 10_000);
        let pong = server.await.unwrap();
        assert_eq!(pong[0], 0x8A, "a pong answers the ping");
    }
}
