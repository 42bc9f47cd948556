//! Mattermost users and their login sessions.

use diesel::prelude::*;

use super::{mm_channel_members, mm_sessions, mm_users, User};
use crate::db::DbConnection;
use crate::error::DbError;

/// Stores a new user; a taken username is a unique violation the caller reports.
pub fn insert(conn: &mut DbConnection, user: &User) -> Result<(), DbError> {
    diesel::insert_into(mm_users::table)
        .values((
            mm_users::id.eq(&user.id),
            mm_users::username.eq(&user.username),
            mm_users::password_hash.eq(&user.password_hash),
            mm_users::email.eq(&user.email),
            mm_users::first_name.eq(&user.first_name),
            mm_users::last_name.eq(&user.last_name),
            mm_users::nickname.eq(&user.nickname),
            mm_users::roles.eq(&user.roles),
            mm_users::create_at.eq(user.create_at),
            mm_users::update_at.eq(user.update_at),
            mm_users::delete_at.eq(user.delete_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the password hash of `username`; returns whether the user exists.
pub fn set_password(
    conn: &mut DbConnection,
    username: &str,
    hash: &str,
    now: i64,
) -> Result<bool, DbError> {
    let n = diesel::update(mm_users::table.filter(mm_users::username.eq(username)))
        .set((
            mm_users::password_hash.eq(hash),
            mm_users::update_at.eq(now),
        ))
        .execute(conn)?;
    Ok(n > 0)
}

/// A user by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<User>, DbError> {
    Ok(mm_users::table.find(id).first(conn).optional()?)
}

/// A user by username or email (what `login_id` may be).
pub fn by_login(conn: &mut DbConnection, login: &str) -> Result<Option<User>, DbError> {
    Ok(mm_users::table
        .filter(mm_users::username.eq(login).or(mm_users::email.eq(login)))
        .filter(mm_users::delete_at.eq(0))
        .first(conn)
        .optional()?)
}

/// The users among `ids` that exist, in no particular order.
pub fn many(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<User>, DbError> {
    Ok(mm_users::table
        .filter(mm_users::id.eq_any(ids))
        .order(mm_users::id)
        .load(conn)?)
}

/// Stores a login session.
pub fn insert_session(
    conn: &mut DbConnection,
    token: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    diesel::insert_into(mm_sessions::table)
        .values((
            mm_sessions::token.eq(token),
            mm_sessions::user_id.eq(user_id),
            mm_sessions::create_at.eq(now),
            mm_sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The user a live session token belongs to, with the session's expiry (Unix ms).
pub fn by_session(
    conn: &mut DbConnection,
    token: &str,
    now: i64,
) -> Result<Option<(User, i64)>, DbError> {
    let Some((user_id, expires_at)) = mm_sessions::table
        .find(token)
        .filter(mm_sessions::expires_at.gt(now))
        .select((mm_sessions::user_id, mm_sessions::expires_at))
        .first::<(String, i64)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(find(conn, &user_id)?
        .filter(|u| u.delete_at == 0)
        .map(|u| (u, expires_at)))
}

/// Ends a session (logout).
pub fn delete_session(conn: &mut DbConnection, token: &str) -> Result<(), DbError> {
    diesel::delete(mm_sessions::table.find(token)).execute(conn)?;
    Ok(())
}

/// The users who share at least one channel with `user`, `user` included.
pub fn channel_peers(conn: &mut DbConnection, user: &str) -> Result<Vec<String>, DbError> {
    let channels: Vec<String> = mm_channel_members::table
        .filter(mm_channel_members::user_id.eq(user))
        .select(mm_channel_members::channel_id)
        .load(conn)?;
    Ok(mm_channel_members::table
        .filter(mm_channel_members::channel_id.eq_any(channels))
        .select(mm_channel_members::user_id)
        .distinct()
        .load(conn)?)
}
