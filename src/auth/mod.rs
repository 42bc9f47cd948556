//! Authentication shared by every dialect: HS256 JWTs, where tokens come from, and who the
//! token says the user is.
//!
//! The claim names accepted are those of the clients the hub replaces: `user_id`
//! (djangorestframework-simplejwt), `id` (the Laravel hub's tokens) or `sub` for the user id;
//! `name`, `username` or `preferred_username` for the display name. `exp` is required and `nbf`
//! is enforced, without leeway.
//!
//! The rules are strict on purpose, because every refusal here is a token that somebody
//! minted wrongly or forged: the user id is the FIRST of `user_id`, `id`, `sub` that is
//! present, and it must be a positive integer (or a string of digits) — a present but invalid
//! first claim refuses the token instead of falling through to the next one, which would let a
//! token say one thing to its issuer and another to the hub. Tokens come from
//! `Authorization: Bearer` (scheme in any case, RFC 7235) and `?token=`; every token a request
//! carries must be valid and name the same user.

pub mod origin;
pub mod secret;

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The query parameters that carry tokens. Only `token` is read as one; `access_token` (what
/// other real-time servers use) is listed so the access log never shows it either.
pub const TOKEN_PARAMS: [&str; 2] = ["token", "access_token"];

/// The verified identity a token carries. Users are keyed by `id`; `name` is what others see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's id: the first of `user_id`, `id` and `sub` present, always positive.
    pub id: i64,
    /// The display name the token gives, or the decimal id when it gives none; once the user
    /// is recorded ([`crate::hub::handshake::remember`]), the name the database holds, so a
    /// token without a name is shown under the stored one.
    pub name: String,
    /// Whether `name` came from a claim. A token without one must not rename a stored user to
    /// the decimal id (SPEC §3: "a token without a name keeps the stored name").
    pub named: bool,
    /// The broadcast dialect's channel claim (`name:p1,p2`), if present.
    pub channel: Option<String>,
    /// Unix time the token expires at; open connections are closed then (4202).
    pub exp: i64,
}

/// The claims the `token` command writes: every id and name form a client may look for.
#[derive(Debug, Serialize)]
struct MintClaims<'a> {
    user_id: i64,
    id: i64,
    sub: String,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<&'a str>,
    iat: i64,
    exp: i64,
}

/// Verifies and mints tokens with the configured secret. Cheap to clone behind an `Arc`.
pub struct Auth {
    decoding: DecodingKey,
    encoding: EncodingKey,
    validation: Validation,
}

