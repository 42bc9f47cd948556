//! RFC 6455 frames: the decoder for what clients send and the encoder for what the server
//! writes.
//!
//! The decoder is strict where the RFC says MUST and tells the session which close code a
//! violation earns: 1002 for protocol errors (unmasked frames, reserved bits or opcodes,
//! fragmented or oversized control frames, a continuation with nothing to continue, a new
//! message in the middle of a fragmented one, a close code that may not be sent), 1009 for a
//! message over the limit — at once when a frame header announces more than the limit, before
//! a byte of its payload is read — and 1007 for text that is not UTF-8. Fragmented messages are
//! reassembled, with control frames allowed in between. A data frame whose length field is
//! longer than needed is read (it costs the sender bytes, not the server); a control frame's
//! length must fit its first byte, as the RFC says.
//!
//! The encoder writes a frame once into one [`Bytes`]: every member of a room is handed the
//! same reference-counted frame, header included.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::CloseCode;

/// Frame opcodes (RFC 6455 §5.2).
mod op {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A whole message or control frame from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message, reassembled and checked to be UTF-8.
    Text(ByteString),
    /// A binary message, reassembled.
    Binary(Bytes),
    /// A ping, to be answered with the same payload.
    Ping(Bytes),
    /// A pong (an answer to the server's ping, or unsolicited).
    Pong(Bytes),
    /// A close frame: its code and reason, if it had any.
    Close(Option<(u16, String)>),
}

/// Why the connection must be closed, and with which code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// The close code the RFC asks for.
    pub code: CloseCode,
    /// A short reason for the close frame.
    pub reason: &'static str,
}

impl Violation {
    fn protocol(reason: &'static str) -> Violation {
        Violation {
            code: CloseCode::Protocol,
            reason,
        }
    }

    fn too_big() -> Violation {
        Violation {
            code: CloseCode::TooBig,
            reason: "frame too large",
        }
    }
}

/// A fragmented message being put back together.
struct Partial {
    text: bool,
    data: BytesMut,
}

/// Decodes client frames from bytes as they arrive.
pub struct Decoder {
    buf: BytesMut,
    max_message: usize,
    partial: Option<Partial>,
    /// Wire bytes of the fragments of `partial` so far.
    partial_wire: usize,
}

/// A decoded item and the bytes its frames took on the wire.
pub type Decoded = (Incoming, usize);

impl Decoder {
    /// A decoder refusing messages (and frames) over `max_message` payload bytes.
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            max_message,
            partial: None,
            partial_wire: 0,
        }
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received and not yet part of a returned item.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.partial.as_ref().map_or(0, |p| p.data.len())
    }

    /// The next whole item, `Ok(None)` when more bytes are needed.
    pub fn decode(&mut self) -> Result<Option<Decoded>, Violation> {
        loop {
            let Some(header) = self.header()? else {
                return Ok(None);
            };
            let total = header.len + header.payload;
            if self.buf.len() < total {
                self.buf.reserve(total - self.buf.len());
                return Ok(None);
            }
            self.buf.advance(header.len);
            let mut payload = self.buf.split_to(header.payload);
            unmask(&mut payload, header.mask);
            let wire = total;
            match header.opcode {
                op::PING => return Ok(Some((Incoming::Ping(payload.freeze()), wire))),
                op::PONG => return Ok(Some((Incoming::Pong(payload.freeze()), wire))),
                op::CLOSE => return close(payload.freeze()).map(|c| Some((c, wire))),
                op::TEXT | op::BINARY => {
                    if self.partial.is_some() {
                        return Err(Violation::protocol("new message inside a fragmented one"));
                    }
                    let text = header.opcode == op::TEXT;
                    if header.fin {
                        return message(text, payload).map(|m| Some((m, wire)));
                    }
                    self.partial = Some(Partial {
                        text,
                        data: payload,
                    });
                    self.partial_wire = wire;
                }
                op::CONTINUATION => {
                    let Some(partial) = self.partial.as_mut() else {
                        return Err(Violation::protocol("continuation with nothing to continue"));
                    };
                    if partial.data.len() + payload.len() > self.max_message {
                        return Err(Violation::too_big());
                    }
                    partial.data.unsplit(payload);
                    self.partial_wire += wire;
                    if header.fin {
                        let partial = self.partial.take().expect("checked above");
                        let wire = std::mem::take(&mut self.partial_wire);
                        return message(partial.text, partial.data).map(|m| Some((m, wire)));
                    }
                }
                _ => unreachable!("header() refuses other opcodes"),
            }
        }
    }

    /// Parses the header at the front of the buffer, checking it as far as it goes.
    fn header(&self) -> Result<Option<Header>, Violation> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv, opcode) = (b[0] & 0x80 != 0, b[0] & 0x70, b[0] & 0x0F);
        let (masked, len7) = (b[1] & 0x80 != 0, b[1] & 0x7F);
        if rsv != 0 {
            return Err(Violation::protocol("reserved bits set"));
        }
        let control = opcode & 0x08 != 0;
        match opcode {
            op::CONTINUATION | op::TEXT | op::BINARY | op::CLOSE | op::PING | op::PONG => {}
            _ => return Err(Violation::protocol("reserved opcode")),
        }
        if !masked {
            return Err(Violation::protocol("unmasked client frame"));
        }
        if control && (!fin || len7 > 125) {
            return Err(Violation::protocol("invalid control frame"));
        }
        let (extra, payload) = match len7 {
            126 if b.len() < 4 => return Ok(None),
            126 => (2, u64::from(u16::from_be_bytes([b[2], b[3]]))),
            127 if b.len() < 10 => return Ok(None),
            127 => {
                let len = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
                if len >> 63 != 0 {
                    return Err(Violation::protocol("length with the high bit set"));
                }
                (8, len)
            }
            n => (0, u64::from(n)),
        };
        if payload > self.max_message as u64 {
            return Err(Violation::too_big());
        }
        let len = 2 + extra + 4;
        if b.len() < len {
            return Ok(None);
        }
        let mask = b[len - 4..len].try_into().expect("4 bytes");
        Ok(Some(Header {
            fin,
            opcode,
            mask,
            len,
            payload: payload as usize,
        }))
    }
}

struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Header bytes, mask key included.
    len: usize,
    /// Payload bytes.
    payload: usize,
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

fn message(text: bool, data: BytesMut) -> Result<Incoming, Violation> {
    if !text {
        return Ok(Incoming::Binary(data.freeze()));
    }
    ByteString::try_from(data.freeze())
        .map(Incoming::Text)
        .map_err(|_| Violation {
            code: CloseCode::InvalidPayload,
            reason: "invalid UTF-8 in text frame",
        })
}

/// Codes a peer may put in a close frame (RFC 6455 §7.4, the IANA registry).
fn sendable(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn close(payload: Bytes) -> Result<Incoming, Violation> {
    match payload.len() {
        0 => Ok(Incoming::Close(None)),
        1 => Err(Violation::protocol("close payload of one byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !sendable(code) {
                return Err(Violation::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(&payload[2..]).map_err(|_| Violation {
                code: CloseCode::InvalidPayload,
                reason: "invalid UTF-8 in close reason",
            })?;
            Ok(Incoming::Close(Some((code, reason.to_string()))))
        }
    }
}

/// Writes the header of a final, unmasked frame into `dst`, which is exactly
/// [`header_len`]`(len)` bytes.
fn write_header(dst: &mut [u8], opcode: u8, len: usize) {
    dst[0] = 0x80 | opcode;
    match len {
        0..=125 => dst[1] = len as u8,
        126..=65_535 => {
            dst[1] = 126;
            dst[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            dst[1] = 127;
            dst[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

/// Writes a text frame's header for a payload of `len` bytes into `dst` (exactly
/// [`header_len`]`(len)` bytes), for payloads serialized in place after it.
pub fn write_text_header(dst: &mut [u8], len: usize) {
    write_header(dst, op::TEXT, len);
}

/// A server frame (unmasked, final) with `payload`, encoded once.
fn encode(opcode: u8, payload: &[u8]) -> Bytes {
    let header = header_len(payload.len());
    let mut out = BytesMut::zeroed(header);
    write_header(&mut out, opcode, payload.len());
    out.put_slice(payload);
    out.freeze()
}

/// How many header bytes [`encode`] puts before a payload of `len` bytes.
pub fn header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    }
}

/// A text frame.
pub fn text(payload: &[u8]) -> Bytes {
    encode(op::TEXT, payload)
}

/// A ping frame.
pub fn ping(payload: &[u8]) -> Bytes {
    encode(op::PING, payload)
}

/// A pong frame answering a ping with `payload`.
pub fn pong(payload: &[u8]) -> Bytes {
    encode(op::PONG, payload)
}

/// A close frame; the reason is cut to fit a control frame (123 bytes) on a character
/// boundary.
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(op::CLOSE, &payload)
}

/// An empty close frame, echoing a client's close that carried no code.
pub fn close_empty() -> Bytes {
    encode(op::CLOSE, &[])
}

/// A client frame as browsers send it — `first` is FIN, RSV and opcode, the payload masked
/// with `mask`, the length encoded minimally — for tests and load generators that speak frames
/// by hand (the hub itself only reads these).
pub fn masked(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=65_535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(first: u8, payload: &[u8]) -> Vec<u8> {
        masked(first, payload, [0x37, 0xfa, 0x21, 0x3d])
    }

    fn decode_all(bytes: &[u8], max: usize) -> Result<Vec<Incoming>, Violation> {
        let mut d = Decoder::new(max);
        d.feed(bytes);
        let mut out = Vec::new();
        while let Some((item, _)) = d.decode()? {
            out.push(item);
        }
        Ok(out)
    }

    fn violation(bytes: &[u8]) -> (u16, &'static str) {
        let v = decode_all(bytes, 1024).unwrap_err();
        (v.code.code(), v.reason)
    }

    #[test]
    fn reads_messages_and_control_frames_byte_by_byte() {
        let mut wire = client(0x81, b"hello");
        wire.extend(client(0x89, b"p"));
        wire.extend(client(0x82, &[1, 2, 3]));
        wire.extend(client(0x88, &[0x03, 0xe8, b'o', b'k']));
        let mut d = Decoder::new(1024);
        let mut got = Vec::new();
        for b in &wire {
            d.feed(&[*b]);
            while let Some((item, _)) = d.decode().unwrap() {
                got.push(item);
            }
        }
        assert_eq!(
            got,
            [
                Incoming::Text("hello".into()),
                Incoming::Ping(Bytes::from_static(b"p")),
                Incoming::Binary(Bytes::from_static(&[1, 2, 3])),
                Incoming::Close(Some((1000, "ok".into()))),
            ]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn reassembles_fragments_with_a_ping_between() {
        let mut wire = client(0x01, b"hel");
        wire.extend(client(0x89, b"x"));
        wire.extend(client(0x80, b"lo"));
        let mut d = Decoder::new(1024);
        d.feed(&wire);
        assert_eq!(
            d.decode().unwrap(),
            Some((Incoming::Ping(Bytes::from_static(b"x")), 7))
        );
        assert_eq!(
            d.decode().unwrap(),
            Some((Incoming::Text("hello".into()), 9 + 8))
        );
    }

    #[test]
    fn protocol_errors_are_1002() {
        assert_eq!(
            violation(&[0x81, 0x01, b'x']),
            (1002, "unmasked client frame")
        );
        assert_eq!(violation(&client(0xC1, b"x")), (1002, "reserved bits set"));
        assert_eq!(violation(&client(0x83, b"x")), (1002, "reserved opcode"));
        assert_eq!(
            violation(&client(0x89, &[0; 126])),
            (1002, "invalid control frame")
        );
        assert_eq!(
            violation(&client(0x09, b"x")),
            (1002, "invalid control frame")
        );
        assert_eq!(
            violation(&client(0x80, b"x")),
            (1002, "continuation with nothing to continue")
        );
        let mut two = client(0x01, b"a");
        two.extend(client(0x81, b"b"));
        assert_eq!(
            violation(&two),
            (1002, "new message inside a fragmented one")
        );
        assert_eq!(
            violation(&client(0x88, &[0x03, 0xe7])),
            (1002, "invalid close code")
        );
        assert_eq!(
            violation(&client(0x88, &[0x03])),
            (1002, "close payload of one byte")
        );
    }

    #[test]
    fn size_and_encoding_errors() {
        // A header announcing 2^62 bytes is refused before any payload arrives.
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
        assert_eq!(violation(&huge), (1009, "frame too large"));
        let mut parts = client(0x01, &[b'a'; 600]);
        parts.extend(client(0x80, &[b'a'; 600]));
        assert_eq!(violation(&parts), (1009, "frame too large"));
        assert_eq!(
            violation(&client(0x81, &[0xff, 0xfe])),
            (1007, "invalid UTF-8 in text frame")
        );
        // Split inside a character across fragments is fine.
        let mut split = client(0x01, &[0xc3]);
        split.extend(client(0x80, &[0xa9]));
        assert_eq!(
            decode_all(&split, 1024).unwrap(),
            [Incoming::Text("é".into())]
        );
    }

    #[test]
    fn non_minimal_lengths_are_read_and_counted_exactly() {
        // A data frame may spend eight bytes on a short length; a control frame may not
        // (its length must fit the first byte).
        let mut frame = vec![0x81, 0x80 | 127];
        frame.extend_from_slice(&2u64.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 0, b'h', b'i']);
        let mut d = Decoder::new(1024);
        d.feed(&frame);
        assert_eq!(d.decode().unwrap(), Some((Incoming::Text("hi".into()), 16)));
        let mut ping = vec![0x89, 0x80 | 127];
        ping.extend_from_slice(&0u64.to_be_bytes());
        ping.extend_from_slice(&[0; 4]);
        assert_eq!(violation(&ping), (1002, "invalid control frame"));
    }

    #[test]
    fn server_frames_are_encoded_once_with_minimal_lengths() {
        assert_eq!(&text(b"hi")[..], &[0x81, 2, b'h', b'i']);
        let mid = text(&[b'x'; 300]);
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        assert_eq!(header_len(300), 4);
        let big = text(&vec![b'x'; 70_000]);
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(big.len(), 70_010);
        assert_eq!(&close_frame(1000, "")[..], &[0x88, 2, 0x03, 0xe8]);
        let long = "é".repeat(100);
        let frame = close_frame(4102, &long);
        assert_eq!(frame.len(), 2 + 2 + 122);
    }
}
