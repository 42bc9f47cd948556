//! `GET /api/v4/websocket`: Mattermost's real-time socket.
//!
//! The session token is read as Mattermost reads it (cookie, `Authorization: Bearer|Token`,
//! `?access_token=`); without a valid one the socket still opens, unauthenticated, and must
//! send `authentication_challenge` within [`AUTH_DEADLINE`] or be closed. Frames from the
//! client over Mattermost's read limit (8 KiB) close the socket (1009).

pub mod handler;
pub mod notify;
pub mod online;
pub mod protocol;

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};

use super::request;
use crate::auth::origin;
use crate::error::ApiError;
use crate::hub::handshake::{self, upgrade_with, Opening};
use crate::hub::UserRef;
use crate::services::mattermost::{new_id, users};
use crate::state::AppState;
use handler::{Me, MmSocket};

/// How long a socket may stay unauthenticated (Mattermost's `authCheckInterval`).
pub const AUTH_DEADLINE: Duration = Duration::from_secs(5);

/// Mattermost's `SocketMaxMessageSizeKb`: the largest frame a client may send.
pub const MAX_FRAME_BYTES: usize = 8 * 1024;

/// Opens a socket, authenticated when the request carries a live session token.
pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let state = state.get_ref();
    let attempt = async {
        origin::check(&req, &state.config)?;
        // A token that does not name a live session opens the socket unauthenticated, as
        // in Mattermost: the challenge may still follow.
        let session = match request::token(&req) {
            Some((token, _)) => users::authenticate(&state.db, token).await.ok(),
            None => None,
        };
        let me = session.as_ref().map(Me::from);
        let resume = resume_request(&req)?;
        let opening = Opening {
            identity: None,
            user: me.as_ref().map(|m| UserRef {
                key: m.id.as_str().into(),
                id: None,
                name: m.username.as_str().into(),
            }),
            authenticated: me.is_some(),
            anonymous_name: "",
            auth_deadline: Some(AUTH_DEADLINE),
            max_frame_bytes: MAX_FRAME_BYTES,
        };
        upgrade_with(
            &req,
            payload,
            state,
            opening,
            MmSocket::new(me, new_id(), resume),
        )
        .await
    };
    attempt.await.map_err(|e| handshake::refused(state, e))
}

#[derive(serde::Deserialize)]
struct ResumeQuery {
    #[serde(default)]
    connection_id: String,
    sequence_number: Option<String>,
}

/// `?connection_id=…&sequence_number=N`: which connection a client resumes and the `seq` it
/// expects next. An empty `connection_id` is a first connection; a malformed one, or one
/// without a sequence number, is refused (Mattermost closes such sockets).
fn resume_request(req: &HttpRequest) -> Result<Option<(String, u64)>, ApiError> {
    let q: ResumeQuery = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| ApiError::BadRequest("invalid query".into()))?;
    if q.connection_id.is_empty() {
        return Ok(None);
    }
    if !crate::services::mattermost::is_id(&q.connection_id) {
        return Err(ApiError::BadRequest("invalid connection_id".into()));
    }
    let seq = q
        .sequence_number
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::BadRequest("invalid sequence_number".into()))?;
    Ok(Some((q.connection_id, seq)))
}
