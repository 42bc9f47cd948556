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
//!
//! One exception, for development: with the list empty, the hub bound to a loopback address
//! and the request addressed to a loopback name (`Host` is `localhost`, `127.0.0.1` or
//! `[::1]`, any port), pages on `http://localhost`, `http://127.0.0.1` or `http://[::1]`, any
//! port, may connect too — as Django's `AllowedHostsOriginValidator` lets them when `DEBUG`
//! is on. A Next.js dev server on port 3000 then reaches a hub on `localhost:8000` with no
//! configuration. Such a page and such a hub are on the same machine, and the page was served
//! by a process there that could talk to the hub itself, so nobody gains anything they did
//! not have. Both conditions on the hub matter: one bound elsewhere (`0.0.0.0`, a LAN or a
//! public address) is reached from other machines, where a "localhost" page is the visitor's
//! own; and one bound to loopback behind Nginx (`deploy/`) is reached under its public name,
//! so `Host` is that name and the strict rule holds there too.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::config::Config;
use crate::error::ApiError;

/// Refuses a handshake whose `Origin` is neither same-origin nor allowed by `config`: listed
/// in `HUB_ALLOWED_ORIGINS`, or — the list empty, the hub bound to loopback and addressed by
/// a loopback name — a loopback page (see the module docs). `HUB_TRUSTED_PROXIES` are the
/// proxies whose `X-Forwarded-Proto` tells the scheme the client used.
pub fn check(req: &HttpRequest, config: &Config) -> Result<(), ApiError> {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
    let allowed = &config.allowed_origins;
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
    if allowed.is_empty()
        && config.bind.ip().is_loopback()
        && loopback_authority(host)
        && origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("HTTP://"))
            .is_some_and(loopback_authority)
    {
        return Ok(());
    }
    if !host.is_empty() && same_origin(origin, scheme(req, &config.trusted_proxies), host) {
        return Ok(());
    }
    Err(ApiError::Forbidden("origin not allowed".into()))
}

/// Whether `authority` (`host[:port]`, from a `Host` header or an origin) names this machine:
/// `localhost`, `127.0.0.1` or `[::1]`, with any port or none. Anything else (a user part, a
/// path, a port that is not digits, `localhost.example.com`) does not.
fn loopback_authority(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, rest)) => (&authority[..addr.len() + 2], rest),
            None => return false,
        },
        None => match authority.find(':') {
            Some(colon) => authority.split_at(colon),
            None => (authority, ""),
        },
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => {
            !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit())
        }
        None => port.is_empty(),
    };
    port_ok
        && ["localhost", "127.0.0.1", "[::1]"]
            .iter()
            .any(|h| host.eq_ignore_ascii_case(h))
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

    /// A configuration with these origins listed, these proxies trusted and this bind.
    fn config(allowed: &[&str], trusted: &[&str], bind: &str) -> Config {
        let (allowed, trusted, bind) = (allowed.join(","), trusted.join(","), bind.to_string());
        Config::from_lookup(move |k| match k {
            "HUB_ALLOWED_ORIGINS" => Some(allowed.clone()),
            "HUB_TRUSTED_PROXIES" => Some(trusted.clone()),
            "HUB_BIND" => Some(bind.clone()),
            _ => None,
        })
        .unwrap()
    }

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
        let none = config(&[], &[], "0.0.0.0:8000");
        let list = config(&["https://app.example"], &[], "0.0.0.0:8000");
        let any = config(&["*"], &[], "0.0.0.0:8000");
        assert!(check(&req(None), &none).is_ok());
        assert!(check(&req(Some("http://hub.local:8000")), &none).is_ok());
        assert!(check(&req(Some("https://app.example")), &list).is_ok());
        assert!(check(&req(Some("https://evil.example")), &list).is_err());
        assert!(check(&req(Some("https://evil.example")), &any).is_ok());
    }

    #[test]
    fn the_scheme_is_part_of_the_origin() {
        let (plain, proxied) = (
            config(&[], &[], "0.0.0.0:8000"),
            config(&[], &["127.0.0.1"], "0.0.0.0:8000"),
        );
        let https = Some("https://hub.local:8000");
        let http = Some("http://hub.local:8000");
        // A plain hub: only http pages are its own.
        assert!(check(&req("10.0.0.9", https, None), &plain).is_err());
        // X-Forwarded-Proto counts only from a trusted proxy.
        assert!(check(&req("10.0.0.9", https, Some("https")), &proxied).is_err());
        assert!(check(&req("127.0.0.1", https, Some("https")), &plain).is_err());
        assert!(check(&req("127.0.0.1", https, Some("https")), &proxied).is_ok());
        assert!(check(&req("127.0.0.1", http, Some("https")), &proxied).is_err());
        assert!(check(&req("127.0.0.1", http, Some("http")), &proxied).is_ok());
    }

    #[test]
    fn loopback_pages_reach_a_loopback_hub_addressed_by_a_loopback_name() {
        let from = |origin: &str, host: &str, hub: &Config| {
            let req = TestRequest::default()
                .peer_addr("127.0.0.1:5000".parse().unwrap())
                .insert_header((header::HOST, host))
                .insert_header((header::ORIGIN, origin))
                .to_http_request();
            check(&req, hub).is_ok()
        };
        let local = [
            "http://localhost:3000",
            "http://localhost",
            "HTTP://LocalHost:5173",
            "http://127.0.0.1:8080",
            "http://[::1]:3000",
            "http://[::1]",
        ];
        let foreign = [
            "https://localhost:3443",
            "http://localhost.evil.example:3000",
            "http://evil.example",
            "http://127.0.0.2:3000",
            "http://localhost:",
            "http://localhost:3000x",
            "http://localhost:123456",
            "http://user@localhost:3000",
            "http://[::1",
            "http://[::2]:3000",
            "ws://localhost:3000",
            "file://localhost",
            "null",
            "localhost:3000",
        ];
        let hosts = [
            "localhost:8000",
            "127.0.0.1:8000",
            "[::1]:8000",
            "LOCALHOST",
        ];
        for bind in ["127.0.0.1:8000", "[::1]:8000"] {
            let hub = config(&[], &[], bind);
            for (origin, host) in local.iter().flat_map(|o| hosts.map(|h| (o, h))) {
                assert!(from(origin, host, &hub), "{origin} to {host} on {bind}");
            }
            for origin in foreign {
                assert!(!from(origin, "localhost:8000", &hub), "{origin} on {bind}");
            }
            // Reached under another name (through Nginx, say): the strict rule.
            for host in [
                "hub.example",
                "hub.example:443",
                "localhost.hub.example",
                "",
            ] {
                assert!(!from("http://localhost:3000", host, &hub), "to {host:?}");
            }
        }
        // Bound elsewhere, or with a list, the present rules hold.
        for hub in [
            config(&[], &[], "0.0.0.0:8000"),
            config(&[], &[], "[::]:8000"),
            config(&[], &[], "192.0.2.10:8000"),
            config(&["https://app.example"], &[], "127.0.0.1:8000"),
        ] {
            for origin in local {
                assert!(
                    !from(origin, "localhost:8000", &hub),
                    "{origin} on {}",
                    hub.bind
                );
            }
            // The page of the hub itself stays allowed.
            assert!(from("http://localhost:8000", "localhost:8000", &hub));
        }
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
