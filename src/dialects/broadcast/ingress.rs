//! Back-end publishing, as the Laravel app does it: messages on the Redis pub/sub channel
//! `{REDIS_PREFIX}broadcast`, or the same body at `POST /api/broadcast/` with the API key.
//!
//! The subscriber never takes the node down: a malformed payload is logged and counted, a lost
//! Redis connection is retried with backoff (100 ms doubling to 10 s), and shutdown stops it.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::watch;

use super::protocol::{self, FrameError};
use super::publish::{self, Source};
use crate::error::ApiError;
use crate::http::rest::JsonBody;
use crate::state::AppState;

const METRIC: &str = "hub_broadcast_ingress_total";
const HELP: &str = "Back-end broadcast messages by source and result.";

/// Starts the Redis subscriber when `REDIS_URL` is set.
pub fn start(state: &AppState) {
    let Some(client) = state.redis.clone() else {
        return;
    };
    let channel = format!("{}broadcast", state.config.redis_prefix);
    actix_web::rt::spawn(subscribe(client, channel, state.clone()));
}

async fn subscribe(client: redis::Client, channel: String, state: AppState) {
    let mut shutdown = state.shutdown.clone();
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&client, &channel, &state, &mut shutdown, &mut backoff).await {
            Ok(()) => return,
            Err(e) => {
                state.metrics.labelled(
                    METRIC,
                    HELP,
                    "source=\"redis\",result=\"connection_error\"",
                );
                log::warn!("broadcast: redis subscription on {channel} failed: {e}; retrying in {backoff:?}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|down| *down) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// One subscription's life: returns `Ok` on shutdown, `Err` when Redis goes away.
async fn listen(
    client: &redis::Client,
    channel: &str,
    state: &AppState,
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
) -> redis::RedisResult<()> {
    log::debug!("broadcast: connecting to redis for {channel}");
    let mut pubsub = client.get_async_pubsub().await?;
    log::debug!("broadcast: connected");
    pubsub.subscribe(channel).await?;
    log::info!("broadcast: subscribed to redis channel {channel}");
    *backoff = Duration::from_millis(100);
    let mut messages = pubsub.on_message();
    loop {
        tokio::select! {
            msg = messages.next() => match msg {
                // Malformed payloads are logged and counted inside; the subscription goes on.
                Some(msg) => { let _ = accept(state, Source::Redis, msg.get_payload_bytes()); }
                None => return Err((redis::ErrorKind::Io, "subscription connection closed").into()),
            },
            _ = shutdown.wait_for(|down| *down) => return Ok(()),
        }
    }
}

/// Validates and publishes one payload; the outcome is counted, never fatal.
fn accept(state: &AppState, from: Source, payload: &[u8]) -> Result<(), FrameError> {
    let source = from.label();
    let parsed = std::str::from_utf8(payload)
        .map_err(|_| FrameError::NotJson)
        .and_then(protocol::parse_ingress);
    match parsed {
        Ok(ingress) => {
            publish::publish(state, &ingress, from);
            state
                .metrics
                .labelled(METRIC, HELP, &format!("source=\"{source}\",result=\"ok\""));
            Ok(())
        }
        Err(e) => {
            state.metrics.labelled(
                METRIC,
                HELP,
                &format!("source=\"{source}\",result=\"malformed\""),
            );
            let shown: String = String::from_utf8_lossy(payload).chars().take(200).collect();
            log::warn!("broadcast: malformed {source} payload ({e}): {shown}");
            Err(e)
        }
    }
}

/// `POST /api/broadcast/`: the same body as the Redis payload, for deployments without Redis.
pub async fn publish_http(
    req: HttpRequest,
    JsonBody(body): JsonBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let key = state.config.api_key.as_deref().ok_or_else(|| {
        ApiError::Forbidden("broadcast API disabled: HUB_API_KEY is not set".into())
    })?;
    let given = crate::auth::bearer(&req).unwrap_or("");
    if !crate::auth::same_secret(given.as_bytes(), key.as_bytes()) {
        return Err(ApiError::Unauthorized("invalid API key".into()));
    }
    accept(&state, Source::Http, &body).map_err(|e| match e {
        FrameError::NotJson => ApiError::BadRequest(e.to_string()),
        other => ApiError::Unprocessable(other.to_string()),
    })?;
    Ok(HttpResponse::Accepted().json(json!({"ok": true})))
}
