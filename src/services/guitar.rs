//! Guitar practice operations (seeds/001), shared by the REST endpoints and the socket.

use chrono::{NaiveDateTime, Utc};
use rand::RngCore;
use serde::Serialize;

use crate::db::guitar::{self as store, GuitarSession, PracticeLog};
use crate::db::Db;
use crate::error::{ApiError, DbError};

/// Why a guitar operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum GuitarError {
    /// Unknown or closed session.
    #[error("session not found")]
    NotFound,
    /// Not the owner or a member (or, to close, not the owner).
    #[error("not allowed in this session")]
    Forbidden,
    /// `practice_start` while a practice is in progress.
    #[error("practice already started")]
    AlreadyPracticing,
    /// `practice_end` with nothing in progress.
    #[error("no practice in progress")]
    NotPracticing,
    /// `practice_end` earlier than its start.
    #[error("end is before start")]
    EndBeforeStart,
    /// More distinct members than `HUB_GUITAR_MAX_MEMBERS` (the limit).
    #[error("at most {0} members besides the owner")]
    TooManyMembers(usize),
    /// A member id that no user can have (ids are positive).
    #[error("member ids are positive integers")]
    BadMember,
    /// Storage failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<GuitarError> for ApiError {
    fn from(e: GuitarError) -> ApiError {
        match e {
            GuitarError::NotFound => ApiError::NotFound(e.to_string()),
            GuitarError::Forbidden => ApiError::Forbidden(e.to_string()),
            GuitarError::AlreadyPracticing
            | GuitarError::NotPracticing
            | GuitarError::EndBeforeStart
            | GuitarError::TooManyMembers(_)
            | GuitarError::BadMember => ApiError::Unprocessable(e.to_string()),
            GuitarError::Db(db) => db.into(),
        }
    }
}

/// One practice run as the API shows it.
#[derive(Debug, Serialize, PartialEq)]
pub struct LogView {
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, `null` while practising.
    pub ended_at: Option<String>,
    /// Whole seconds, `null` while practising.
    pub duration_seconds: Option<i64>,
}

/// A session as `POST` and `GET /api/guitar/sessions/…` return it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// The session id (also in the socket and page URLs).
    pub id: String,
    /// Its creator.
    pub owner_id: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339 once closed.
    pub closed_at: Option<String>,
    /// Users other than the owner allowed in.
    pub members: Vec<i64>,
    /// The chord last played.
    pub current_chord: Option<String>,
    /// Whether a practice run is in progress.
    pub practicing: bool,
    /// Seconds of finished practice runs.
    pub total_practice_seconds: i64,
    /// Every run, oldest first.
    pub logs: Vec<LogView>,
}

/// What a member joining late is told.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveState {
    /// The chord last played.
    pub chord: Option<String>,
    /// When the practice in progress started, if one is.
    pub practice_started: Option<NaiveDateTime>,
}

/// Formats practice times: RFC 3339 UTC, with a fraction only when there is one. RFC 3339
/// has four-digit years, so a time outside years 0–9999 (only rows stored before client times
/// were bounded can hold one) is shown at the nearest end of that range rather than as
/// `+10000-…`, which no client parses.
pub fn stamp(t: NaiveDateTime) -> String {
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).expect("a calendar date");
    let first = day(0, 1, 1).and_time(chrono::NaiveTime::MIN);
    let last = day(9999, 12, 31)
        .and_hms_opt(23, 59, 59)
        .expect("a time of day");
    t.clamp(first, last)
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// 16 random bytes as unpadded URL-safe base64: 22 characters, unguessable.
pub fn new_session_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = String::with_capacity(22);
    for byte in raw {
        bits = (bits << 8) | u32::from(byte);
        nbits += 8;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 63) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (6 - nbits)) & 63) as usize] as char);
    }
    out
}

fn view(session: GuitarSession, members: Vec<i64>, logs: Vec<PracticeLog>) -> SessionView {
    SessionView {
        id: session.id,
        owner_id: session.owner_id,
        created_at: stamp(session.created_at),
        closed_at: session.closed_at.map(stamp),
        members,
        current_chord: session.current_chord,
        practicing: logs.iter().any(|l| l.ended_at.is_none()),
        total_practice_seconds: logs.iter().filter_map(|l| l.duration_seconds).sum(),
        logs: logs
            .into_iter()
            .map(|l| LogView {
                started_at: stamp(l.started_at),
                ended_at: l.ended_at.map(stamp),
                duration_seconds: l.duration_seconds,
            })
            .collect(),
    }
}

/// Creates a session owned by `owner`, letting `members` in too: at most `max_members`
/// distinct users besides the owner, each a row written now and checked on every connect.
pub async fn create_session(
    db: &Db,
    owner: i64,
    mut members: Vec<i64>,
    max_members: usize,
) -> Result<SessionView, GuitarError> {
    if members.iter().any(|m| *m <= 0) {
        return Err(GuitarError::BadMember);
    }
    members.sort_unstable();
    members.dedup();
    members.retain(|m| *m != owner);
    if members.len() > max_members {
        return Err(GuitarError::TooManyMembers(max_members));
    }
    let id = new_session_id();
    let now = Utc::now().naive_utc();
    db.run(move |conn| {
        let session = store::create(conn, &id, owner, &members, now)?;
        Ok(view(session, members, Vec::new()))
    })
    .await
}

/// An open session `user` may use (404 unknown or closed, 403 not allowed).
fn usable(
    conn: &mut crate::db::DbConnection,
    id: &str,
    user: i64,
) -> Result<GuitarSession, GuitarError> {
    let session = store::find(conn, id)?
        .filter(|s| s.closed_at.is_none())
        .ok_or(GuitarError::NotFound)?;
    if !store::may_use(conn, &session, user)? {
        return Err(GuitarError::Forbidden);
    }
    Ok(session)
}

