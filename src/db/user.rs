//! Users as the database keeps them: whatever the latest token said their name is.
//!
//! Every REST call and every handshake names a user, and most name one the database already
//! has under that very name. [`record`] reads before it writes, and [`KnownUsers`] remembers
//! what this node last saw, so the common case costs no query and never takes SQLite's single
//! write lock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Records what a token says about user `id`: creates the row when it is missing (named
/// `name`, or the decimal id for a token that names nobody), and renames it only when `name`
/// is given and differs — a token without a name never replaces a stored one. Returns the
/// name the row now has. An unchanged user costs one read and no write.
pub fn record(conn: &mut DbConnection, id: i64, name: Option<&str>) -> Result<String, DbError> {
    let stored: Option<String> = users::table
        .find(id)
        .select(users::name)
        .first(conn)
        .optional()?;
    match (stored, name) {
        (Some(stored), None) => Ok(stored),
        (Some(stored), Some(name)) if stored == name => Ok(stored),
        (_, name) => {
            let name = name.map_or_else(|| id.to_string(), str::to_string);
            upsert(conn, id, &name)?;
            Ok(name)
        }
    }
}

/// The names this node last wrote or read for each user id, so that a user who comes back
/// under the same name costs no query at all. An entry is trusted for [`KnownUsers::FRESH`]
/// only: another node sharing the database may rename the user meanwhile, and a token naming
/// the old name again must then be written again. At most [`KnownUsers::CAPACITY`] entries —
/// past that, stale ones go, and if all are fresh the map starts over (a burst of new users
/// then costs each one read, as without the map).
#[derive(Debug, Default)]
pub struct KnownUsers {
    names: Mutex<HashMap<i64, (String, Instant)>>,
}

impl KnownUsers {
    /// How long a remembered name is taken as what the database holds.
    pub const FRESH: Duration = Duration::from_secs(60);
    /// Most users remembered at once (tens of bytes each).
    pub const CAPACITY: usize = 10_000;

    /// The name the database is known to hold for `id` — `None` when this node does not know
    /// it freshly, or knows a different one than `name` (when given). A token without a name
    /// is shown under what this returns, so it costs no query either.
    pub fn name(&self, id: i64, name: Option<&str>) -> Option<String> {
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        names
            .get(&id)
            .filter(|(known, at)| {
                at.elapsed() < Self::FRESH && name.is_none_or(|name| name == known)
            })
            .map(|(known, _)| known.clone())
    }

    /// Remembers that the database holds `id` under `name`, as of now.
    pub fn learned(&self, id: i64, name: String) {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() >= Self::CAPACITY && !names.contains_key(&id) {
            names.retain(|_, (_, at)| at.elapsed() < Self::FRESH);
            if names.len() >= Self::CAPACITY {
                names.clear();
            }
        }
        names.insert(id, (name, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_users_match_by_name_and_stay_bounded() {
        let known = KnownUsers::default();
        assert_eq!(known.name(1, Some("ann")), None);
        known.learned(1, "ann".into());
        assert_eq!(known.name(1, Some("ann")).as_deref(), Some("ann"));
        assert_eq!(known.name(1, None).as_deref(), Some("ann"));
        assert_eq!(known.name(1, Some("anne")), None);
        assert_eq!(known.name(2, None), None);
        for id in 0..(KnownUsers::CAPACITY as i64 + 10) {
            known.learned(id, id.to_string());
        }
        assert!(known.names.lock().unwrap().len() <= KnownUsers::CAPACITY);
    }
}
