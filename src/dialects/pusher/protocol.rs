//! The frames of Pusher Channels protocol 7, both ways. Every frame is a JSON object
//! `{"event", "channel"?, "data"?, "user_id"?}`; the server's `data` is a JSON-encoded string
//! for `pusher:connection_established`, `pusher_internal:*` and published events, and an object
//! for `pusher:error`, `pusher:pong` and `pusher:subscription_error` (as soketi sends them;
//! pusher-js reads either).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// A frame from a client, before its event is looked at. `data` is kept as written, so a
/// client event passes on exactly what its sender sent.
#[derive(Debug, Deserialize)]
pub struct ClientFrame<'a> {
    /// `pusher:subscribe`, `pusher:ping`, `client-…`, …
    pub event: String,
    /// The channel of a client event.
    #[serde(default)]
    pub channel: Option<String>,
    /// The payload, as the client wrote it.
    #[serde(default, borrow)]
    pub data: Option<&'a RawValue>,
}

/// `pusher:subscribe`'s data (an object, or a string holding one, which some clients send).
#[derive(Debug, Deserialize)]
pub struct Subscribe {
    /// The channel name.
    pub channel: String,
    /// `key:signature` for private and presence channels; pusher-js sends `""` for public ones.
    #[serde(default)]
    pub auth: Option<String>,
    /// The presence member, as the JSON text the app signed.
    #[serde(default)]
    pub channel_data: Option<String>,
}

/// `pusher:unsubscribe`'s data.
#[derive(Debug, Deserialize)]
pub struct Unsubscribe {
    /// The channel name.
    pub channel: String,
}

/// Reads `data` as `T`, whether it is an object or a JSON string holding one.
pub fn data_as<T: DeserializeOwned>(data: Option<&RawValue>) -> Option<T> {
    let raw = data?.get();
    serde_json::from_str::<T>(raw).ok().or_else(|| {
        let inner: String = serde_json::from_str(raw).ok()?;
        serde_json::from_str(&inner).ok()
    })
}

/// A presence member as `channel_data` names it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// `user_id`, as a string (apps may send a number; ids and hash keys are strings).
    pub user_id: String,
    /// `user_info`, as JSON text (`null` when absent).
    pub user_info: String,
}

impl Member {
    /// Reads `channel_data`: a JSON object with a string or number `user_id` and any
    /// `user_info`.
    pub fn parse(channel_data: &str) -> Option<Member> {
        let value: Value = serde_json::from_str(channel_data).ok()?;
        let user_id = match value.get("user_id")? {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let user_info = value.get("user_info").cloned().unwrap_or(Value::Null);
        Some(Member {
            user_id,
            user_info: user_info.to_string(),
        })
    }
}

/// Why a frame from a client is refused: a `pusher:error` code and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The code, in the protocol's ranges.
    pub code: u16,
    /// What the client is told.
    pub message: &'static str,
}

/// The refusals the socket sends, by name.
pub mod refusal {
    use super::Refusal;

    /// A frame that is not a JSON object with an `event` (Reverb's code and words).
    pub const INVALID: Refusal = Refusal {
        code: 4200,
        message: "Invalid message format",
    };
    /// An event the server does not know.
    pub const UNKNOWN_EVENT: Refusal = Refusal {
        code: 4200,
        message: "Unknown event",
    };
    /// A client event when the app does not allow them.
    pub const CLIENT_EVENTS_DISABLED: Refusal = Refusal {
        code: 4301,
        message: "The app does not have client messaging enabled.",
    };
    /// A client event on a public or encrypted channel.
    pub const CLIENT_EVENT_CHANNEL: Refusal = Refusal {
        code: 4301,
        message: "Client events are only accepted on private and presence channels.",
    };
    /// A client event on a channel the socket is not subscribed to.
    pub const NOT_A_MEMBER: Refusal = Refusal {
        code: 4009,
        message: "The client is not a member of the specified channel.",
    };
    /// Client events over the app's rate.
    pub const CLIENT_EVENT_RATE: Refusal = Refusal {
        code: 4301,
        message: "The rate limit for sending client events exceeded the quota.",
    };
    /// A client event whose name or data is too long.
    pub const CLIENT_EVENT_TOO_BIG: Refusal = Refusal {
        code: 4301,
        message: "The client event is over the size limit.",
    };
    /// Frames over the connection's message rate.
    pub const RATE: Refusal = Refusal {
        code: 4301,
        message: "Rate limit exceeded",
    };
}

/// `pusher:error` with a code.
pub fn error(refusal: Refusal) -> String {
    fatal(refusal.code, refusal.message)
}