/// The session with its practice record, for its owner and members (closed ones included).
pub async fn get_session(db: &Db, id: String, user: i64) -> Result<SessionView, GuitarError> {
    db.run(move |conn| {
        let session = store::find(conn, &id)?.ok_or(GuitarError::NotFound)?;
        if !store::may_use(conn, &session, user)? {
            return Err(GuitarError::Forbidden);
        }
        let members = store::members(conn, &id)?;
        let logs = store::logs(conn, &id)?;
        Ok(view(session, members, logs))
    })
    .await
}

/// Whether `user` may open a socket on the session (404 unknown or closed, 403 not allowed).
pub async fn check_access(db: &Db, id: String, user: i64) -> Result<(), GuitarError> {
    db.run(move |conn| usable(conn, &id, user).map(|_| ()))
        .await
}

/// Closes the session (owner only), ending a practice in progress.
pub async fn close_session(db: &Db, id: String, user: i64) -> Result<(), GuitarError> {
    let now = Utc::now().naive_utc();
    db.run(move |conn| {
        let session = store::find(conn, &id)?
            .filter(|s| s.closed_at.is_none())
            .ok_or(GuitarError::NotFound)?;
        if session.owner_id != user {
            return Err(GuitarError::Forbidden);
        }
        if let Some(open) = store::open_log(conn, &id)? {
            let seconds = (now - open.started_at).num_seconds().max(0);
            store::end_log(conn, open.id, now, seconds)?;
        }
        Ok(store::close(conn, &id, now)?)
    })
    .await
}

/// Records the chord just played.
pub async fn change_chord(
    db: &Db,
    id: String,
    chord: String,
    at: NaiveDateTime,
) -> Result<(), GuitarError> {
    db.run(move |conn| Ok(store::set_chord(conn, &id, &chord, at)?))
        .await
}

/// A practice run's start or end as it was stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PracticeMark {
    /// The run's id (part of its events' storage keys).
    pub log_id: i64,
    /// When it started or ended.
    pub at: NaiveDateTime,
}

/// Opens a practice run at `at`; refused while one is in progress.
pub async fn start_practice(
    db: &Db,
    id: String,
    user: i64,
    at: NaiveDateTime,
) -> Result<PracticeMark, GuitarError> {
    db.run(move |conn| {
        if store::open_log(conn, &id)?.is_some() {
            return Err(GuitarError::AlreadyPracticing);
        }
        match store::start_log(conn, &id, user, at) {
            Ok(log) => Ok(PracticeMark {
                log_id: log.id,
                at: log.started_at,
            }),
            // Two starts raced: the unique index let one through.
            Err(DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ))) => Err(GuitarError::AlreadyPracticing),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

/// Closes the practice in progress at `at`; returns the end and the duration in seconds.
pub async fn end_practice(
    db: &Db,
    id: String,
    at: NaiveDateTime,
) -> Result<(PracticeMark, i64), GuitarError> {
    db.run(move |conn| {
        let open = store::open_log(conn, &id)?.ok_or(GuitarError::NotPracticing)?;
        if at < open.started_at {
            return Err(GuitarError::EndBeforeStart);
        }
        let seconds = (at - open.started_at).num_seconds();
        store::end_log(conn, open.id, at, seconds)?;
        Ok((
            PracticeMark {
                log_id: open.id,
                at,
            },
            seconds,
        ))
    })
    .await
}

/// What changed in a session from `since` on (server time for the chord; the client's
/// timestamps for practice runs): the session, and its runs that started or ended since.
pub async fn changes_since(
    db: &Db,
    id: String,
    since: NaiveDateTime,
) -> Result<Option<(GuitarSession, Vec<PracticeLog>)>, GuitarError> {
    db.run(move |conn| {
        let Some(session) = store::find(conn, &id)? else {
            return Ok(None);
        };
        let logs = store::logs(conn, &id)?
            .into_iter()
            .filter(|l| l.started_at >= since || l.ended_at.is_some_and(|e| e >= since))
            .collect();
        Ok(Some((session, logs)))
    })
    .await
}

/// The chord and practice state a late joiner needs.
pub async fn live_state(db: &Db, id: String) -> Result<LiveState, GuitarError> {
    db.run(move |conn| {
        let session = store::find(conn, &id)?;
        let open = store::open_log(conn, &id)?;
        Ok(LiveState {
            chord: session.and_then(|s| s.current_chord),
            practice_started: open.map(|l| l.started_at),
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_22_url_safe_characters_and_differ() {
        let a = new_session_id();
        let b = new_session_id();
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn stamps_show_fractions_only_when_present() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .naive_utc();
        assert_eq!(stamp(t), "2024-01-01T00:00:00Z");
        let t = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00.250Z")
            .unwrap()
            .naive_utc();
        assert_eq!(stamp(t), "2024-01-01T00:00:00.250Z");
    }

    #[test]
    fn stamps_are_rfc_3339_whatever_was_stored() {
        let t = chrono::DateTime::parse_from_rfc3339("9999-12-31T23:00:00-02:00")
            .unwrap()
            .naive_utc();
        assert_eq!(stamp(t), "9999-12-31T23:59:59Z");
        let t = chrono::NaiveDate::from_ymd_opt(-1, 12, 31)
            .unwrap()
            .and_hms_opt(23, 0, 0)
            .unwrap();
        assert_eq!(stamp(t), "0000-01-01T00:00:00Z");
    }
}
