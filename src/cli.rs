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
    /// Create or rename a user, so messages can be addressed to them before they connect.
    Add {
        /// The user id (as tokens carry it).
        #[arg(long)]
        id: i64,
        /// The display name.
        #[arg(long)]
        name: String,
    },
}

/// `user add`: records a user.
pub fn user_add(config: &Config, id: i64, name: &str) -> Result<String, String> {
    let db = Db::connect(config).map_err(|e| e.to_string())?;
    let name = name.to_string();
    let mut conn = db.blocking_conn().map_err(|e| e.to_string())?;
    crate::db::user::upsert(&mut conn, id, &name).map_err(|e| e.to_string())?;
    Ok(format!("user {id} is {name}"))
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
