//! Mattermost operations (seeds/002): one function per operation, called by the REST handlers
//! and the WebSocket alike. Each commits before returning; callers publish afterwards.
//!
//! Refusals are [`MmError`]s: Mattermost's error id, message and HTTP status, which the dialect
//! writes as an AppError (REST) or inside a `FAIL` reply (WebSocket). Where the hub refuses
//! something Mattermost would refuse, it uses Mattermost's id; where it refuses what Mattermost
//! has no id for (its database is down), the id is the hub's own, under `app.store.`.

pub mod channels;
pub mod posts;
pub mod statuses;
pub mod users;
pub mod views;

use crate::error::DbError;

/// Why an operation was refused, as Mattermost says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id}: {message}")]
pub struct MmError {
    /// Mattermost's error id (`api.context.permissions.app_error` …), what clients match on.
    pub id: &'static str,
    /// The English message Mattermost sends with it.
    pub message: String,
    /// The HTTP status (also `status_code` inside the AppError).
    pub status: u16,
}

impl MmError {
    /// Any error by id, message and status.
    pub fn new(id: &'static str, message: impl Into<String>, status: u16) -> MmError {
        MmError {
            id,
            message: message.into(),
            status,
        }
    }

    /// 400: a parameter is missing or malformed (`Invalid channel_id parameter.`).
    pub fn invalid_param(name: &str) -> MmError {
        MmError::new(
            "api.context.invalid_param.app_error",
            format!("Invalid {name} parameter."),
            400,
        )
    }

    /// 400: the body is not the JSON the operation takes.
    pub fn invalid_body(name: &str) -> MmError {
        MmError::new(
            "api.context.invalid_body_param.app_error",
            format!("Invalid or missing {name} in request body."),
            400,
        )
    }

    /// 401: no session, or one that expired or was ended.
    pub fn session_expired() -> MmError {
        MmError::new(
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
            401,
        )
    }

    /// 403: the user may not do this here.
    pub fn forbidden() -> MmError {
        MmError::new(
            "api.context.permissions.app_error",
            "You do not have the appropriate permissions.",
            403,
        )
    }

    /// 404: no such API path.
    pub fn no_route() -> MmError {
        MmError::new(
            "api.context.404.app_error",
            "Sorry, we could not find the page.",
            404,
        )
    }
}

impl From<DbError> for MmError {
    fn from(e: DbError) -> MmError {
        match e {
            DbError::Pool(cause) => {
                log::error!("database unavailable: {cause}");
                MmError::new(
                    "app.store.unavailable.app_error",
                    "The database is unavailable.",
                    503,
                )
            }
            other => {
                log::error!("internal error: {other}");
                MmError::new(
                    "app.store.internal.app_error",
                    "An internal error occurred.",
                    500,
                )
            }
        }
    }
}

impl From<diesel::result::Error> for MmError {
    fn from(e: diesel::result::Error) -> MmError {
        DbError::from(e).into()
    }
}

/// Mattermost's id alphabet (`model.NewId`): base32 without the letters that read alike.
const ID_ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";

/// A new 26-character id, as `model.NewId` makes them: 128 random bits in Mattermost's base32.
/// Also the form of session tokens and connection ids.
pub fn new_id() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut out = String::with_capacity(26);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ID_ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    out.push(ID_ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    out
}

/// Whether `s` looks like a Mattermost id (26 characters of its alphabet), checked before a
/// lookup so that malformed ids are a 400, as in Mattermost, not a 404.
pub fn is_id(s: &str) -> bool {
    s.len() == 26 && s.bytes().all(|b| ID_ALPHABET.contains(&b))
}

/// Now, in Unix milliseconds (Mattermost's time on the wire).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_26_characters_of_the_alphabet_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert!(is_id(&a) && is_id(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_id("short") && !is_id(&"A".repeat(26)));
    }
}
