//! What every REST handler needs from a request: the authenticated user, a JSON body read
//! within the limits, and JSON answers for methods a path does not serve.
//!
//! actix-web answers those last cases itself, in plain text (413 "payload reached size
//! limit") or not at all (a wrong method fell through to the 404 of the default service);
//! a client of this hub gets `{"error": …}` for every refusal, so they are answered here.

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest, Route};
use bytes::{Bytes, BytesMut};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::hub::handshake;
use crate::state::AppState;

/// The user a REST request's `Authorization: Bearer` (or `?token=`) token names, recorded in
/// the users table as a socket's would be, its `name` the stored one. No Origin check: a
/// bearer token is not sent by browsers on their own, so cross-site requests cannot borrow it.
pub async fn user(req: &HttpRequest, state: &AppState) -> Result<Identity, ApiError> {
    let mut identity = state
        .auth
        .from_request(req)?
        .ok_or_else(|| ApiError::Unauthorized("authentication required".into()))?;
    handshake::remember(state, &mut identity).await?;
    Ok(identity)
}

/// A request body where JSON is read, within the limits every REST endpoint shares: at most
/// `HUB_MAX_BODY_BYTES` (413, before reading when `Content-Length` already says more), and
/// declared `Content-Type: application/json` (or a `+json` type) when there is one (415) — a
/// JSON body under another type is what a cross-site page can post without a CORS preflight. An empty (or blank) body
/// needs no type, so endpoints whose body is optional keep working without one. The handler
/// parses the bytes, so each endpoint keeps its own 400/422 wording.
pub struct JsonBody(pub Bytes);

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(256 * 1024, |state| state.config.max_body_bytes);
        let too_large =
            move || ApiError::PayloadTooLarge(format!("request body over {limit} bytes"));
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let json = declares_json(req);
        let mut stream = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            if !json && !body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::UnsupportedMediaType(
                    "Content-Type must be application/json".into(),
                ));
            }
            Ok(JsonBody(body.freeze()))
        })
    }
}

/// Whether the request declares a JSON body: `application/json` or `application/<x>+json`,
/// parameters (`; charset=utf-8`) allowed, case-insensitive.
fn declares_json(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// One method of a REST path and what makes its route, e.g. `(Method::GET, || web::to(list))`
/// (a maker, since a route is mounted once per spelling of the path).
pub type MethodRoute = (Method, fn() -> Route);

/// Mounts `path` and `path/` as resources serving `routes`. Any other method gets 405 with
/// `Allow` and a JSON body, rather than falling through to the 404 of paths that do not exist.
pub fn endpoint(cfg: &mut web::ServiceConfig, path: &str, routes: &[MethodRoute]) {
    let allow = routes
        .iter()
        .map(|(m, _)| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    for p in [path.to_string(), format!("{path}/")] {
        let mut resource = web::resource(p);
        for (method, make) in routes {
            resource = resource.route(make().method(method.clone()));
        }
        let allow = allow.clone();
        cfg.service(resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed(allow)) }
        })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn json_content_types() {
        let with = |ct: &str| {
            TestRequest::default()
                .insert_header((header::CONTENT_TYPE, ct))
                .to_http_request()
        };
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(declares_json(&with(ok)), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "json",
        ] {
            assert!(!declares_json(&with(bad)), "{bad}");
        }
        assert!(!declares_json(&TestRequest::default().to_http_request()));
    }
}
