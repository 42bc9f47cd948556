//! The command line: `serve` (default), `migrate`, `token`.

use clap::{Parser, Subcommand};

use crate::auth::{parse_ttl, secret, Auth};
use crate::config::{redacted_url, Config};
use crate::db::Db;

/// Why a command failed, and so its exit status: scripts can tell a command line that can never
/// work (exit 2, as clap's own usage errors and a bad configuration exit) from a failure that
/// may pass on a retry (exit 1: the database was down).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments cannot be used (an unreadable or overflowing `--ttl`, a non-positive id).
    #[error("{0}")]
    Usage(String),
    /// The command could not do its work (database, secret file).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

/// Refuses ids no token could carry: the hub reads only positive user ids.
fn positive(flag: &str, id: i64) -> Result<(), CliError> {
    if id > 0 {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{flag} {id}: user ids are positive integers"
        )))
    }
}

/// realtime-hub: one WebSocket hub for chat, messaging, practice sync and broadcast clients.
#[derive(Debug, Parser)]
#[command(name = "realtime-hub", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP and WebSockets on HUB_BIND (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Mint a JWT signed with the configured secret.
    Token {
        /// The user id (`user_id`, `id` and `sub` claims).
        #[arg(long)]
        user_id: i64,
        /// The display name (`name` claim).
        #[arg(long)]
        name: String,
        /// The broadcast channel (`channel` claim), e.g. `chat:1,2`.
        #[arg(long)]
        channel: Option<String>,
        /// Lifetime: `30m`, `1h`, `7d` or seconds.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Manage users (they are otherwise created when they first authenticate).
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserCommand,
    },
}

/// `realtime-hub user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create or rename a user of the JWT dialects (`--id --name`), so messages can be
    /// addressed to them before they connect; or create a Mattermost account
    /// (`--username --password`), or reset its password when it exists.
    Add {
        /// The user id (as tokens carry it).
        #[arg(
            long,
            required_unless_present = "username",
            conflicts_with = "username",
            requires = "name"
        )]
        id: Option<i64>,
        /// The display name.
        #[arg(long, requires = "id")]
        name: Option<String>,
        /// A Mattermost login name (3–22 of `a-z0-9.-_`, starting with a letter).
        #[arg(long, requires = "password")]
        username: Option<String>,
        /// The Mattermost account's password (at least 5 characters), stored as an Argon2 hash.
        #[arg(long, requires = "username")]
        password: Option<String>,
        /// The Mattermost account's email (also accepted as `login_id`).
        #[arg(long, requires = "username", default_value = "")]
        email: String,
    },
}

/// `user add`: records a user.
pub fn user_add(config: &Config, id: i64, name: &str) -> Result<String, CliError> {
    positive("--id", id)?;
    let failed = |e: crate::error::DbError| CliError::Failed(e.to_string());
    let db = Db::connect(config).map_err(failed)?;
    let name = name.to_string();
    let mut conn = db.blocking_conn().map_err(failed)?;
    crate::db::user::upsert(&mut conn, id, &name).map_err(failed)?;
    Ok(format!("user {id} is {name}"))
}

/// `user add --username --password`: creates a Mattermost account (or sets its password).
pub fn mattermost_user_add(
    config: &Config,
    username: &str,
    password: &str,
    email: &str,
) -> Result<String, CliError> {
    use crate::services::mattermost::users::{add_user, NewUser};
    let failed = |e: crate::error::DbError| CliError::Failed(e.to_string());
    let db = Db::connect(config).map_err(failed)?;
    let mut conn = db.blocking_conn().map_err(failed)?;
    let new = NewUser {
        username: username.to_string(),
        password: password.to_string(),
        email: email.to_string(),
    };
    let (user, created) = add_user(&mut conn, &new).map_err(|e| CliError::Failed(e.message))?;
    Ok(if created {
        format!(
            "mattermost user {} created with id {}",
            user.username, user.id
        )
    } else {
        format!(
            "mattermost user {} ({}): password set",
            user.username, user.id
        )
    })
}

/// `migrate`: applies migrations and reports how many ran (the URL printed without its
/// password).
pub fn migrate(config: &Config) -> Result<String, CliError> {
    let failed = |e: crate::error::DbError| CliError::Failed(e.to_string());
    let db = Db::connect(config).map_err(failed)?;
    // `connect` already applied them; asking again reports zero pending.
    let pending = db.migrate().map_err(failed)?;
    Ok(format!(
        "database {} is up to date ({pending} pending migrations left)",
        redacted_url(&config.database_url)
    ))
}

/// `token`: a JWT for the given user, with the secret `serve` would use. A TTL that cannot be
/// read, or whose expiry would overflow, is a usage error rather than a token that wraps to
/// the past.
pub fn token(
    config: &Config,
    user_id: i64,
    name: &str,
    channel: Option<&str>,
    ttl: &str,
) -> Result<String, CliError> {
    positive("--user-id", user_id)?;
    let ttl = parse_ttl(ttl).map_err(|e| CliError::Usage(e.to_string()))?;
    let secret = secret::resolve(config).map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(Auth::new(&secret).mint(user_id, name, channel, ttl))
}
