//! The envelope on the wire between nodes: one line of JSON naming the event, a newline, then
//! the event's bytes exactly as local members received them.
//!
//! ```text
//! {"v":1,"o":"00abcdef01234567","t":"chat:lobby","k":42}\n{"message":"hi","user":"ann",…}
//! ```
//!
//! | header field | meaning |
//! |---|---|
//! | `v` | format version, 1 |
//! | `o` | the origin node's id (16 hex digits); a node drops envelopes of its own |
//! | `t` | the topic, `namespace:key` |
//! | `u` | present: only these users' connections receive it (presence keys); absent: everyone |
//! | `k` | the event's storage key, if it has one (duplicates after a catch-up are dropped by it) |
//! | `c` | `[code, reason]`: recipients are closed after the body (a guitar session closed) |
//!
//! The body is not re-escaped into the header: it is already JSON text and crosses as it is,
//! so a node forwards it to its members without parsing it.

use std::sync::Arc;

use bytestring::ByteString;
use serde::{Deserialize, Serialize};

use super::{Envelope, NodeId, RelayTarget};
use crate::hub::Topic;

/// Why bytes read from the relay channel are not an envelope.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// No newline between header and body.
    #[error("no header line")]
    NoHeader,
    /// The header is not the JSON object described above.
    #[error("bad header: {0}")]
    BadHeader(String),
    /// A version this node does not speak.
    #[error("unknown envelope version {0}")]
    Version(u32),
    /// The origin is not 16 hex digits.
    #[error("bad origin node id")]
    Origin,
    /// The topic has no namespace.
    #[error("bad topic")]
    Topic,
    /// The body is not UTF-8 (every event is JSON text).
    #[error("body is not UTF-8")]
    Body,
}

#[derive(Serialize, Deserialize)]
struct Header<'a> {
    v: u32,
    #[serde(borrow)]
    o: &'a str,
    #[serde(borrow)]
    t: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<(u16, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<String>,
}

/// The bytes to publish for `env`.
pub fn encode(env: &Envelope) -> Vec<u8> {
    let origin = env.origin.hex();
    let header = Header {
        v: 1,
        o: &origin,
        t: env.topic.as_str().into(),
        u: match &env.target {
            RelayTarget::All => None,
            RelayTarget::Users(keys) => Some(keys.iter().map(|k| k.to_string()).collect()),
        },
        k: env.key,
        c: env.close.as_ref().map(|(c, r)| (*c, r.to_string())),
        s: env.skip.as_ref().map(|s| s.to_string()),
    };
    let mut out = serde_json::to_vec(&header).expect("plain header serializes");
    out.reserve(env.body.len() + 1);
    out.push(b'\n');
    out.extend_from_slice(env.body.as_bytes());
    out
}

/// Reads what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let split = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(EnvelopeError::NoHeader)?;
    let header: Header<'_> = serde_json::from_slice(&bytes[..split])
        .map_err(|e| EnvelopeError::BadHeader(e.to_string()))?;
    if header.v != 1 {
        return Err(EnvelopeError::Version(header.v));
    }
    let origin = NodeId::parse(header.o).ok_or(EnvelopeError::Origin)?;
    let topic = Topic::parse(&header.t).ok_or(EnvelopeError::Topic)?;
    let body = ByteString::try_from(bytes::Bytes::copy_from_slice(&bytes[split + 1..]))
        .map_err(|_| EnvelopeError::Body)?;
    Ok(Envelope {
        origin,
        topic,
        body,
        target: match header.u {
            None => RelayTarget::All,
            Some(keys) => RelayTarget::Users(keys.into_iter().map(Arc::from).collect()),
        },
        key: header.k,
        close: header.c.map(|(code, reason)| (code, Arc::from(reason))),
        skip: header.s.map(Arc::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            origin: NodeId(42),
            topic: Topic::new("bc", "chat:1,2"),
            body: ByteString::from_static(r#"{"type":"message","data":{"x":"line\nbreak"}}"#),
            target: RelayTarget::Users(vec!["7".into(), "9".into()]),
            key: Some(-3),
            close: Some((4003, "session closed".into())),
            skip: Some("123.4".into()),
        }
    }

    #[test]
    fn round_trips_and_reads_as_documented() {
        let env = sample();
        let bytes = encode(&env);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            "{\"v\":1,\"o\":\"000000000000002a\",\"t\":\"bc:chat:1,2\",\"u\":[\"7\",\"9\"],\
             \"k\":-3,\"c\":[4003,\"session closed\"],\"s\":\"123.4\"}\n\
             {\"type\":\"message\",\"data\":{\"x\":\"line\\nbreak\"}}"
        );
        assert_eq!(decode(&bytes), Ok(env));
        let plain = Envelope {
            target: RelayTarget::All,
            key: None,
            close: None,
            skip: None,
            ..sample()
        };
        assert_eq!(decode(&encode(&plain)), Ok(plain));
    }

    #[test]
    fn refuses_what_is_not_an_envelope() {
        assert_eq!(decode(b"hello"), Err(EnvelopeError::NoHeader));
        assert!(matches!(
            decode(b"not json\n{}"),
            Err(EnvelopeError::BadHeader(_))
        ));
        assert_eq!(
            decode(b"{\"v\":2,\"o\":\"000000000000002a\",\"t\":\"a:b\"}\n{}"),
            Err(EnvelopeError::Version(2))
        );
        assert_eq!(
            decode(b"{\"v\":1,\"o\":\"x\",\"t\":\"a:b\"}\n{}"),
            Err(EnvelopeError::Origin)
        );
        assert_eq!(
            decode(b"{\"v\":1,\"o\":\"000000000000002a\",\"t\":\"nocolon\"}\n{}"),
            Err(EnvelopeError::Topic)
        );
        assert_eq!(
            decode(b"{\"v\":1,\"o\":\"000000000000002a\",\"t\":\"a:b\"}\n\xff"),
            Err(EnvelopeError::Body)
        );
    }
}
