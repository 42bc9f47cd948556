//! What rooms carry: events serialized once, who they are for, and presence announcements.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use bytestring::ByteString;
use serde::Serialize;

use super::conn::ConnId;
use super::frame;
use super::topic::Topic;
use crate::error::CloseCode;
use crate::relay::{Envelope, NodeId, RelayTarget};

/// A published event, serialized once by the publisher and encoded once as a WebSocket text
/// frame: every recipient's socket is handed a clone of the same reference-counted frame.
#[derive(Debug, Clone)]
pub struct Event {
    /// The JSON text (the frame's payload, sharing its allocation).
    pub body: ByteString,
    /// The whole text frame, header included.
    pub frame: Bytes,
    /// The room's sequence number (0 until a room assigned one).
    pub seq: u64,
    /// A key from storage, unique within the topic (e.g. a chat message id), so that a session
    /// that replayed stored history up to some key can drop live events it already showed, and
    /// a room catching up after a relay gap can drop events its members already received. A
    /// dialect whose topic carries several kinds of stored event keeps them apart in the low
    /// bits (see [`Event::stored`]).
    pub key: Option<i64>,
    /// When the event entered the hub, for the delivery latency histogram.
    pub born: Instant,
    /// Set on an event that ends its recipients' connections (a session closed by its owner):
    /// each recipient writes the body, then closes with this code and reason.
    pub close: Option<(CloseCode, Arc<str>)>,
    /// A recipient its dialect should leave out, named in the dialect's own terms (a Pusher
    /// `socket_id`): opaque to the hub and carried across nodes, so that the frame stays the
    /// one every other recipient writes as is.
    pub skip: Option<Arc<str>>,
}

impl Event {
    /// Serializes `value` once into a new event, straight after room left for the frame
    /// header, so the frame costs no second copy.
    pub fn json<T: Serialize>(value: &T) -> Event {
        const ROOM: usize = 10;
        let mut buf = vec![0u8; ROOM];
        serde_json::to_writer(&mut buf, value).expect("event types serialize infallibly");
        let len = buf.len() - ROOM;
        let start = ROOM - frame::header_len(len);
        frame::write_text_header(&mut buf[start..ROOM], len);
        Event::framed(Bytes::from(buf).slice(start..), ROOM - start)
    }

    /// Wraps text that is already JSON.
    pub fn text(text: impl Into<ByteString>) -> Event {
        let text: ByteString = text.into();
        let header = frame::header_len(text.len());
        Event::framed(frame::text(text.as_bytes()), header)
    }

    /// An event around an encoded text frame whose payload starts at `header`.
    fn framed(frame: Bytes, header: usize) -> Event {
        // SAFETY: the payload is the bytes of a `str` (text) or of serde_json's output,
        // which is UTF-8.
        let body = unsafe { ByteString::from_bytes_unchecked(frame.slice(header..)) };
        Event {
            body,
            frame,
            seq: 0,
            key: None,
            born: Instant::now(),
            close: None,
            skip: None,
        }
    }

    /// Names a recipient the dialect leaves out (see [`Event::skip`]).
    pub fn skipping(mut self, who: &str) -> Event {
        self.skip = Some(who.into());
        self
    }

    /// Makes this the last event its recipients receive before their connection is closed.
    pub fn closing(mut self, code: CloseCode, reason: &'static str) -> Event {
        self.close = Some((code, reason.into()));
        self
    }

    /// Sets the storage key.
    pub fn with_key(mut self, key: i64) -> Event {
        self.key = Some(key);
        self
    }

    /// Sets the storage key of the `kind`-th (0–7) kind of stored event a topic carries, for
    /// the record `id`: `id * 8 + kind`, unique within the topic and ordered by id within a kind.
    pub fn stored(self, kind: u8, id: i64) -> Event {
        debug_assert!(kind < 8);
        self.with_key(id.saturating_mul(8) + i64::from(kind))
    }
}

impl Envelope {
    /// The envelope that carries `event` of `topic` to other nodes. A target naming one
    /// connection means nothing on another node: everyone there receives it.
    pub fn of(origin: NodeId, topic: Topic, event: &Event, target: &Target) -> Envelope {
        Envelope {
            origin,
            topic,
            body: event.body.clone(),
            target: match target {
                Target::Users(keys) => RelayTarget::Users(keys.clone()),
                Target::All | Target::AllExcept(_) => RelayTarget::All,
            },
            key: event.key,
            close: event
                .close
                .as_ref()
                .map(|(code, reason)| (code.code(), reason.clone())),
            skip: event.skip.clone(),
        }
    }

