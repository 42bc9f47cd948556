//! The command line: `serve` (default), `migrate`, `token`.

use clap::{Parser, Subcommand};

use crate::auth::{parse_ttl, secret, Auth};
use crate::config::Config;
use crate::db::Db;

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

/// `user add --id --name`: records a user.
pub fn user_add(config: &Config, id: i64, name: &str) -> Result<String, String> {
    let db = Db::connect(config).map_err(|e| e.to_string())?;
    let name = name.to_string();
    let mut conn = db.blocking_conn().map_err(|e| e.to_string())?;
    crate::db::user::upsert(&mut conn, id, &name).map_err(|e| e.to_string())?;
    Ok(format!("user {id} is {name}"))
}

/// `user add --username --password`: creates a Mattermost account (or sets its password).
pub fn mattermost_user_add(
    config: &Config,
    username: &str,
    password: &str,
    email: &str,
) -> Result<String, String> {
    use crate::services::mattermost::users::{add_user, NewUser};
    let db = Db::connect(config).map_err(|e| e.to_string())?;
    let mut conn = db.blocking_conn().map_err(|e| e.to_string())?;
    let new = NewUser {
        username: username.to_string(),
        password: password.to_string(),
        email: email.to_string(),
    };
    let (user, created) = add_user(&mut conn, &new).map_err(|e| e.message)?;
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

/// `migrate`: applies migrations and reports how many ran.
pub fn migrate(config: &Config) -> Result<String, String> {
    let db = Db::connect(config).map_err(|e| e.to_string())?;
    // `connect` already applied them; asking again reports zero pending.
    let pending = db.migrate().map_err(|e| e.to_string())?;
    Ok(format!(
        "database {} is up to date ({pending} pending migrations left)",
        config.database_url
    ))
}

/// `token`: a JWT for the given user, with the secret `serve` would use.
pub fn token(
    config: &Config,
    user_id: i64,
    name: &str,
    channel: Option<&str>,
    ttl: &str,
) -> Result<String, String> {
    let ttl = parse_ttl(ttl)
        .ok_or_else(|| format!("cannot read --ttl {ttl:?}: use 30m, 1h, 7d or seconds"))?;
    let secret = secret::resolve(config).map_err(|e| e.to_string())?;
    Ok(Auth::new(&secret).mint(user_id, name, channel, ttl))
}
