//! The messaging app's socket frames (seeds/000): `{"type": …}` with flat fields.

use serde::Serialize;
use serde_json::Value;

use crate::services::messages::MessageView;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Connection check.
    Ping,
    /// Mark a message read (its recipient only).
    MarkRead {
        /// The message.
        message_id: i64,
    },
    /// Ask for the unread count, overall or in a community.
    GetUnreadCount {
        /// The community; on a community socket, omitted means that community.
        community_id: Option<i64>,
    },
}

/// A refused frame: `{"type":"error","message":…,"code":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Machine code.
    pub code: &'static str,
    /// Human text.
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> FrameError {
    FrameError {
        code,
        message: message.into(),
    }
}

fn integer(frame: &Value, field: &str, required: bool) -> Result<Option<i64>, FrameError> {
    match frame.get(field) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(v) if v.as_i64().is_some() => Ok(v.as_i64()),
        _ => Err(refuse(
            "invalid_field",
            format!("{field} must be an integer"),
        )),
    }
}

/// Reads a client frame.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    let frame: Value =
        serde_json::from_str(text).map_err(|_| refuse("invalid_json", "invalid JSON"))?;
    let kind = frame
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse("invalid_frame", "expected {\"type\": \"…\"}"))?;
    match kind {
        "ping" => Ok(ClientFrame::Ping),
        "mark_read" => Ok(ClientFrame::MarkRead {
            message_id: integer(&frame, "message_id", true)?.unwrap_or_default(),
        }),
        "get_unread_count" => Ok(ClientFrame::GetUnreadCount {
            community_id: integer(&frame, "community_id", false)?,
        }),
        other => Err(refuse(
            "unknown_type",
            format!(
                "unknown type: {}",
                other.chars().take(32).collect::<String>()
            ),
        )),
    }
}

/// `{"type":"connection","message":"connected","user_id":…,"community_id"?}`.
#[derive(Serialize)]
pub struct Connection {
    /// `connection`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `connected`.
    pub message: &'static str,
    /// The socket's user.
    pub user_id: i64,
    /// On a community socket, its community.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<i64>,
}

/// `{"type":"new_message","message":{…}}`.
#[derive(Serialize)]
pub struct NewMessage<'a> {
    /// `new_message`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The full message.
    pub message: &'a MessageView,
}

/// `{"type":"message_read","message_id":…,"read_at":…}`.
#[derive(Serialize)]
pub struct MessageRead<'a> {
    /// `message_read`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The message.
    pub message_id: i64,
    /// When it was first read.
    pub read_at: Option<&'a str>,
}

/// `{"type":"unread_count","count":…,"community_id"?}`.
#[derive(Serialize)]
pub struct UnreadCount {
    /// `unread_count`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Unread messages.
    pub count: i64,
    /// The community counted, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub community_id: Option<i64>,
}

/// The unread count frame.
pub fn unread(count: i64, community_id: Option<i64>) -> String {
    serde_json::to_string(&UnreadCount {
        kind: "unread_count",
        count,
        community_id,
    })
    .expect("plain struct")
}

/// The error frame.
pub fn error(code: &str, message: &str) -> String {
    serde_json::json!({ "type": "error", "message": message, "code": code }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(ClientFrame::Ping));
        assert_eq!(
            parse(r#"{"type":"mark_read","message_id":3}"#),
            Ok(ClientFrame::MarkRead { message_id: 3 })
        );
        assert_eq!(
            parse(r#"{"type":"get_unread_count"}"#),
            Ok(ClientFrame::GetUnreadCount { community_id: None })
        );
        assert_eq!(
            parse(r#"{"type":"get_unread_count","community_id":null}"#),
            Ok(ClientFrame::GetUnreadCount { community_id: None })
        );
        assert_eq!(
            parse(r#"{"type":"get_unread_count","community_id":4}"#),
            Ok(ClientFrame::GetUnreadCount {
                community_id: Some(4)
            })
        );
        assert_eq!(parse("x").unwrap_err().code, "invalid_json");
        assert_eq!(parse("[]").unwrap_err().code, "invalid_frame");
        assert_eq!(
            parse(r#"{"type":"shout"}"#).unwrap_err().code,
            "unknown_type"
        );
        assert_eq!(
            parse(r#"{"type":"mark_read"}"#).unwrap_err().message,
            "message_id must be an integer"
        );
        assert_eq!(
            parse(r#"{"type":"mark_read","message_id":"1"}"#)
                .unwrap_err()
                .code,
            "invalid_field"
        );
        assert_eq!(
            parse(r#"{"type":"get_unread_count","community_id":1.5}"#)
                .unwrap_err()
                .code,
            "invalid_field"
        );
    }
}
