//! Users as the database keeps them: whatever the latest token said their name is.

use chrono::Utc;
use diesel::prelude::*;

use super::schema::users;
use super::DbConnection;
use crate::error::DbError;

/// Records `id` with `name`, creating the row or renaming it. Written as update-then-insert
/// (retrying the update once if a concurrent insert won) because the multi-backend connection
/// has no portable upsert.
pub fn upsert(conn: &mut DbConnection, id: i64, name: &str) -> Result<(), DbError> {
    let now = Utc::now().naive_utc();
    let rename = |conn: &mut DbConnection| {
        diesel::update(users::table.find(id))
            .set((users::name.eq(name), users::updated_at.eq(now)))
            .execute(conn)
    };
    if rename(conn)? > 0 {
        return Ok(());
    }
    let inserted = diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::name.eq(name),
            users::created_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => rename(conn).map(|_| ()).map_err(DbError::from),
        Err(e) => Err(e.into()),
    }
}
