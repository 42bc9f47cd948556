//! The `Origin` allow-list that stops cross-site WebSocket hijacking: a page on another site
//! must not open a socket with the visitor's cookies or a token it found.
//!
//! As in Centrifugo, an empty list allows same-origin pages only; clients that send no
//! `Origin` (servers, native apps, test tools) are allowed, because they cannot carry a
//! victim's ambient credentials. Same-origin is the whole origin — scheme, host and port, as
//! browsers define it: an `https://hub:8000` page is not the origin of an `http://hub:8000` hub.
//! The hub speaks plain HTTP itself (TLS is Nginx's), so its scheme is `http` unless a trusted
//! proxy (`HUB_TRUSTED_PROXIES`) says `X-Forwarded-Proto: https`; from anyone else that header
//! is ignored, since a client could send whatever it likes.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::error::ApiError;

/// Refuses a handshake whose `Origin` is neither same-origin nor in `allowed`; `trusted` are
/// the proxies whose `X-Forwarded-Proto` tells the scheme the client used.
pub fn check(req: &HttpRequest, allowed: &[String], trusted: &[IpAddr]) -> Result<(), ApiError> {
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
    if !host.is_empty() && same_origin(origin, scheme(req, trusted), host) {
        return Ok(());
    }
    Err(ApiError::Forbidden("origin not allowed".into()))
}

/// The scheme the client reached the hub with: what a trusted proxy's `X-Forwarded-Proto`
/// says (the value it set, the last one), `http` otherwise.
fn scheme(req: &HttpRequest, trusted: &[IpAddr]) -> &'static str {
    let from_proxy = req.peer_addr().is_some_and(|p| trusted.contains(&p.ip()));
    let forwarded = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim);
    match forwarded {
        Some(proto) if from_proxy && proto.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    }
}

/// Whether `origin` (`scheme://host[:port]`) is the hub's own origin, `scheme://host`, a
/// scheme's default port written or not.
fn same_origin(origin: &str, scheme: &str, host: &str) -> bool {
    let Some((origin_scheme, origin_host)) = origin.split_once("://") else {
        return false;
    };
    origin_scheme.eq_ignore_ascii_case(scheme)
        && without_default_port(origin_host, scheme)
            .eq_ignore_ascii_case(without_default_port(host, scheme))
}

fn without_default_port<'a>(authority: &'a str, scheme: &str) -> &'a str {
    let default = if scheme == "https" { ":443" } else { ":80" };
    authority.strip_suffix(default).unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(peer: &str, origin: Option<&str>, proto: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default()
            .peer_addr(format!("{peer}:5000").parse().unwrap())
            .insert_header((header::HOST, "hub.local:8000"));
        if let Some(o) = origin {
            r = r.insert_header((header::ORIGIN, o));
        }
        if let Some(p) = proto {
            r = r.insert_header(("X-Forwarded-Proto", p));
        }
        r.to_http_request()
    }

    #[test]
    fn same_origin_listed_and_missing_pass_others_fail() {
        let req = |origin: Option<&str>| req("10.0.0.9", origin, None);
        let list = vec!["https://app.example".to_string()];
        assert!(check(&req(None), &[], &[]).is_ok());
        assert!(check(&req(Some("http://hub.local:8000")), &[], &[]).is_ok());
        assert!(check(&req(Some("https://app.example")), &list, &[]).is_ok());
        assert!(check(&req(Some("https://evil.example")), &list, &[]).is_err());
        assert!(check(&req(Some("https://evil.example")), &["*".into()], &[]).is_ok());
    }

    #[test]
    fn the_scheme_is_part_of_the_origin() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let https = Some("https://hub.local:8000");
        let http = Some("http://hub.local:8000");
        // A plain hub: only http pages are its own.
        assert!(check(&req("10.0.0.9", https, None), &[], &[]).is_err());
        // X-Forwarded-Proto counts only from a trusted proxy.
        assert!(check(&req("10.0.0.9", https, Some("https")), &[], &[proxy]).is_err());
        assert!(check(&req("127.0.0.1", https, Some("https")), &[], &[]).is_err());
        assert!(check(&req("127.0.0.1", https, Some("https")), &[], &[proxy]).is_ok());
        assert!(check(&req("127.0.0.1", http, Some("https")), &[], &[proxy]).is_err());
        assert!(check(&req("127.0.0.1", http, Some("http")), &[], &[proxy]).is_ok());
    }

    #[test]
    fn default_ports_may_be_written_or_not() {
        assert!(same_origin("http://hub.local", "http", "hub.local:80"));
        assert!(same_origin("https://hub.local:443", "https", "hub.local"));
        assert!(same_origin("HTTPS://Hub.Local", "https", "hub.local"));
        assert!(!same_origin("https://hub.local", "https", "hub.local:80"));
        assert!(!same_origin("hub.local", "http", "hub.local"));
    }
}
