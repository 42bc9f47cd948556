//! What REST handlers and the socket's handshake read from a request: the session token
//! (Mattermost's `ParseAuthTokenFromRequest` order), the signed-in user, JSON bodies and
//! query strings, each refusal an [`MmError`].

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;

use crate::services::mattermost::users::{self, SessionUser};
use crate::services::mattermost::MmError;
use crate::state::AppState;

/// The cookie that carries the session token in browsers.
pub const AUTH_COOKIE: &str = "MMAUTHTOKEN";
/// The cookie that tells the web app who is signed in.
pub const USER_COOKIE: &str = "MMUSERID";

/// Where a token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// The `MMAUTHTOKEN` cookie.
    Cookie,
    /// `Authorization: Bearer …` or `Authorization: Token …`.
    Header,
    /// `?access_token=`.
    Query,
}

/// The session token, first match wins: cookie, `Authorization: Bearer|Token` (scheme
/// compared without case, as Client4 sends `BEARER`), `?access_token=`.
pub fn token(req: &HttpRequest) -> Option<(String, TokenSource)> {
    if let Some(c) = req.cookie(AUTH_COOKIE).filter(|c| !c.value().is_empty()) {
        return Some((c.value().to_string(), TokenSource::Cookie));
    }
    if let Some(h) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            let t = rest.trim();
            if !t.is_empty() {
                return Some((t.to_string(), TokenSource::Header));
            }
        }
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .find(|(k, v)| k == "access_token" && !v.is_empty())
        .map(|(_, v)| (v, TokenSource::Query))
}

/// The signed-in user of a REST request; 401 without a live session. A token from the
/// cookie counts only with `X-Requested-With: XMLHttpRequest` (what Client4 always sends):
/// a browser sends cookies with cross-site requests too, and Mattermost refuses those the
/// same way.
pub async fn me(req: &HttpRequest, state: &AppState) -> Result<SessionUser, MmError> {
    let Some((token, source)) = token(req) else {
        return Err(MmError::session_expired());
    };
    let xhr = req
        .headers()
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    if source == TokenSource::Cookie && !xhr {
        return Err(MmError::session_expired());
    }
    users::authenticate(&state.db, token).await
}

/// A JSON body; anything else is Mattermost's `invalid_body_param` naming `what`.
pub fn body<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, MmError> {
    serde_json::from_slice(bytes).map_err(|_| MmError::invalid_body(what))
}

/// Query parameters; one that does not parse is an `invalid_param`.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, MmError> {
    serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        let text = e.to_string();
        let name = text.split('`').nth(1).unwrap_or("query").to_string();
        MmError::invalid_param(&name)
    })
}
