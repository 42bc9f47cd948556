//! Operational endpoints, the access log format, and what REST handlers share.

pub mod cors;
pub mod rest;

use actix_web::dev::ServiceRequest;
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// Mounts `/healthz`, `/readyz`, `/metrics` and the `/` redirect to the lobby.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/", web::get().to(index));
}

/// The process is up and serving HTTP.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The dependencies answer and the node is not draining: 200 when the database (and Redis,
/// when configured) do, 503 naming the failing part (or the shutdown) otherwise.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut body = serde_json::Map::new();
    // From the shutdown signal on: a load balancer stops sending new clients here while the
    // open sockets are closed, spread over the shutdown timeout.
    let mut failed = state.shutdown.borrow().then_some("shutting down");
    match state.db.ping().await {
        Ok(()) => body.insert("database".into(), json!("ok")),
        Err(e) => {
            log::warn!("readiness: database unreachable: {e}");
            failed = Some("database unavailable");
            body.insert("database".into(), json!("unavailable"))
        }
    };
    if let Some(client) = &state.redis {
        match redis_ping(client).await {
            Ok(()) => body.insert("redis".into(), json!("ok")),
            Err(e) => {
                log::warn!("readiness: redis unreachable: {e}");
                failed = failed.or(Some("redis unavailable"));
                body.insert("redis".into(), json!("unavailable"))
            }
        };
    }
    match failed {
        None => {
            body.insert("status".into(), json!("ready"));
            HttpResponse::Ok().json(body)
        }
        Some(reason) => {
            body.insert("error".into(), json!(reason));
            HttpResponse::ServiceUnavailable().json(body)
        }
    }
}

async fn redis_ping(client: &redis::Client) -> redis::RedisResult<()> {
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), ping)
        .await
        .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out"))))
}

/// Prometheus text exposition; with `HUB_METRICS_KEY` set, only for a request bearing it
/// (compared in constant time), since the counters describe traffic and users online.
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(key) = &state.config.metrics_key {
        let given = crate::auth::bearer(&req).unwrap_or("");
        if !crate::auth::same_secret(given.as_bytes(), key.as_bytes()) {
            return Err(ApiError::Unauthorized("invalid metrics key".into()));
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(state.metrics.render()))
}

/// Any path nothing else serves: a JSON 404, like every other error the hub returns.
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(json!({"error": "not found"}))
}

async fn index() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/chat/lobby/"))
        .finish()
}

/// The request line for the access log with every token query value replaced, so no token
/// ever reaches a log file (browsers can only send it in the URL). A key counts as a token
/// whatever its spelling (`%74oken`): it is decoded by the same function authentication reads
/// queries with ([`crate::auth::is_token_pair`]), so what one accepts the other hides.
pub fn redacted_request_line(req: &ServiceRequest) -> String {
    let query = req.query_string();
    let target = if query.is_empty() {
        req.path().to_string()
    } else {
        // Pieces split on `&` as the decoder splits them; the raw key is kept for the reader.
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| {
                if crate::auth::is_token_pair(pair) {
                    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
                    format!("{key}=[redacted]")
                } else {
                    pair.to_string()
                }
            })
            .collect();
        format!("{}?{}", req.path(), redacted.join("&"))
    };
    format!("{} {} {:?}", req.method(), target, req.version())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn tokens_are_redacted() {
        let req = TestRequest::get()
            .uri("/ws/chat/lobby/?a=1&token=eyJabc.def&access_token=x")
            .to_srv_request();
        assert_eq!(
            redacted_request_line(&req),
            "GET /ws/chat/lobby/?a=1&token=[redacted]&access_token=[redacted] HTTP/1.1"
        );
        let req = TestRequest::get()
            .uri("/api/messages/?%74oken=eyJabc&acc%65ss_token=y&tok%65n&b=token")
            .to_srv_request();
        assert_eq!(
            redacted_request_line(&req),
            "GET /api/messages/?%74oken=[redacted]&acc%65ss_token=[redacted]&tok%65n=[redacted]&b=token HTTP/1.1"
        );
    }
}
