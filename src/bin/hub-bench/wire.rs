//! Connections and the timestamp marker carried in every measured message.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client connection.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// Its write half.
pub type Sink = SplitSink<Ws, Message>;
/// Its read half.
pub type Source = SplitStream<Ws>;

/// Nanoseconds since the Unix epoch: sender and receiver share the machine's clock.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A measured message's text: `b:<nanos>:<seq>:` padded with `x` to `size` bytes.
pub fn stamped(seq: u64, size: usize) -> String {
    let mut text = format!("b:{}:{seq}:", now_nanos());
    while text.len() < size {
        text.push('x');
    }
    text
}

/// The chat frame carrying `text`.
pub fn chat_frame(text: &str) -> String {
    format!("{{\"message\":\"{text}\"}}")
}

/// The send time in a received frame, found by a byte search for the marker (no JSON parse).
pub fn find_stamp(frame: &[u8]) -> Option<u64> {
    let at = frame.windows(2).position(|w| w == b"b:")?;
    let digits = &frame[at + 2..];
    let end = digits.iter().position(|c| !c.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Whether a received frame is replayed history (skipped by receivers).
pub fn is_history(frame: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"history\":true";
    frame.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// Opens a connection, split into halves.
pub async fn connect(url: &str) -> Result<(Sink, Source), String> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect {url}: {e}"))?;
    Ok(ws.split())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_found_in_any_frame() {
        let text = stamped(7, 64);
        assert_eq!(text.len(), 64);
        let frame = format!("{{\"message\":\"{text}\",\"user\":\"anonymous\",\"id\":3}}");
        let nanos = find_stamp(frame.as_bytes()).unwrap();
        assert!(nanos > 1_600_000_000_000_000_000);
        assert!(!is_history(frame.as_bytes()));
        assert!(is_history(b"{\"message\":\"b:1:1:\",\"history\":true}"));
        assert_eq!(find_stamp(b"{\"message\":\"hello\"}"), None);
    }
}
