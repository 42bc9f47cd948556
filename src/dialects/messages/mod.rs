//! Dialect `messages`: the Django Channels messaging app of seeds/000, with read receipts and
//! unread counts, so that its Next.js hook (`useMessageWebSocket`) works unchanged.
//!
//! Sockets: `/ws/messages/?token=` (everything to or from the user, topic `user:<id>`) and
//! `/ws/messages/community/{id}/?token=` (the same within one community, topic
//! `community:<id>` narrowed to sender and recipient). REST under `/api/messages/` and
//! `/api/communities/` creates what the sockets push; every operation is one service function
//! ([`crate::services::messages`]) shared by both, committed before [`notify`] publishes.

mod catch_up;
mod handler;
mod notify;
pub mod protocol;
mod rest;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse, Route};

use crate::error::ApiError;
use crate::http::rest::endpoint;
use crate::hub::{handshake, Topic};
use crate::services::messages;
use crate::state::AppState;
use handler::MessagesDialect;

/// Registers where `user:` and `community:` topics catch up after a relay gap.
pub fn start(state: &AppState) {
    for namespace in ["user", "community"] {
        let source = catch_up::MessagesCatchUp {
            db: state.db.clone(),
        };
        state
            .hub
            .register_catch_up(namespace, std::sync::Arc::new(source));
    }
}

/// A user's global sockets.
pub fn user_topic(user: i64) -> Topic {
    Topic::new("user", &user.to_string())
}

/// A community's sockets.
pub fn community_topic(community: i64) -> Topic {
    Topic::new("community", &community.to_string())
}

/// Mounts the two sockets and the REST endpoints, each path with and without its slash (REST
/// paths answer other methods with 405).
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut both = |path: &str, route: fn() -> Route| {
        cfg.route(path, route());
        cfg.route(&format!("{path}/"), route());
    };
    both("/ws/messages", || web::get().to(connect_global));
    both("/ws/messages/community/{id}", || {
        web::get().to(connect_community)
    });
    // `unread_count` before `{id}`, which would otherwise take it.
    endpoint(
        cfg,
        "/api/messages/unread_count",
        &[(Method::GET, || web::to(rest::unread_count))],
    );
    endpoint(
        cfg,
        "/api/messages",
        &[
            (Method::GET, || web::to(rest::list)),
            (Method::POST, || web::to(rest::create)),
        ],
    );
    endpoint(
        cfg,
        "/api/messages/{id}",
        &[(Method::GET, || web::to(rest::get))],
    );
    endpoint(
        cfg,
        "/api/messages/{id}/read",
        &[(Method::POST, || web::to(rest::read))],
    );
    endpoint(
        cfg,
        "/api/communities",
        &[
            (Method::GET, || web::to(rest::list_communities)),
            (Method::POST, || web::to(rest::create_community)),
        ],
    );
    endpoint(
        cfg,
        "/api/communities/{id}/members",
        &[(Method::POST, || web::to(rest::add_member))],
    );
}

async fn connect_global(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    connect(req, payload, state.get_ref(), None).await
}

async fn connect_community(
    req: HttpRequest,
    payload: web::Payload,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let state = state.get_ref();
    match path.parse::<i64>() {
        Ok(id) => connect(req, payload, state, Some(id)).await,
        Err(_) => Err(handshake::refused(
            state,
            ApiError::NotFound("community not found".into()),
        )),
    }
}

async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: &AppState,
    community: Option<i64>,
) -> Result<HttpResponse, ApiError> {
    let attempt = async {
        let identity = handshake::authenticated(&req, state)?;
        if let Some(c) = community {
            messages::community_access(&state.db, identity.id, c).await?;
        }
        let dialect = MessagesDialect::new(identity.id, community);
        handshake::upgrade(&req, payload, state, Some(identity), "anonymous", dialect).await
    };
    attempt.await.map_err(|e| handshake::refused(state, e))
}
