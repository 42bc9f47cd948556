//! What every handler and session is given: configuration and shared services, no globals.

use std::sync::Arc;

use tokio::sync::watch;

use crate::auth::Auth;
use crate::config::Config;
use crate::db::user::KnownUsers;
use crate::db::Db;
use crate::hub::limits::ConnLimits;
use crate::hub::Hub;
use crate::metrics::Metrics;

/// Shared state of one server. Cloning copies a handful of reference counts.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the server was started with.
    pub config: Arc<Config>,
    /// The database pool.
    pub db: Db,
    /// The users this node knows the database holds, and under which name, so tokens naming
    /// them again cost no write ([`crate::hub::handshake::remember`]).
    pub known_users: Arc<KnownUsers>,
    /// Token verification and minting.
    pub auth: Arc<Auth>,
    /// The one door for publishing into rooms, on this node and the others.
    pub hub: Hub,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Connection quotas.
    pub limits: Arc<ConnLimits>,
    /// The Redis client when `REDIS_URL` is set (readiness, back-end publishing).
    pub redis: Option<redis::Client>,
    /// Turns true when shutdown begins; sessions then close with 1001.
    pub shutdown: watch::Receiver<bool>,
}
