//! Dialect `chat`: the Django Channels tutorial chat room of seeds/003.
//!
//! `GET /ws/chat/{room}/` (with or without the slash). Anonymous members are `"anonymous"`
//! unless `HUB_CHAT_REQUIRE_AUTH=true`; a token that is present must be valid. Every message is
//! stored, broadcast to every member (sender included) as `{"message","user","id","created_at"}`,
//! and the last `HUB_CHAT_HISTORY` are replayed to a joining member with `"history": true`.
//! A refused frame gets `{"error": reason, "user": "system", "message": reason}`, to the sender
//! only ([`protocol::error_frame`] says why both shapes). `GET /chat/{room}/` serves the page.

mod catch_up;
mod handler;
pub mod protocol;
pub mod store;

use actix::{Actor, Addr};
use actix_web::{http::header, web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::hub::handshake;
use crate::hub::Topic;
use crate::state::AppState;
use handler::ChatDialect;
use store::ChatStore;

/// The chat page, embedded so the binary serves it from any working directory.
const CHAT_PAGE: &str = include_str!("../../../static/chat.html");

/// Mounts `/ws/chat/{room}[/]` and `/chat/{room}[/]`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws/chat/{room}", web::get().to(connect))
        .route("/ws/chat/{room}/", web::get().to(connect))
        .route("/chat/{room}", web::get().to(page))
        .route("/chat/{room}/", web::get().to(page));
}

/// The chat topic of a room.
pub fn topic(room: &str) -> Topic {
    Topic::new("chat", room)
}

/// Room names: 1–100 characters of `[A-Za-z0-9_.-]` (what Channels group names allow).
pub fn valid_room(room: &str) -> bool {
    (1..=100).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Starts the node's chat writer and registers where rooms catch up after a relay gap.
pub fn start(state: &AppState) -> Addr<ChatStore> {
    let source = catch_up::ChatCatchUp {
        db: state.db.clone(),
    };
    state
        .hub
        .register_catch_up("chat", std::sync::Arc::new(source));
    ChatStore::new(state.db.clone(), state.hub.clone()).start()
}

async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    room: web::Path<String>,
    state: web::Data<AppState>,
    shared: web::Data<crate::dialects::Shared>,
) -> Result<HttpResponse, ApiError> {
    let state = state.get_ref();
    let attempt = async {
        if !valid_room(&room) {
            return Err(ApiError::BadRequest("invalid room name".into()));
        }
        let since_id = since_id(&req)?;
        let identity = handshake::identify(&req, state, state.config.chat_require_auth)?;
        let dialect = ChatDialect::new(room.into_inner(), shared.chat_store.clone(), since_id);
        handshake::upgrade(&req, payload, state, identity, "anonymous", dialect).await
    };
    attempt.await.map_err(|e| handshake::refused(state, e))
}

/// `?since_id=<id>`: the last message a reconnecting client saw (a non-negative integer).
fn since_id(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let value = crate::auth::query_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "since_id")
        .map(|(_, v)| v);
    match value {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(id) if id >= 0 => Ok(Some(id)),
            _ => Err(ApiError::BadRequest(
                "since_id must be a non-negative integer".into(),
            )),
        },
    }
}

async fn page(room: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !valid_room(&room) {
        return Err(ApiError::BadRequest("invalid room name".into()));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(CHAT_PAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert!(valid_room("lobby"));
        assert!(valid_room("a.b-c_1"));
        assert!(valid_room(&"x".repeat(100)));
        assert!(!valid_room(&"x".repeat(101)));
        assert!(!valid_room(""));
        assert!(!valid_room("no spaces"));
        assert!(!valid_room("ümlaut"));
    }
}
