//! The `Origin` allow-list that stops cross-site WebSocket hijacking: a page on another site
//! must not open a socket with the visitor's cookies or a token it found.
//!
//! As in Centrifugo, an empty list allows same-origin pages only (the `Origin` host equals the
//! `Host` header); clients that send no `Origin` (servers, native apps, test tools) are allowed,
//! because they cannot carry a victim's ambient credentials.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::ApiError;

/// Refuses a handshake whose `Origin` is neither same-origin nor in `allowed`.
pub fn check(req: &HttpRequest, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return Ok(());
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        return Ok(());
    }
    Err(ApiError::Forbidden("origin not allowed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn same_origin_listed_and_missing_pass_others_fail() {
        let req = |origin: Option<&str>| {
            let mut r = TestRequest::default().insert_header((header::HOST, "hub.local:8000"));
            if let Some(o) = origin {
                r = r.insert_header((header::ORIGIN, o));
            }
            r.to_http_request()
        };
        let list = vec!["https://app.example".to_string()];
        assert!(check(&req(None), &[]).is_ok());
        assert!(check(&req(Some("http://hub.local:8000")), &[]).is_ok());
        assert!(check(&req(Some("https://app.example")), &list).is_ok());
        assert!(check(&req(Some("https://evil.example")), &list).is_err());
        assert!(check(&req(Some("https://evil.example")), &["*".into()]).is_ok());
    }
}