impl Auth {
    /// Keys for HS256 with `secret`. (Its length is checked where it is configured:
    /// [`crate::config::Config`] refuses a `JWT_SECRET` under 32 bytes.)
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        // A token minted for later (an `nbf` ahead) is not valid yet, on sockets and REST.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        Auth {
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Checks signature, expiry and `nbf`, and picks the identity out of the claims.
    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.decoding, &self.validation)
                .map_err(|e| {
                    ApiError::Unauthorized(match e.kind() {
                        ErrorKind::ExpiredSignature => "token expired".into(),
                        ErrorKind::ImmatureSignature => "token not yet valid".into(),
                        ErrorKind::InvalidSignature => "invalid token signature".into(),
                        ErrorKind::MissingRequiredClaim(c) => format!("token has no {c} claim"),
                        _ => "invalid token".into(),
                    })
                })?;
        identity(&data.claims)
    }

    /// Mints a token valid for `ttl_secs` (the `realtime-hub token` command and tests). The
    /// expiry saturates rather than wrapping; the command refuses such a TTL first
    /// ([`parse_ttl`]).
    pub fn mint(&self, id: i64, name: &str, channel: Option<&str>, ttl_secs: i64) -> String {
        let now = unix_now();
        let claims = MintClaims {
            user_id: id,
            id,
            sub: id.to_string(),
            name,
            channel,
            iat: now,
            exp: now.saturating_add(ttl_secs),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    /// The identity a request's tokens prove. `Ok(None)` when the request carries no token at
    /// all. Every token present must be valid — a bad `?token=` beside a good header (or the
    /// reverse) refuses the request, never downgrades it — and all must name the same user.
    pub fn from_request(&self, req: &HttpRequest) -> Result<Option<Identity>, ApiError> {
        let mut found: Option<Identity> = None;
        for token in tokens_of(req) {
            let who = self.verify(&token)?;
            match &found {
                Some(first) if first.id != who.id => {
                    return Err(ApiError::Unauthorized("tokens name different users".into()))
                }
                Some(_) => {}
                None => found = Some(who),
            }
        }
        Ok(found)
    }
}

/// Reads the identity out of verified claims (see the module docs for the rules).
fn identity(claims: &Map<String, Value>) -> Result<Identity, ApiError> {
    let invalid =
        |claim: &str| ApiError::Unauthorized(format!("token has an invalid {claim} claim"));
    // jsonwebtoken skips an `nbf` it cannot read as a number; a token whose `nbf` is there
    // but unreadable is refused like any other bad claim.
    if claims.get("nbf").is_some_and(|v| !v.is_number()) {
        return Err(invalid("nbf"));
    }
    let (claim, raw) = ["user_id", "id", "sub"]
        .into_iter()
        .find_map(|c| claims.get(c).map(|v| (c, v)))
        .ok_or_else(|| ApiError::Unauthorized("token has no user id".into()))?;
    let id = user_id(raw).ok_or_else(|| invalid(claim))?;
    let mut name = None;
    for claim in ["name", "username", "preferred_username"] {
        match claims.get(claim) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => {
                name = Some(s.clone());
                break;
            }
            Some(_) => return Err(invalid(claim)),
        }
    }
    let channel = match claims.get("channel") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("channel")),
    };
    // Present and numeric: jsonwebtoken has checked it (`set_required_spec_claims`).
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
        .ok_or_else(|| invalid("exp"))?;
    Ok(Identity {
        id,
        named: name.is_some(),
        name: name.unwrap_or_else(|| id.to_string()),
        channel,
        exp,
    })
}

/// A user id claim: a positive JSON integer, or a string of ASCII digits (simplejwt emits
/// either) naming a positive integer.
fn user_id(raw: &Value) -> Option<i64> {
    let id = match raw {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()?
        }
        _ => return None,
    };
    (id > 0).then_some(id)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The credentials of an `Authorization: Bearer …` header, the scheme matched in any case
/// (RFC 7235 §2.1). `None` without the header, with another scheme or with nothing after it.
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, credentials) = value.split_once([' ', '\t'])?;
    let credentials = credentials.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty()).then_some(credentials)
}

/// Every token a request carries: the `Authorization: Bearer` one, then each non-empty
/// `?token=` (decoded as [`query_pairs`] decodes it), without repeats.
pub fn tokens_of(req: &HttpRequest) -> Vec<String> {
    let mut tokens: Vec<String> = bearer(req).map(str::to_string).into_iter().collect();
    for (key, value) in query_pairs(req.query_string()) {
        if key == "token" && !value.is_empty() && !tokens.contains(&value) {
            tokens.push(value);
        }
    }
    tokens
}

/// A query string as `application/x-www-form-urlencoded` decodes it (`+` is a space,
/// `%74oken` is `token`). Authentication and the access log's redaction both read queries
/// through this, so a key the one treats as a token the other hides.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}

/// Whether one raw `key=value` piece of a query string carries a token: its key, decoded as
/// authentication decodes it, is one of [`TOKEN_PARAMS`].
pub fn is_token_pair(raw_pair: &str) -> bool {
    query_pairs(raw_pair)
        .first()
        .is_some_and(|(key, _)| TOKEN_PARAMS.contains(&key.as_str()))
}

/// One decoded query parameter; empty values count as absent.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query_pairs(query)
        .into_iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// Compares a presented secret (an API key, a metrics key) with the configured one in time
/// that depends only on the configured one's length, so response times leak nothing about how
/// much of a guess was right.
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        diff |= e ^ given.get(i).copied().unwrap_or(!e);
    }
    diff == 0
}