/// `pusher:error` for a socket about to be closed with `code` (unknown app, quota, origin).
pub fn fatal(code: u16, message: &str) -> String {
    json!({"event": "pusher:error", "data": {"code": code, "message": message}}).to_string()
}

/// The greeting.
pub fn connection_established(socket_id: &str, activity_timeout: u64) -> String {
    let data = json!({"socket_id": socket_id, "activity_timeout": activity_timeout}).to_string();
    json!({"event": "pusher:connection_established", "data": data}).to_string()
}

/// The answer to `pusher:ping`.
pub const PONG: &str = r#"{"event":"pusher:pong","data":{}}"#;

/// The server's ping after a silence.
pub const PING: &str = r#"{"event":"pusher:ping","data":{}}"#;

/// `pusher_internal:subscription_succeeded` for a public or private channel.
pub fn subscribed(channel: &str) -> String {
    json!({"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"})
        .to_string()
}

/// `pusher_internal:subscription_succeeded` for a presence channel: `(user_id, user_info
/// JSON)` of every member, in arrival order.
pub fn presence_subscribed(channel: &str, members: &[(String, String)]) -> String {
    let ids: Vec<&str> = members.iter().map(|(id, _)| id.as_str()).collect();
    let hash: serde_json::Map<String, Value> = members
        .iter()
        .map(|(id, info)| {
            let info = serde_json::from_str(info).unwrap_or(Value::Null);
            (id.clone(), info)
        })
        .collect();
    let data = json!({"presence": {"ids": ids, "hash": hash, "count": ids.len()}}).to_string();
    json!({"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": data})
        .to_string()
}

/// `pusher:subscription_error` (soketi's shape: `type`, `error`, `status`).
pub fn subscription_error(channel: &str, kind: &str, error: &str, status: u16) -> String {
    json!({
        "event": "pusher:subscription_error",
        "channel": channel,
        "data": {"type": kind, "error": error, "status": status},
    })
    .to_string()
}

/// `pusher_internal:member_added`.
pub fn member_added(channel: &str, member: &Member) -> String {
    let info: Value = serde_json::from_str(&member.user_info).unwrap_or(Value::Null);
    let data = json!({"user_id": member.user_id, "user_info": info}).to_string();
    json!({"event": "pusher_internal:member_added", "channel": channel, "data": data}).to_string()
}

/// `pusher_internal:member_removed`.
pub fn member_removed(channel: &str, user_id: &str) -> String {
    let data = json!({"user_id": user_id}).to_string();
    json!({"event": "pusher_internal:member_removed", "channel": channel, "data": data}).to_string()
}

/// An event published through the HTTP API: `data` is passed on as the string it was.
#[derive(Serialize)]
pub struct Published<'a> {
    /// The event name.
    pub event: &'a str,
    /// The channel.
    pub channel: &'a str,
    /// The payload as the app sent it.
    pub data: &'a RawValue,
}

/// A client event as the other members receive it: `data` as its sender wrote it, and on
/// presence channels the sender's `user_id`.
#[derive(Serialize)]
pub struct ClientEvent<'a> {
    /// `client-…`.
    pub event: &'a str,
    /// The channel.
    pub channel: &'a str,
    /// The payload, untouched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a RawValue>,
    /// The sender's presence id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_from_channel_data() {
        let m = Member::parse(r#"{"user_id":42,"user_info":{"name":"Ann"}}"#).unwrap();
        assert_eq!(m.user_id, "42");
        assert_eq!(m.user_info, r#"{"name":"Ann"}"#);
        let m = Member::parse(r#"{"user_id":"u-7"}"#).unwrap();
        assert_eq!((m.user_id.as_str(), m.user_info.as_str()), ("u-7", "null"));
        for bad in [
            "",
            "[]",
            r#"{"user_info":{}}"#,
            r#"{"user_id":""}"#,
            r#"{"user_id":[1]}"#,
        ] {
            assert_eq!(Member::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn subscribe_data_as_object_or_string() {
        let raw: Box<RawValue> =
            serde_json::from_str(r#"{"channel":"private-a","auth":"k:s"}"#).unwrap();
        let s: Subscribe = data_as(Some(&raw)).unwrap();
        assert_eq!(
            (s.channel.as_str(), s.auth.as_deref()),
            ("private-a", Some("k:s"))
        );
        let raw: Box<RawValue> = serde_json::from_str(r#""{\"channel\":\"b\"}""#).unwrap();
        let s: Subscribe = data_as(Some(&raw)).unwrap();
        assert_eq!(s.channel, "b");
        let raw: Box<RawValue> = serde_json::from_str("3").unwrap();
        assert!(data_as::<Subscribe>(Some(&raw)).is_none());
    }
}
