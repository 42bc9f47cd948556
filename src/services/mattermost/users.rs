//! Accounts and login sessions: creating users (the command line), login, logout, who a token
//! is, and looking users up.
//!
//! Passwords are hashed with Argon2id (the `argon2` crate's defaults, a random salt per user);
//! hashing and verifying run on the blocking pool without holding a database connection, since
//! SQLite's pool has one and a hash takes milliseconds.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::views::UserView;
use super::{is_id, new_id, now_ms, MmError};
use crate::db::mattermost::{users as store, User};
use crate::db::{Db, DbConnection};

/// How long a login session lasts: Mattermost's default for web sessions (30 days).
pub const SESSION_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;

/// The user a request or socket is authenticated as, and by which session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// The user.
    pub user: User,
    /// The session token.
    pub token: String,
    /// When the session ends, Unix ms.
    pub expires_at: i64,
}

/// What a new account consists of.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Login name: 3–22 of `a-z0-9.-_`, starting with a letter (Mattermost's rule).
    pub username: String,
    /// The password, at least 5 characters (Mattermost's minimum).
    pub password: String,
    /// Email; empty when not given.
    pub email: String,
}

/// Whether `name` is a valid Mattermost username.
pub fn valid_username(name: &str) -> bool {
    (3..=22).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c))
}

/// Hashes a password with Argon2id and a fresh salt, as a PHC string.
pub fn hash_password(password: &str) -> String {
    let salt =
        SaltString::encode_b64(&rand::random::<[u8; 16]>()).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Creates a user, or — when the username exists — sets its password (so the command can be
/// run again to reset one). Blocking: for the command line. Returns the user and whether it
/// is new.
pub fn add_user(conn: &mut DbConnection, new: &NewUser) -> Result<(User, bool), MmError> {
    if !valid_username(&new.username) {
        return Err(MmError::new(
            "model.user.is_valid.username.app_error",
            "Username must begin with a letter, and contain between 3 to 22 lowercase characters made up of numbers, letters, and the symbols '.', '-', and '_'.",
            400,
        ));
    }
    if new.password.chars().count() < 5 {
        return Err(MmError::new(
            "model.user.is_valid.pwd_length.app_error",
            "Your password must contain at least 5 characters.",
            400,
        ));
    }
    let hash = hash_password(&new.password);
    let now = now_ms();
    if store::set_password(conn, &new.username, &hash, now)? {
        let user = store::by_login(conn, &new.username)?.ok_or_else(MmError::forbidden)?;
        return Ok((user, false));
    }
    let user = User {
        id: new_id(),
        username: new.username.clone(),
        password_hash: hash,
        email: new.email.clone(),
        first_name: String::new(),
        last_name: String::new(),
        nickname: String::new(),
        roles: "system_user".into(),
        create_at: now,
        update_at: now,
        delete_at: 0,
    };
    store::insert(conn, &user)?;
    Ok((user, true))
}

fn bad_credentials() -> MmError {
    MmError::new(
        "api.user.login.invalid_credentials_email_username",
        "Enter a valid email or username and/or password.",
        401,
    )
}

/// `POST users/login`: checks the password and opens a session. Unknown users and wrong
/// passwords get the same answer, and take about as long (a hash is verified either way).
pub async fn login(db: &Db, login_id: String, password: String) -> Result<SessionUser, MmError> {
    if login_id.is_empty() {
        return Err(MmError::new(
            "api.user.login.blank_login_id.app_error",
            "Login ID is required.",
            400,
        ));
    }
    if password.is_empty() {
        return Err(MmError::new(
            "api.user.login.blank_pwd.app_error",
            "Password field must not be blank",
            400,
        ));
    }
    let user = db
        .run(move |conn| store::by_login(conn, &login_id).map_err(MmError::from))
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => {
            // Spend what a real check costs, so timing does not tell who has an account.
            let _ = hash_password(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let user = match (ok, user) {
        (true, Some(user)) => user,
        _ => return Err(bad_credentials()),
    };
    let token = new_id();
    let now = now_ms();
    let expires_at = now + SESSION_LIFETIME_MS;
    let (t, id) = (token.clone(), user.id.clone());
    db.run(move |conn| {
        store::insert_session(conn, &t, &id, now, expires_at).map_err(MmError::from)
    })
    .await?;
    Ok(SessionUser {
        user,
        token,
        expires_at,
    })
}

/// `POST users/logout`: ends the session.
pub async fn logout(db: &Db, token: String) -> Result<(), MmError> {
    db.run(move |conn| store::delete_session(conn, &token).map_err(MmError::from))
        .await
}

/// The user a session token belongs to; 401 when there is none or it ended.
pub async fn authenticate(db: &Db, token: String) -> Result<SessionUser, MmError> {
    if token.is_empty() {
        return Err(MmError::session_expired());
    }
    let t = token.clone();
    let found = db
        .run(move |conn| store::by_session(conn, &t, now_ms()).map_err(MmError::from))
        .await?;
    let (user, expires_at) = found.ok_or_else(MmError::session_expired)?;
    Ok(SessionUser {
        user,
        token,
        expires_at,
    })
}

/// `GET users/{id}`.
pub async fn get_user(db: &Db, id: String) -> Result<UserView, MmError> {
    if !is_id(&id) {
        return Err(MmError::invalid_param("user_id"));
    }
    let user = db
        .run(move |conn| store::find(conn, &id).map_err(MmError::from))
        .await?;
    user.as_ref().map(UserView::from).ok_or_else(|| {
        MmError::new(
            "app.user.missing_account.const",
            "We couldn't find an existing account matching your email address for this team. This team may require an invite from the team owner to join.",
            404,
        )
    })
}

/// `POST users/ids`: the users among `ids` that exist; malformed ids are a 400.
pub async fn users_by_ids(db: &Db, ids: Vec<String>) -> Result<Vec<UserView>, MmError> {
    if ids.is_empty() || ids.len() > 1000 {
        return Err(MmError::invalid_param("user_ids"));
    }
    if !ids.iter().all(|id| is_id(id)) {
        return Err(MmError::invalid_param("user_ids"));
    }
    let users = db
        .run(move |conn| store::many(conn, &ids).map_err(MmError::from))
        .await?;
    Ok(users.iter().map(UserView::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("s3cret!");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret!", &h));
        assert!(!verify_password("s3cret", &h));
        assert!(!verify_password("s3cret!", "not a hash"));
    }

    #[test]
    fn usernames_follow_mattermost() {
        assert!(valid_username("alice") && valid_username("a.b-c_9"));
        assert!(!valid_username("Al") && !valid_username("9lives") && !valid_username("Alice"));
    }
}
