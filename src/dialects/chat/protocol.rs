//! The chat room's frames, exactly as the tutorial's page sends and reads them.

use serde::Serialize;
use serde_json::Value;

use crate::db::chat_message::ChatMessage;

/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Why an incoming frame was refused; the text goes back in an [`error_frame`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not parseable as JSON.
    #[error("invalid JSON")]
    NotJson,
    /// JSON, but not an object with a string `message`.
    #[error("expected {{\"message\": \"<text>\"}}")]
    NoMessage,
    /// Empty or longer than [`MAX_MESSAGE_CHARS`].
    #[error("message must be 1 to 4096 characters")]
    Length,
}

/// Reads `{"message": "<text>"}`; other fields are ignored, as the tutorial's consumer does.
pub fn parse(text: &str) -> Result<String, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::NotJson)?;
    let message = match value.get("message") {
        Some(Value::String(s)) => s,
        _ => return Err(FrameError::NoMessage),
    };
    let chars = message.chars().count();
    if chars == 0 || chars > MAX_MESSAGE_CHARS {
        return Err(FrameError::Length);
    }
    Ok(message.clone())
}

/// A message as every member receives it. `id` and `created_at` are extra fields that the
/// tutorial's page ignores; `history` marks replayed messages.
#[derive(Debug, Serialize)]
pub struct ChatOut<'a> {
    /// The text.
    pub message: &'a str,
    /// The author's name, `"anonymous"` without a token.
    pub user: &'a str,
    /// The stored message's id.
    pub id: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Present (true) only on messages replayed on join.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub history: bool,
}

impl<'a> ChatOut<'a> {
    /// The frame for a stored message.
    pub fn of(m: &'a ChatMessage, history: bool) -> ChatOut<'a> {
        ChatOut {
            message: &m.body,
            user: &m.user_name,
            id: m.id,
            created_at: crate::time::rfc3339(m.created_at),
            history,
        }
    }
}

/// The name error frames are signed with, in `user`.
pub const SYSTEM_USER: &str = "system";

/// `{"error": "<reason>", "user": "system", "message": "<reason>"}`, to the sender only.
///
/// The tutorial's page (seeds/003) prints every frame as `user + ':' + message`; with `error`
/// alone it printed `undefined:undefined`, with these two fields it prints
/// `system:<reason>`. `error` stays, so clients that look for it (the hub's own page among
/// them) still tell a refusal from a message; a chat message always has `id` and
/// `created_at`, an error frame never does, whatever a member calls itself.
pub fn error_frame(reason: &str) -> String {
    #[derive(Serialize)]
    struct ErrorOut<'a> {
        error: &'a str,
        user: &'a str,
        message: &'a str,
    }
    serde_json::to_string(&ErrorOut {
        error: reason,
        user: SYSTEM_USER,
        message: reason,
    })
    .expect("plain struct")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse(r#"{"message":"hi","extra":1}"#), Ok("hi".into()));
        assert_eq!(parse("hi"), Err(FrameError::NotJson));
        assert_eq!(parse(r#"{"msg":"hi"}"#), Err(FrameError::NoMessage));
        assert_eq!(parse(r#"{"message":5}"#), Err(FrameError::NoMessage));
        assert_eq!(parse(r#"["message"]"#), Err(FrameError::NoMessage));
        assert_eq!(parse(r#"{"message":""}"#), Err(FrameError::Length));
        let long = format!(r#"{{"message":"{}"}}"#, "é".repeat(4097));
        assert_eq!(parse(&long), Err(FrameError::Length));
        let max = format!(r#"{{"message":"{}"}}"#, "é".repeat(4096));
        assert!(parse(&max).is_ok());
    }

    #[test]
    fn error_frames_read_as_a_line_from_system() {
        assert_eq!(
            error_frame("invalid JSON"),
            r#"{"error":"invalid JSON","user":"system","message":"invalid JSON"}"#
        );
        assert_eq!(
            error_frame(r#"expected {"message": "<text>"}"#),
            r#"{"error":"expected {\"message\": \"<text>\"}","user":"system","message":"expected {\"message\": \"<text>\"}"}"#
        );
    }
}
