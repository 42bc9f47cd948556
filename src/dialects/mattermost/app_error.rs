//! Mattermost's `AppError` on the wire: every refusal of the REST API is one, and WebSocket
//! replies carry one in `error`. Client4 throws a `ClientError` built from `id`, `message` and
//! `status_code`, and parses the body only when `Content-Type` is exactly `application/json`,
//! which `HttpResponse::json` writes.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::services::mattermost::{new_id, MmError};

/// The serialized form of an [`MmError`].
#[derive(Debug, Serialize)]
pub struct AppError<'a> {
    /// Mattermost's error id.
    pub id: &'a str,
    /// Its message.
    pub message: &'a str,
    /// Always empty: Mattermost wipes it before sending, and so does the hub (causes are
    /// logged, never returned).
    pub detailed_error: &'static str,
    /// A fresh id per request, as Mattermost sends (for support requests).
    pub request_id: String,
    /// The HTTP status.
    pub status_code: u16,
}

impl<'a> AppError<'a> {
    /// The wire form of `e`.
    pub fn of(e: &'a MmError) -> AppError<'a> {
        AppError {
            id: e.id,
            message: &e.message,
            detailed_error: "",
            request_id: new_id(),
            status_code: e.status,
        }
    }
}

impl ResponseError for MmError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(AppError::of(self))
    }
}
