//! Practice sessions, their members and practice logs (seeds/001).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use crate::error::DbError;

diesel::table! {
    /// A shared practice session; the phone and the PC of one user (or added members) join it.
    guitar_sessions (id) {
        id -> Text,
        owner_id -> BigInt,
        created_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        current_chord -> Nullable<Text>,
        chord_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Users other than the owner allowed into a session.
    guitar_members (session_id, user_id) {
        session_id -> Text,
        user_id -> BigInt,
    }
}

diesel::table! {
    /// One practice run: open while `ended_at` is null (at most one per session).
    practice_logs (id) {
        id -> BigInt,
        session_id -> Text,
        user_id -> BigInt,
        started_at -> Timestamp,
        ended_at -> Nullable<Timestamp>,
        duration_seconds -> Nullable<BigInt>,
    }
}

/// A stored session.
#[derive(Debug, Clone, Queryable)]
pub struct GuitarSession {
    /// Unguessable URL-safe id.
    pub id: String,
    /// The user who created it.
    pub owner_id: i64,
    /// When it was created.
    pub created_at: NaiveDateTime,
    /// When its owner closed it; closed sessions refuse sockets.
    pub closed_at: Option<NaiveDateTime>,
    /// The chord last played, for members who join late.
    pub current_chord: Option<String>,
    /// When that chord was played.
    pub chord_at: Option<NaiveDateTime>,
}

/// A stored practice run.
#[derive(Debug, Clone, Queryable)]
pub struct PracticeLog {
    /// Row id.
    pub id: i64,
    /// Its session.
    pub session_id: String,
    /// Who started it.
    pub user_id: i64,
    /// Start (the client's timestamp when given).
    pub started_at: NaiveDateTime,
    /// End, `None` while practising.
    pub ended_at: Option<NaiveDateTime>,
    /// Whole seconds between start and end.
    pub duration_seconds: Option<i64>,
}

/// Creates a session with its members.
pub fn create(
    conn: &mut DbConnection,
    id: &str,
    owner_id: i64,
    members: &[i64],
    now: NaiveDateTime,
) -> Result<GuitarSession, DbError> {
    conn.transaction(|conn| {
        diesel::insert_into(guitar_sessions::table)
            .values((
                guitar_sessions::id.eq(id),
                guitar_sessions::owner_id.eq(owner_id),
                guitar_sessions::created_at.eq(now),
            ))
            .execute(conn)?;
        for user in members {
            diesel::insert_into(guitar_members::table)
                .values((
                    guitar_members::session_id.eq(id),
                    guitar_members::user_id.eq(user),
                ))
                .execute(conn)?;
        }
        Ok(guitar_sessions::table.find(id).first(conn)?)
    })
}

/// A session by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<GuitarSession>, DbError> {
    Ok(guitar_sessions::table.find(id).first(conn).optional()?)
}

/// The session's added members, in id order.
pub fn members(conn: &mut DbConnection, id: &str) -> Result<Vec<i64>, DbError> {
    Ok(guitar_members::table
        .filter(guitar_members::session_id.eq(id))
        .select(guitar_members::user_id)
        .order(guitar_members::user_id)
        .load(conn)?)
}

/// Whether `user` may use the session: its owner or an added member.
pub fn may_use(
    conn: &mut DbConnection,
    session: &GuitarSession,
    user: i64,
) -> Result<bool, DbError> {
    if session.owner_id == user {
        return Ok(true);
    }
    let found: i64 = guitar_members::table
        .filter(guitar_members::session_id.eq(&session.id))
        .filter(guitar_members::user_id.eq(user))
        .count()
        .get_result(conn)?;
    Ok(found > 0)
}

/// Records the chord just played.
pub fn set_chord(
    conn: &mut DbConnection,
    id: &str,
    chord: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(guitar_sessions::table.find(id))
        .set((
            guitar_sessions::current_chord.eq(chord),
            guitar_sessions::chord_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The practice in progress, if any.
pub fn open_log(conn: &mut DbConnection, id: &str) -> Result<Option<PracticeLog>, DbError> {
    Ok(practice_logs::table
        .filter(practice_logs::session_id.eq(id))
        .filter(practice_logs::ended_at.is_null())
        .first(conn)
        .optional()?)
}

/// Opens a practice run; the unique index refuses a second open one.
pub fn start_log(
    conn: &mut DbConnection,
    id: &str,
    user: i64,
    at: NaiveDateTime,
) -> Result<PracticeLog, DbError> {
    Ok(diesel::insert_into(practice_logs::table)
        .values((
            practice_logs::session_id.eq(id),
            practice_logs::user_id.eq(user),
            practice_logs::started_at.eq(at),
        ))
        .returning(practice_logs::all_columns)
        .get_result(conn)?)
}

/// Closes a practice run.
pub fn end_log(
    conn: &mut DbConnection,
    log: i64,
    at: NaiveDateTime,
    seconds: i64,
) -> Result<(), DbError> {
    diesel::update(practice_logs::table.find(log))
        .set((
            practice_logs::ended_at.eq(at),
            practice_logs::duration_seconds.eq(seconds),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every practice run of a session, oldest first.
pub fn logs(conn: &mut DbConnection, id: &str) -> Result<Vec<PracticeLog>, DbError> {
    Ok(practice_logs::table
        .filter(practice_logs::session_id.eq(id))
        .order(practice_logs::id)
        .load(conn)?)
}

/// Marks a session closed.
pub fn close(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(guitar_sessions::table.find(id))
        .set(guitar_sessions::closed_at.eq(at))
        .execute(conn)?;
    Ok(())
}
