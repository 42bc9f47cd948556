//! Statuses: what `users/{id}/status` and `get_statuses` report.

use diesel::prelude::*;

use super::mm_status;
use crate::db::DbConnection;
use crate::error::DbError;

/// A stored status.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Status {
    /// The user.
    pub user_id: String,
    /// `online`, `away`, `dnd` or `offline`.
    pub status: String,
    /// 1 when set by the user (connecting and leaving then change nothing).
    pub manual: i64,
    /// Last activity, Unix ms.
    pub last_activity_at: i64,
    /// When `dnd` ends, Unix seconds; 0 for never.
    pub dnd_end_time: i64,
}

/// A user's status, if one was ever recorded.
pub fn get(conn: &mut DbConnection, user: &str) -> Result<Option<Status>, DbError> {
    Ok(mm_status::table.find(user).first(conn).optional()?)
}

/// The statuses recorded for `users`.
pub fn many(conn: &mut DbConnection, users: &[String]) -> Result<Vec<Status>, DbError> {
    Ok(mm_status::table
        .filter(mm_status::user_id.eq_any(users))
        .load(conn)?)
}

/// Every status but `offline`.
pub fn not_offline(conn: &mut DbConnection) -> Result<Vec<Status>, DbError> {
    Ok(mm_status::table
        .filter(mm_status::status.ne("offline"))
        .order(mm_status::user_id)
        .load(conn)?)
}

/// Records `s`, replacing what was there: update, then insert when there was nothing (the
/// multi-backend connection has no portable upsert), updating again if a concurrent insert
/// won.
pub fn put(conn: &mut DbConnection, s: &Status) -> Result<(), DbError> {
    let update = |conn: &mut DbConnection| {
        diesel::update(mm_status::table.find(&s.user_id))
            .set((
                mm_status::status.eq(&s.status),
                mm_status::manual.eq(s.manual),
                mm_status::last_activity_at.eq(s.last_activity_at),
                mm_status::dnd_end_time.eq(s.dnd_end_time),
            ))
            .execute(conn)
    };
    if update(conn)? == 0 {
        let inserted = diesel::insert_into(mm_status::table)
            .values((
                mm_status::user_id.eq(&s.user_id),
                mm_status::status.eq(&s.status),
                mm_status::manual.eq(s.manual),
                mm_status::last_activity_at.eq(s.last_activity_at),
                mm_status::dnd_end_time.eq(s.dnd_end_time),
            ))
            .execute(conn);
        match inserted {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                update(conn)?;
            }
            other => {
                other?;
            }
        }
    }
    Ok(())
}
