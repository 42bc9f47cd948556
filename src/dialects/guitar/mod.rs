//! Dialect `guitar`: VirtuTune's phone-to-PC practice sync (seeds/001).
//!
//! The PC creates a session (`POST /api/guitar/sessions/`); the phone and the PC, signed in as
//! the same user (or added members), connect to `/ws/guitar/{session_id}/?token=…` — the
//! seed's group `guitar_<session_id>` is the topic `guitar:<session_id>`. The phone sends
//! `chord_change` (relayed to the others with `user_id` and a server `timestamp`) and
//! `practice_start`/`practice_end` (stored, then `practice_update` to everyone); members see
//! `connection_update` when others come and go, and a newcomer gets its own
//! `connection_update` (the seed's group send reaches the sender too), then `session_state`
//! (current chord, practice in progress, connection count). The chord is stored on the session row
//! before it is relayed, so a PC that joins late, on any node, shows it.
//!
//! Pages: `/guitar/` (new session) and `/guitar/{id}/` for the PC, `/guitar/{id}/remote/` for
//! the phone.

mod catch_up;
mod handler;
pub mod protocol;
mod rest;

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::http::rest::endpoint;
use crate::hub::{handshake, Event, Topic};
use crate::services::guitar;
use crate::state::AppState;
use handler::GuitarDialect;

const PC_PAGE: &str = include_str!("../../../static/guitar.html");
const REMOTE_PAGE: &str = include_str!("../../../static/guitar-remote.html");

/// Mounts the socket, the REST endpoints and the two pages.
pub fn routes(cfg: &mut web::ServiceConfig) {
    endpoint(
        cfg,
        "/api/guitar/sessions",
        &[(Method::POST, || web::to(rest::create))],
    );
    endpoint(
        cfg,
        "/api/guitar/sessions/{id}",
        &[
            (Method::GET, || web::to(rest::get)),
            (Method::DELETE, || web::to(rest::delete)),
        ],
    );
    cfg.route("/ws/guitar/{id}", web::get().to(connect))
        .route("/ws/guitar/{id}/", web::get().to(connect))
        .route("/guitar/", web::get().to(pc_page))
        .route("/guitar/{id}/", web::get().to(pc_page))
        .route("/guitar/{id}/remote/", web::get().to(remote_page));
}

/// Storage-key kind of `chord_change` events (keyed by the chord's time in microseconds).
pub const CHORD: u8 = 0;
/// Storage-key kind of `practice_update` `started` events (keyed by the run's id).
pub const PRACTICE_STARTED: u8 = 1;
/// Storage-key kind of `practice_update` `ended` events (keyed by the run's id).
pub const PRACTICE_ENDED: u8 = 2;

/// Registers where guitar sessions catch up after a relay gap.
pub fn start(state: &AppState) {
    let source = catch_up::GuitarCatchUp {
        db: state.db.clone(),
    };
    state
        .hub
        .register_catch_up("guitar", std::sync::Arc::new(source));
}

/// A `practice_update` frame.
pub fn practice_event(status: &'static str, at: chrono::NaiveDateTime) -> Event {
    Event::text(protocol::text(
        "practice_update",
        protocol::PracticeOut {
            status,
            timestamp: guitar::stamp(at),
        },
    ))
}

/// The topic of a practice session.
pub fn topic(session_id: &str) -> Topic {
    Topic::new("guitar", session_id)
}

async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let state = state.get_ref();
    let attempt = async {
        let identity = handshake::authenticated(&req, state)?;
        let id = id.into_inner();
        guitar::check_access(&state.db, id.clone(), identity.id).await?;
        let dialect = GuitarDialect::new(id, identity.id);
        handshake::upgrade(&req, payload, state, Some(identity), "anonymous", dialect).await
    };
    attempt.await.map_err(|e| handshake::refused(state, e))
}

fn page(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

async fn pc_page() -> HttpResponse {
    page(PC_PAGE)
}

async fn remote_page() -> HttpResponse {
    page(REMOTE_PAGE)
}
