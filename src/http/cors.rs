//! CORS for the REST API, so that a page on another origin (a Next.js app on its own port or
//! domain) can call it from the browser with a bearer token.
//!
//! The origins are the ones that may open sockets ([`crate::auth::origin::check`]): those in
//! `HUB_ALLOWED_ORIGINS` (`*` for any), the hub's own, and on a loopback hub the loopback pages.
//! An allowed origin gets `Access-Control-Allow-Origin` naming it on every answer and a 204
//! to its preflight; any other origin gets no CORS header (the browser then withholds the
//! answer) and a 403 `{"error": "origin not allowed"}` to its preflight. Credentials (cookies)
//! are not allowed across origins: the REST API reads bearer tokens, which a page sends only
//! when its own code chose to. WebSocket upgrades are left alone: browsers apply no CORS to
//! them, and the handshake checks the Origin itself.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse, ResponseError};

use crate::auth::origin;
use crate::error::ApiError;
use crate::state::AppState;

/// Methods a preflight may ask for: every method a REST route answers.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
/// Request headers allowed when a preflight names none.
const HEADERS: &str = "authorization, content-type";
/// How long a browser may reuse a preflight's answer, in seconds.
const MAX_AGE: &str = "600";

/// The middleware: answers preflights, and marks the answers to allowed origins.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let Some(origin) = origin.filter(|_| !upgrade) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let allowed = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| origin::check(req.request(), &state.config).is_ok());
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let response = if allowed {
            let headers = req
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned()
                .unwrap_or(HeaderValue::from_static(HEADERS));
            HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, headers))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE))
                .insert_header((
                    header::VARY,
                    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
                ))
                .finish()
        } else {
            ApiError::Forbidden("origin not allowed".into()).error_response()
        };
        return Ok(req.into_response(response));
    }
    let mut response = next.call(req).await?;
    if allowed {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(response.map_into_boxed_body())
}
