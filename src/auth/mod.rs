//! Authentication shared by every dialect: HS256 JWTs, where tokens come from, and who the
//! token says the user is.
//!
//! The claim names accepted are those of the clients the hub replaces: `user_id`
//! (djangorestframework-simplejwt), `id` (the Laravel hub's tokens) or `sub` for the user id;
//! `name`, `username` or `preferred_username` for the display name. `exp` is required.

pub mod origin;
pub mod secret;

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::ApiError;

/// The verified identity a token carries. Users are keyed by `id`; `name` is what others see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's id, from `user_id`, `id` or `sub`.
    pub id: i64,
    /// The display name; the decimal id when the token names nobody.
    pub name: String,
    /// The broadcast dialect's channel claim (`name:p1,p2`), if present.
    pub channel: Option<String>,
    /// Unix time the token expires at; open connections are closed then (4202).
    pub exp: i64,
}

/// An id claim may be a JSON number or a string of digits (simplejwt emits either).
fn id_claim<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Str(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Int(i)) => Some(i),
        Some(Raw::Str(s)) => s.parse().ok(),
        None => None,
    })
}

/// The claims as they may appear on the wire; [`Identity`] is what is left after choosing.
#[derive(Debug, Deserialize)]
struct RawClaims {
    #[serde(default, deserialize_with = "id_claim")]
    user_id: Option<i64>,
    #[serde(default, deserialize_with = "id_claim")]
    id: Option<i64>,
    #[serde(default, deserialize_with = "id_claim")]
    sub: Option<i64>,
    name: Option<String>,
    username: Option<String>,
    preferred_username: Option<String>,
    channel: Option<String>,
    /// Required; jsonwebtoken checks presence and expiry before these claims are read.
    exp: Option<i64>,
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
    /// Keys for HS256 with `secret`.
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        Auth {
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Checks signature and expiry and picks the identity out of the claims.
    pub fn verify(&self, token: &str) -> Result<Identity, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<RawClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                ApiError::Unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired".into(),
                    ErrorKind::InvalidSignature => "invalid token signature".into(),
                    ErrorKind::MissingRequiredClaim(c) => format!("token has no {c} claim"),
                    _ => "invalid token".into(),
                })
            })?;
        let c = data.claims;
        let id = c
            .user_id
            .or(c.id)
            .or(c.sub)
            .ok_or_else(|| ApiError::Unauthorized("token has no user id".into()))?;
        let name = c
            .name
            .or(c.username)
            .or(c.preferred_username)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| id.to_string());
        Ok(Identity {
            id,
            name,
            channel: c.channel,
            exp: c.exp.unwrap_or_default(),
        })
    }

    /// Mints a token valid for `ttl_secs` (the `realtime-hub token` command and tests).
    pub fn mint(&self, id: i64, name: &str, channel: Option<&str>, ttl_secs: i64) -> String {
        let now = unix_now();
        let claims = MintClaims {
            user_id: id,
            id,
            sub: id.to_string(),
            name,
            channel,
            iat: now,
            exp: now + ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail")
    }

    /// The token a request carries and the identity it proves. `Ok(None)` when the request
    /// carries no token at all; a token that is present but bad is an error, never anonymous.
    pub fn from_request(&self, req: &HttpRequest) -> Result<Option<Identity>, ApiError> {
        match token_of(req) {
            None => Ok(None),
            Some(token) => self.verify(&token).map(Some),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The token from `?token=` (what browsers can send) or `Authorization: Bearer`.
pub fn token_of(req: &HttpRequest) -> Option<String> {
    if let Some(v) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        if let Some(t) = v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            let t = t.trim();
            if !t.is_empty() {
                return Some(t.to_string());
            }
        }
    }
    query_param(req.query_string(), "token")
}

/// One decoded query parameter; empty values count as absent.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v)
}

/// Parses `30s`, `15m`, `1h`, `7d` or plain seconds (the `--ttl` option).
pub fn parse_ttl(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (num, unit) = match raw.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    (n > 0).then_some(n * mult)
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
        ];
        for (claims, id, name) in cases {
            let who = auth.verify(&sign(claims)).unwrap();
            assert_eq!((who.id, who.name.as_str()), (id, name));
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
        assert_eq!(parse_ttl("1h"), Some(3600));
        assert_eq!(parse_ttl("90"), Some(90));
        assert_eq!(parse_ttl("2d"), Some(172_800));
        assert_eq!(parse_ttl("1y"), None);
        assert_eq!(parse_ttl("0s"), None);
    }
}
