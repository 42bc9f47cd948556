//! Frames of the Mattermost WebSocket: the client's requests, the server's replies and events
//! (`protocols/mattermost.md` §1–4).
//!
//! An event is serialized once, without its `seq`: `{"event","data","broadcast"}`. Each
//! connection's session splices its own `,"seq":N}` onto the shared body
//! ([`crate::hub::sequence`]). Replies are per connection and carry no `seq`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::hub::Event;
use crate::services::mattermost::MmError;

/// The `version` a `ping` reply names, and the first part of `hello`'s `server_version`.
pub const SERVER_VERSION: &str = "10.5.0";

/// A client request: `{"seq": 2, "action": "user_typing", "data": {…}}`.
#[derive(Debug, Deserialize)]
pub struct Request {
    /// The client's counter (≥ 1; missing or 0 is accepted on the challenge only).
    #[serde(default)]
    pub seq: i64,
    /// What to do.
    #[serde(default)]
    pub action: String,
    /// Its arguments (an object, or `null`).
    #[serde(default)]
    pub data: Value,
}

/// `model.WebsocketBroadcast` as the server sends it to clients.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Broadcast<'a> {
    /// Users left out (`{"<id>": true}`), or `null`.
    pub omit_users: Option<serde_json::Map<String, Value>>,
    /// The one user addressed, or `""`.
    pub user_id: &'a str,
    /// The channel addressed, or `""`.
    pub channel_id: &'a str,
    /// The team addressed, or `""`.
    pub team_id: &'a str,
    /// The one connection addressed, or `""`.
    pub connection_id: &'a str,
    /// The connection left out, or `""`.
    pub omit_connection_id: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a, D: Serialize> {
    event: &'a str,
    data: D,
    broadcast: Broadcast<'a>,
}

/// An event, serialized once for every recipient.
pub fn event<D: Serialize>(name: &str, data: D, broadcast: Broadcast<'_>) -> Event {
    Event::json(&Envelope {
        event: name,
        data,
        broadcast,
    })
}

/// `{"status":"OK","seq_reply":N,"data":…}`; `seq_reply` and `data` are left out when absent,
/// as Mattermost's `omitempty` does.
pub fn ok(seq: i64, data: Option<Value>) -> String {
    let mut reply = json!({"status": "OK"});
    if seq > 0 {
        reply["seq_reply"] = json!(seq);
    }
    if let Some(data) = data {
        reply["data"] = data;
    }
    reply.to_string()
}

/// `{"status":"FAIL","seq_reply":N,"error":AppError}`; the AppError inside a socket reply has
/// no `request_id` (Mattermost leaves it empty, and `omitempty` drops it).
pub fn fail(seq: i64, e: &MmError) -> String {
    let mut reply = json!({
        "status": "FAIL",
        "error": {"id": e.id, "message": e.message, "detailed_error": "", "status_code": e.status},
    });
    if seq > 0 {
        reply["seq_reply"] = json!(seq);
    }
    reply.to_string()
}

/// The router's refusals (`websocket_router.go`).
pub mod refusal {
    use crate::services::mattermost::MmError;

    /// A request without an action.
    pub fn no_action() -> MmError {
        MmError::new(
            "api.web_socket_router.no_action.app_error",
            "No websocket action.",
            400,
        )
    }

    /// A request whose `seq` is not positive.
    pub fn bad_seq() -> MmError {
        MmError::new(
            "api.web_socket_router.bad_seq.app_error",
            "Invalid sequence for WebSocket message.",
            400,
        )
    }

    /// An action before authentication.
    pub fn not_authenticated() -> MmError {
        MmError::new(
            "api.web_socket_router.not_authenticated.app_error",
            "Connection is not authenticated. Please log in and try again.",
            401,
        )
    }

    /// An action the server does not know.
    pub fn bad_action() -> MmError {
        MmError::new(
            "api.web_socket_router.bad_action.app_error",
            "Unknown WebSocket action.",
            500,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_leave_their_seq_to_each_connection() {
        let e = event(
            "typing",
            json!({"parent_id": "", "user_id": "u"}),
            Broadcast {
                channel_id: "c",
                ..Default::default()
            },
        );
        assert_eq!(
            &*e.body,
            r#"{"event":"typing","data":{"parent_id":"","user_id":"u"},"broadcast":{"omit_users":null,"user_id":"","channel_id":"c","team_id":"","connection_id":"","omit_connection_id":""}}"#
        );
        assert_eq!(ok(0, None), r#"{"status":"OK"}"#);
        assert_eq!(
            ok(3, Some(json!({}))),
            r#"{"data":{},"seq_reply":3,"status":"OK"}"#
        );
    }
}
