//! Dialect `broadcast`: the Node hub beside a Laravel app (seeds/004).
//!
//! `GET /ws/broadcast/?token=JWT` — the token carries `id`, `name` and `channel` (one channel
//! per connection, `name:param1,param2`). The newcomer gets `connected` with everyone on the
//! channel (one entry per user); the others get `connectOther` for a user's first connection and
//! `disconnectOther` when its last one leaves — decided by the room's presence, so a shared
//! presence makes it hold across nodes without changing this module. `{"data":{…}}` is
//! acknowledged with `sended` and delivered to every member as `message`; `data.target_user_id`
//! narrows it to that user and the sender. The back end publishes through Redis
//! (`{REDIS_PREFIX}broadcast`) or `POST /api/broadcast/` ([`ingress`]). `/broadcast/progress/`
//! shows job progress as a bar.

mod handler;
pub mod ingress;
pub mod protocol;
pub mod publish;

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::dialects::Shared;
use crate::error::ApiError;
use crate::http::rest::endpoint;
use crate::hub::{handshake, Topic};
use crate::services::webhook::{Destination, Webhooks};
use crate::state::AppState;
use handler::BroadcastDialect;

/// The progress page, embedded in the binary.
const PROGRESS_PAGE: &str = include_str!("../../../static/broadcast-progress.html");

/// Longest channel name accepted.
pub const MAX_CHANNEL_LEN: usize = 200;

/// Mounts the socket, the back-end endpoint and the progress page.
pub fn routes(cfg: &mut web::ServiceConfig) {
    endpoint(
        cfg,
        "/api/broadcast",
        &[(Method::POST, || web::to(ingress::publish_http))],
    );
    cfg.route("/ws/broadcast", web::get().to(connect))
        .route("/ws/broadcast/", web::get().to(connect))
        .route("/broadcast/progress", web::get().to(progress_page))
        .route("/broadcast/progress/", web::get().to(progress_page));
}

/// Starts the Redis subscriber when configured, and the webhook sender that forwards client
/// messages to the app when `HUB_BROADCAST_WEBHOOK_URL` is set.
pub fn start(state: &AppState) -> Option<Webhooks> {
    ingress::start(state);
    let config = &state.config;
    let (url, secret) = (
        config.broadcast_webhook_url.as_ref()?,
        config.broadcast_webhook_secret.as_ref()?,
    );
    let to = Destination {
        url: url.clone(),
        key: config.broadcast_webhook_key.clone(),
        secret: secret.clone(),
        label: "broadcast".into(),
    };
    Some(Webhooks::start(to, state.metrics.clone()))
}

/// The topic of a channel.
pub fn topic(channel: &str) -> Topic {
    Topic::new("bc", channel)
}

/// `name` or `name:param1,param2`: the name and each parameter non-empty `[A-Za-z0-9_.-]`,
/// at most [`MAX_CHANNEL_LEN`] characters in all.
pub fn valid_channel(channel: &str) -> bool {
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    if channel.len() > MAX_CHANNEL_LEN {
        return false;
    }
    match channel.split_once(':') {
        None => word(channel),
        Some((name, params)) => word(name) && params.split(',').all(word),
    }
}

async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let state = state.get_ref();
    let webhooks = shared.broadcast_webhooks.clone();
    let attempt = async {
        let identity = handshake::authenticated(&req, state)?;
        let channel = identity
            .channel
            .clone()
            .ok_or_else(|| ApiError::Unauthorized("token has no channel".into()))?;
        if !valid_channel(&channel) {
            return Err(ApiError::BadRequest("invalid channel name".into()));
        }
        let dialect = BroadcastDialect::new(&channel, identity.id, webhooks);
        handshake::upgrade(&req, payload, state, Some(identity), "anonymous", dialect).await
    };
    attempt.await.map_err(|e| handshake::refused(state, e))
}

async fn progress_page() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(PROGRESS_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names() {
        for ok in ["chat", "chat:1,2", "jobs:42", "a.b-c_d:x_1,y.2"] {
            assert!(valid_channel(ok), "{ok}");
        }
        for bad in [
            "",
            ":1",
            "chat:",
            "chat:1,",
            "chat:,1",
            "chat:1:2",
            "bad name",
            "ch/at",
            &"x".repeat(201),
        ] {
            assert!(!valid_channel(bad), "{bad}");
        }
    }
}
