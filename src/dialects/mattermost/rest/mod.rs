//! The REST subset Mattermost clients need, at Mattermost's paths with its shapes and status
//! codes. Every handler is a thin shell around one service function.

pub mod channels;
pub mod posts;
pub mod users;

use actix_web::HttpResponse;
use serde_json::json;

/// `{"status":"OK"}`, Mattermost's answer to operations that return nothing.
pub fn status_ok() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "OK"}))
}
