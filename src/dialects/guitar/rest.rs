//! `POST /api/guitar/sessions/`, `GET` and `DELETE /api/guitar/sessions/{id}/`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::protocol;
use crate::error::{ApiError, CloseCode};
use crate::http::rest;
use crate::hub::{Event, Target};
use crate::services::guitar;
use crate::state::AppState;

/// The optional creation body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    #[serde(default)]
    members: Vec<i64>,
}

/// Creates a session owned by the caller (the PC does this); 201 with the session.
pub async fn create(
    req: HttpRequest,
    rest::JsonBody(body): rest::JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let new: NewSession = if body.iter().all(u8::is_ascii_whitespace) {
        NewSession::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!("expected {{\"members\": [user ids]}}: {e}"))
        })?
    };
    let max = state.config.guitar_max_members;
    let session = guitar::create_session(&state.db, me.id, new.members, max).await?;
    Ok(HttpResponse::Created().json(session))
}

/// The session with its practice record (owner and members).
pub async fn get(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let session = guitar::get_session(&state.db, id.into_inner(), me.id).await?;
    Ok(HttpResponse::Ok().json(session))
}

/// Closes the session (owner only); its open sockets get `session_closed` and close with 4003.
pub async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let me = rest::user(&req, &state).await?;
    let id = id.into_inner();
    guitar::close_session(&state.db, id.clone(), me.id).await?;
    let frame = protocol::text("session_closed", serde_json::json!({ "session_id": id }));
    let event = Event::text(frame).closing(CloseCode::Forbidden, "session closed");
    if let Err(e) = state.hub.publish(super::topic(&id), event, Target::All) {
        log::warn!("guitar: session {id} closed, but its sockets were not told: {e}");
    }
    Ok(HttpResponse::NoContent().finish())
}