/// Why a `--ttl` cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TtlError {
    /// Not `30s`, `15m`, `1h`, `7d` or plain seconds, or not positive.
    #[error("cannot read --ttl {0:?}: use 30m, 1h, 7d or seconds")]
    Unreadable(String),
    /// So long that the expiry would not fit a 64-bit Unix time (it would wrap to the past).
    #[error("--ttl {0:?} is too long: the token's expiry would overflow")]
    TooLong(String),
}

/// Parses `30s`, `15m`, `1h`, `7d` or plain seconds (the `--ttl` option) into seconds, refusing
/// a TTL whose expiry (now + TTL) would not fit an `i64`.
pub fn parse_ttl(raw: &str) -> Result<i64, TtlError> {
    let unreadable = || TtlError::Unreadable(raw.to_string());
    let trimmed = raw.trim();
    let (num, unit) = match trimmed.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => trimmed.split_at(i),
        None => (trimmed, "s"),
    };
    let mult: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(unreadable()),
    };
    if num.is_empty() {
        return Err(unreadable());
    }
    // Digits only, so a parse failure is a number too large for 64 bits.
    let n: i64 = num
        .parse()
        .map_err(|_| TtlError::TooLong(raw.to_string()))?;
    if n == 0 {
        return Err(unreadable());
    }
    n.checked_mul(mult)
        .filter(|ttl| unix_now().checked_add(*ttl).is_some())
        .ok_or_else(|| TtlError::TooLong(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap()
    }

    #[test]
    fn accepts_every_claim_dialect() {
        let auth = Auth::new("s3cret");
        let exp = unix_now() + 60;
        let cases = [
            (
                serde_json::json!({"user_id": 7, "username": "ann", "exp": exp}),
                7,
                "ann",
            ),
            (
                serde_json::json!({"id": 8, "name": "bob", "channel": "chat:1,2", "exp": exp}),
                8,
                "bob",
            ),
            (
                serde_json::json!({"sub": "9", "preferred_username": "cy", "exp": exp}),
                9,
                "cy",
            ),
            (serde_json::json!({"user_id": "10", "exp": exp}), 10, "10"),
            // The first name claim present wins: `name`, then `username`, then
            // `preferred_username`; an empty or null one counts as absent.
            (
                serde_json::json!({"id": 11, "name": "dee", "username": "d", "preferred_username": "dd", "exp": exp}),
                11,
                "dee",
            ),
            (
                serde_json::json!({"id": 12, "username": "eve", "preferred_username": "e", "exp": exp}),
                12,
                "eve",
            ),
            (
                serde_json::json!({"id": 13, "name": "", "username": null, "preferred_username": "fay", "exp": exp}),
                13,
                "fay",
            ),
        ];
        for (claims, id, name) in cases {
            let who = auth.verify(&sign(claims)).unwrap();
            assert_eq!((who.id, who.name.as_str()), (id, name));
            // Only a token with none of the claims stands in its id, and says so.
            assert_eq!(who.named, id != 10);
        }
    }

    #[test]
    fn refuses_expired_unsigned_and_idless_tokens() {
        let auth = Auth::new("s3cret");
        let expired = sign(serde_json::json!({"user_id": 1, "exp": unix_now() - 5}));
        assert_eq!(
            auth.verify(&expired).unwrap_err().to_string(),
            "token expired"
        );
        let no_exp = sign(serde_json::json!({"user_id": 1}));
        assert_eq!(
            auth.verify(&no_exp).unwrap_err().to_string(),
            "token has no exp claim"
        );
        let no_id = sign(serde_json::json!({"name": "x", "exp": unix_now() + 60}));
        assert_eq!(
            auth.verify(&no_id).unwrap_err().to_string(),
            "token has no user id"
        );
        let other = Auth::new("different").mint(1, "a", None, 60);
        assert_eq!(
            auth.verify(&other).unwrap_err().to_string(),
            "invalid token signature"
        );
    }

    #[test]
    fn minted_tokens_verify() {
        let auth = Auth::new("k");
        let who = auth
            .verify(&auth.mint(3, "alice", Some("chat:1"), 60))
            .unwrap();
        assert_eq!(who.channel.as_deref(), Some("chat:1"));
        assert_eq!(who.name, "alice");
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("1h"), Ok(3600));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert_eq!(parse_ttl("2d"), Ok(172_800));
        for bad in ["1y", "0s", "", "h", "-5"] {
            assert_eq!(parse_ttl(bad), Err(TtlError::Unreadable(bad.into())));
        }
        for huge in [
            "106751991167301d",
            "99999999999999999999",
            "9223372036854775807",
        ] {
            assert_eq!(parse_ttl(huge), Err(TtlError::TooLong(huge.into())));
        }
    }

    #[test]
    fn user_ids_come_from_the_first_claim_present_and_must_be_positive() {
        let auth = Auth::new("s3cret");
        let exp = unix_now() + 60;
        let verify = |claims: serde_json::Value| auth.verify(&sign(claims)).map(|w| w.id);
        assert_eq!(
            verify(serde_json::json!({"user_id": "12", "sub": "7", "exp": exp})).unwrap(),
            12
        );
        for (claims, claim) in [
            (serde_json::json!({"user_id": "-5", "exp": exp}), "user_id"),
            (serde_json::json!({"user_id": -5, "exp": exp}), "user_id"),
            (serde_json::json!({"user_id": 0, "exp": exp}), "user_id"),
            (
                serde_json::json!({"user_id": "abc", "sub": "7", "exp": exp}),
                "user_id",
            ),
            (
                serde_json::json!({"user_id": null, "sub": "7", "exp": exp}),
                "user_id",
            ),
            (serde_json::json!({"id": 1.5, "exp": exp}), "id"),
            (serde_json::json!({"id": " 7", "exp": exp}), "id"),
            (serde_json::json!({"sub": "+7", "exp": exp}), "sub"),
            (
                serde_json::json!({"sub": "99999999999999999999", "exp": exp}),
                "sub",
            ),
        ] {
            assert_eq!(
                verify(claims.clone()).unwrap_err().to_string(),
                format!("token has an invalid {claim} claim"),
                "{claims}"
            );
        }
    }

    #[test]
    fn nbf_ahead_is_refused() {
        let auth = Auth::new("s3cret");
        let now = unix_now();
        let later = sign(serde_json::json!({"user_id": 1, "exp": now + 7200, "nbf": now + 3600}));
        assert_eq!(
            auth.verify(&later).unwrap_err().to_string(),
            "token not yet valid"
        );
        let unreadable = sign(serde_json::json!({"user_id": 1, "exp": now + 60, "nbf": "soon"}));
        assert_eq!(
            auth.verify(&unreadable).unwrap_err().to_string(),
            "token has an invalid nbf claim"
        );
        let past = sign(serde_json::json!({"user_id": 1, "exp": now + 60, "nbf": now - 1}));
        assert_eq!(auth.verify(&past).unwrap().id, 1);
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        use actix_web::test::TestRequest;
        let with = |value: &str| {
            TestRequest::default()
                .insert_header(("Authorization", value))
                .to_http_request()
        };
        for value in ["Bearer abc", "bearer abc", "BEARER  abc ", "bEaReR	abc"] {
            assert_eq!(bearer(&with(value)), Some("abc"), "{value:?}");
        }
        for value in ["Basic abc", "Bearer", "Bearer   ", "Bearerabc"] {
            assert_eq!(bearer(&with(value)), None, "{value:?}");
        }
    }

    #[test]
    fn token_keys_are_decoded_as_authentication_decodes_them() {
        for pair in [
            "token=x",
            "%74oken=x",
            "%74%6F%6B%65%6E=x",
            "access_token=x",
            "acces%73_token=x",
        ] {
            assert!(is_token_pair(pair), "{pair}");
        }
        for pair in ["tokens=x", "a=token", "to+ken=x", "Token=x"] {
            assert!(!is_token_pair(pair), "{pair}");
        }
        assert_eq!(
            query_param("%74oken=abc&x=1", "token").as_deref(),
            Some("abc")
        );
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"abcd", b"abc"));
        assert!(!same_secret(b"", b"x"));
        assert!(!same_secret(b"\xff", b""));
    }
}
