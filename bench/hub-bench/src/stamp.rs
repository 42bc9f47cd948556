//! The marker every measured message carries, and how receivers find it without parsing JSON.
//!
//! A measured message's text is `b:<send nanos>:<sender>:<seq>:` padded with `x` to the payload
//! size; a warm-up message's text is `w:<sender>:`. Every server here puts the text, unchanged,
//! in a JSON string, so the marker always follows a quote: receivers look for `"b:` and read
//! the digits after it, whatever other fields (`user`, `id`, `created_at`) surround it.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch: senders and receivers share the machine's clock, so a
/// send time written by one task is comparable with a receive time read by another.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What a receiver reads back from a measured message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// When the sender built the frame, nanoseconds since the epoch.
    pub sent_nanos: u64,
    /// Which sender (publisher or phone) sent it, so a sender can recognise its own echoes.
    pub sender: u32,
    /// The sender's sequence number.
    pub seq: u64,
}

/// The JSON around a message's text: everything before it (up to and including the opening
/// quote) and after it. Servers put the text back, unchanged, in a JSON string.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Up to and including the quote that opens the text.
    pub open: Cow<'static, [u8]>,
    /// From the quote that closes the text to the end of the frame.
    pub close: &'static [u8],
}

impl Shape {
    /// The chat protocol's `{"message":"…"}`.
    pub fn chat() -> Shape {
        Shape {
            open: Cow::Borrowed(b"{\"message\":\""),
            close: b"\"}",
        }
    }

    /// Writes a frame whose text is `b:<now>:<sender>:<seq>:xx…`, padded to `payload` bytes,
    /// into `out` (cleared first); `out` is reused so sending allocates nothing.
    pub fn stamped(&self, out: &mut Vec<u8>, sender: u32, seq: u64, payload: usize) {
        use std::io::Write;
        out.clear();
        out.extend_from_slice(&self.open);
        let text_start = out.len();
        let _ = write!(out, "b:{}:{sender}:{seq}:", now_nanos());
        let pad = payload.saturating_sub(out.len() - text_start);
        out.resize(out.len() + pad, b'x');
        out.extend_from_slice(self.close);
    }

    /// The frame of an unmeasured warm-up message from `sender`.
    pub fn warm(&self, sender: u32) -> Vec<u8> {
        let mut out = self.open.to_vec();
        out.extend_from_slice(format!("w:{sender}:").as_bytes());
        out.extend_from_slice(self.close);
        out
    }
}

/// Writes the chat frame `{"message":"b:<now>:<sender>:<seq>:xx…"}` into `out` (cleared first),
/// its text padded to `payload` bytes.
pub fn chat_frame(out: &mut Vec<u8>, sender: u32, seq: u64, payload: usize) {
    Shape::chat().stamped(out, sender, seq, payload);
}

/// Position just past the first `"` + `rest` in `hay`.
fn find_after_quote(hay: &[u8], rest: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == b'"') {
        let at = from + i + 1;
        if hay[at..].starts_with(rest) {
            return Some(at + rest.len());
        }
        from = at;
    }
    None
}

/// Reads decimal digits at the start of `bytes` up to a `:`; the number and what follows.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let end = bytes.iter().position(|&b| b == b':')?;
    if end == 0 || end > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in &bytes[..end] {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some((n, &bytes[end + 1..]))
}

/// The stamp in a received frame, if it carries one: the first `"b:` followed by a
/// well-formed stamp (another field's value may start with `b:` too).
pub fn find(frame: &[u8]) -> Option<Stamp> {
    let mut from = 0;
    while let Some(at) = find_after_quote(&frame[from..], b"b:") {
        let at = from + at;
        if let Some(stamp) = parse(&frame[at..]) {
            return Some(stamp);
        }
        from = at;
    }
    None
}

fn parse(text: &[u8]) -> Option<Stamp> {
    let (sent_nanos, rest) = number(text)?;
    let (sender, rest) = number(rest)?;
    let (seq, _) = number(rest)?;
    Some(Stamp {
        sent_nanos,
        sender: u32::try_from(sender).ok()?,
        seq,
    })
}

/// The sender of a warm-up message, if `frame` is one.
pub fn find_warm(frame: &[u8]) -> Option<u32> {
    let at = find_after_quote(frame, b"w:")?;
    number(&frame[at..]).and_then(|(n, _)| u32::try_from(n).ok())
}

/// Whether a received frame is replayed history (realtime-hub's `"history": true` on join);
/// such frames are not deliveries of this run.
pub fn is_history(frame: &[u8]) -> bool {
    find_after_quote(frame, b"history\":true").is_some()
        || find_after_quote(frame, b"history\": true").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_any_surrounding_fields() {
        let mut out = Vec::new();
        chat_frame(&mut out, 7, 42, 64);
        let frame = String::from_utf8(out).unwrap();
        let text = &frame["{\"message\":\"".len()..frame.len() - 2];
        assert_eq!(text.len(), 64);
        // The hub's shape: extra fields before and after the text.
        let hub = format!(
            "{{\"id\":17,\"type\":\"b:x\",\"message\":\"{text}\",\"user\":\"anonymous\",\
             \"created_at\":\"2026-11-24T10:00:00Z\"}}"
        );
        let stamp = find(hub.as_bytes()).unwrap();
        assert_eq!((stamp.sender, stamp.seq), (7, 42));
        assert!(stamp.sent_nanos > 1_600_000_000_000_000_000);
        assert!(!is_history(hub.as_bytes()));
        // Python's json.dumps puts a space after each colon.
        let django = format!("{{\"message\": \"{text}\", \"user\": \"anonymous\"}}");
        assert_eq!(find(django.as_bytes()), Some(stamp));
    }

    #[test]
    fn other_shapes_carry_the_same_stamp() {
        let shape = Shape {
            open: Cow::Borrowed(b"{\"data\":{\"m\":\""),
            close: b"\"}}",
        };
        let mut out = Vec::new();
        shape.stamped(&mut out, 3, 9, 40);
        let sent: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(sent["data"]["m"].as_str().unwrap().len(), 40);
        // The hub's broadcast frame around the same data.
        let got = format!(
            "{{\"type\":\"message\",\"sender\":{{\"name\":\"bench\",\"id\":1}},\"data\":{}}}",
            sent["data"]
        );
        let stamp = find(got.as_bytes()).unwrap();
        assert_eq!((stamp.sender, stamp.seq), (3, 9));
        assert_eq!(find_warm(&shape.warm(5)), Some(5));
    }

    #[test]
    fn history_warm_up_and_plain_text_are_told_apart() {
        assert!(is_history(b"{\"message\":\"b:1:0:1:\",\"history\":true}"));
        assert!(is_history(
            b"{\"message\": \"b:1:0:1:\", \"history\": true}"
        ));
        assert!(!is_history(b"{\"message\":\"b:1:0:1:\",\"history\":false}"));
        assert_eq!(find_warm(&Shape::chat().warm(3)), Some(3));
        assert_eq!(find(&Shape::chat().warm(3)), None);
        assert_eq!(find(b"{\"message\":\"hello b:1:2:3:\"}"), None);
        assert_eq!(find(b"{\"message\":\"b:12x:2:3:\"}"), None);
    }
}
