//! Errors as types: what went wrong in HTTP terms, and how a WebSocket is closed.
//!
//! Internal causes (database, pool, I/O) are logged where they are turned into a response and
//! never returned to the client; the client gets a short, stable reason.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// A configuration value that cannot be used; startup stops with this message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable is set to something the hub cannot use.
    #[error("{key}: {reason}")]
    Invalid {
        /// The environment variable at fault.
        key: &'static str,
        /// Why its value cannot be used.
        reason: String,
    },
    /// A file the configuration depends on (the generated secret) could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// Every failure an HTTP handler or a handshake can report. Each maps to one status and a JSON
/// body `{"error": "<reason>"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad room name, bad JSON body, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or a token that is invalid or expired.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed (not a member, not the owner, bad Origin).
    #[error("{0}")]
    Forbidden(String),
    /// 404: the thing named does not exist (or is hidden from this user).
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists but not with this method; carries the `Allow` header's value.
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// 413: the request body is over `HUB_MAX_BODY_BYTES`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a body that is not declared `application/json` where JSON is read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but semantically invalid input.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: over a connection quota.
    #[error("{0}")]
    TooMany(String),
    /// 503: a dependency (database, Redis) is unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; the cause is logged, the client sees a generic text.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A short label for metrics ("handshake failures by reason").
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::TooMany(_) => "too_many",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            log::error!("internal error: {cause}");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::MethodNotAllowed(allow) = self {
            response.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        response.json(json!({ "error": self.to_string() }))
    }
}

/// Failures of the storage layer. They become [`ApiError::Internal`] or
/// [`ApiError::Unavailable`] at the edge; services match on them where a case is expected
/// (a unique violation, a missing row).
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A query failed.
    #[error("query: {0}")]
    Query(#[from] diesel::result::Error),
    /// No connection could be taken from the pool (database down or pool exhausted).
    #[error("pool: {0}")]
    Pool(String),
    /// Migrations could not be applied.
    #[error("migrations: {0}")]
    Migration(String),
    /// The blocking task running the query panicked or was cancelled.
    #[error("blocking task: {0}")]
    Task(String),
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Query(diesel::result::Error::NotFound) => {
                ApiError::NotFound("not found".into())
            }
            DbError::Pool(cause) => {
                log::error!("database unavailable: {cause}");
                ApiError::Unavailable("database unavailable".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// WebSocket close codes, as data. RFC 6455 codes where one fits; application codes in the
/// Pusher ranges, which Laravel Echo/pusher-js already act on: 4000–4099 do not reconnect,
/// 4100–4199 reconnect after a backoff, 4200–4299 reconnect at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 1000: an orderly close.
    Normal,
    /// 1001: the server is shutting down.
    GoingAway,
    /// 1002: the client broke RFC 6455.
    Protocol,
    /// 1003: a binary frame on a text-only protocol.
    Unsupported,
    /// 1007: a text frame that is not valid UTF-8.
    InvalidPayload,
    /// 1008: a policy violation with no more specific code.
    Policy,
    /// 1009: a frame over `HUB_MAX_FRAME_BYTES`.
    TooBig,
    /// 1011: the server failed.
    Internal,
    /// 4001: the token is invalid; do not retry with it.
    BadToken,
    /// 4003: not allowed here.
    Forbidden,
    /// 4004: over a connection quota.
    OverQuota,
    /// 4009: the connection is not authorized (Pusher: an Origin the app does not allow).
    Unauthorized,
    /// 4101: over the message rate; reconnect after a backoff.
    RateLimited,
    /// 4102: the client did not read fast enough; reconnect after a backoff.
    SlowConsumer,
    /// 4201: no pong within the heartbeat timeout; reconnect now.
    PongTimeout,
    /// 4202: the token expired while connected; reconnect now with a fresh one.
    TokenExpired,
    /// 4203: the client's state cannot be resumed; reconnect and refetch.
    ResyncRequired,
}

impl CloseCode {
    /// The numeric code on the wire.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::GoingAway => 1001,
            CloseCode::Protocol => 1002,
            CloseCode::Unsupported => 1003,
            CloseCode::InvalidPayload => 1007,
            CloseCode::Policy => 1008,
            CloseCode::TooBig => 1009,
            CloseCode::Internal => 1011,
            CloseCode::BadToken => 4001,
            CloseCode::Forbidden => 4003,
            CloseCode::OverQuota => 4004,
            CloseCode::Unauthorized => 4009,
            CloseCode::RateLimited => 4101,
            CloseCode::SlowConsumer => 4102,
            CloseCode::PongTimeout => 4201,
            CloseCode::TokenExpired => 4202,
            CloseCode::ResyncRequired => 4203,
        }
    }

    /// The code for a number on the wire, if it is one of these.
    pub fn from_code(code: u16) -> Option<CloseCode> {
        use CloseCode::*;
        [
            Normal,
            GoingAway,
            Protocol,
            Unsupported,
            InvalidPayload,
            Policy,
            TooBig,
            Internal,
            BadToken,
            Forbidden,
            OverQuota,
            Unauthorized,
            RateLimited,
            SlowConsumer,
            PongTimeout,
            TokenExpired,
            ResyncRequired,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    /// Whether a well-behaved client should reconnect after this close.
    pub fn should_reconnect(self) -> bool {
        !matches!(
            self,
            CloseCode::BadToken
                | CloseCode::Forbidden
                | CloseCode::OverQuota
                | CloseCode::Unauthorized
                | CloseCode::Protocol
                | CloseCode::Unsupported
                | CloseCode::InvalidPayload
                | CloseCode::Policy
                | CloseCode::TooBig
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_codes_follow_the_pusher_ranges() {
        for code in [
            CloseCode::BadToken,
            CloseCode::Forbidden,
            CloseCode::OverQuota,
            CloseCode::Unauthorized,
        ] {
            assert!((4000..4100).contains(&code.code()) && !code.should_reconnect());
        }
        for code in [CloseCode::RateLimited, CloseCode::SlowConsumer] {
            assert!((4100..4200).contains(&code.code()) && code.should_reconnect());
        }
        for code in [
            CloseCode::PongTimeout,
            CloseCode::TokenExpired,
            CloseCode::ResyncRequired,
        ] {
            assert!((4200..4300).contains(&code.code()) && code.should_reconnect());
        }
    }
}