    /// The event as this node's members receive it, and whom it is for.
    pub fn event(self) -> (Event, Target) {
        let mut event = Event::text(self.body);
        event.key = self.key;
        event.skip = self.skip;
        event.close = self
            .close
            .and_then(|(code, reason)| Some((CloseCode::from_code(code)?, reason)));
        let target = match self.target {
            RelayTarget::All => Target::All,
            RelayTarget::Users(keys) => Target::Users(keys),
        };
        (event, target)
    }
}

/// A member's identity as presence sees it: one entry per `key`, however many connections.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UserRef {
    /// Presence key: the user id for authenticated users, `anon-<conn>` otherwise (every
    /// anonymous connection is its own user).
    #[serde(skip)]
    pub key: Arc<str>,
    /// The numeric id, `None` for anonymous members.
    pub id: Option<i64>,
    /// The display name.
    pub name: Arc<str>,
}

impl UserRef {
    /// An authenticated user.
    pub fn user(id: i64, name: &str) -> UserRef {
        UserRef {
            key: id.to_string().into(),
            id: Some(id),
            name: name.into(),
        }
    }

    /// An anonymous connection, its own presence entry.
    pub fn anonymous(conn: ConnId, name: &str) -> UserRef {
        UserRef {
            key: format!("anon-{}", conn.0).into(),
            id: None,
            name: name.into(),
        }
    }
}

/// Which members of a room receive an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every member.
    All,
    /// Every member but one connection (typically the sender's).
    AllExcept(ConnId),
    /// Only the connections of these users (presence keys).
    Users(Vec<Arc<str>>),
}

impl Target {
    /// Whether a member with this connection and user key is addressed.
    pub fn includes(&self, conn: ConnId, user_key: &str) -> bool {
        match self {
            Target::All => true,
            Target::AllExcept(c) => *c != conn,
            Target::Users(keys) => keys.iter().any(|k| &**k == user_key),
        }
    }
}

/// When a presence announcement is sent to the other members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceWhen {
    /// On every join or leave of a connection.
    Always,
    /// Only when the user's first connection joins or its last one leaves.
    FirstOrLast,
}

/// A dialect's join or leave announcement, serialized ahead of time so the room can send it
/// (also when it evicts a member that can no longer speak for itself).
#[derive(Debug, Clone)]
pub struct Announce {
    /// The event to send to the other members.
    pub event: Event,
    /// Whether every connection or only a user's first/last counts.
    pub when: AnnounceWhen,
    /// Run when the room makes the announcement, on the node that makes it: once per
    /// announcement across every node (with a shared presence, a user's first arrival or last
    /// departure anywhere), so a dialect can tell the world outside exactly once (a webhook).
    pub said: Option<Said>,
}

/// Work a room runs right after it made an announcement ([`Announce::said`]). It runs on the
/// room's thread, so it must be quick and never wait (queue something, count something).
#[derive(Clone)]
pub struct Said(Arc<dyn Fn() + Send + Sync>);

impl Said {
    /// Wraps `work`.
    pub fn new(work: impl Fn() + Send + Sync + 'static) -> Said {
        Said(Arc::new(work))
    }

    /// Runs it.
    pub fn run(&self) {
        (self.0)()
    }
}

impl std::fmt::Debug for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Said(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_address_all_all_but_one_or_some_users() {
        let (a, b) = (ConnId(1), ConnId(2));
        assert!(Target::All.includes(a, "7"));
        assert!(!Target::AllExcept(a).includes(a, "7"));
        assert!(Target::AllExcept(a).includes(b, "7"));
        let users = Target::Users(vec!["7".into(), "9".into()]);
        assert!(users.includes(a, "7") && users.includes(b, "9"));
        assert!(!users.includes(a, "8"));
    }

    #[test]
    fn events_share_one_frame_and_body() {
        let e = Event::json(&serde_json::json!({"k": "v"}));
        let copy = e.clone();
        assert_eq!(e.frame.as_ptr(), copy.frame.as_ptr());
        assert_eq!(&*copy.body, r#"{"k":"v"}"#);
        assert_eq!(&copy.frame[..], frame::text(br#"{"k":"v"}"#));
        let long = "x".repeat(70_000);
        let e = Event::json(&long);
        assert_eq!(&e.frame[..], frame::text(format!("\"{long}\"").as_bytes()));
        assert_eq!(e.body.len(), 70_002);
        assert_eq!(Event::text("é").frame, frame::text("é".as_bytes()));
    }
}
