//! What every handler and session is given: configuration and shared services, no globals.

use std::sync::Arc;

use actix::Addr;
use tokio::sync::watch;

use crate::auth::Auth;
use crate::config::Config;
use crate::db::Db;
use crate::hub::limits::ConnLimits;
use crate::hub::registry::Registry;
use crate::metrics::Metrics;

/// Shared state of one server. Cloning copies a handful of reference counts.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the server was started with.
    pub config: Arc<Config>,
    /// The database pool.
    pub db: Db,
    /// Token verification and minting.
    pub auth: Arc<Auth>,
    /// This node's registry of rooms.
    pub registry: Addr<Registry>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Connection quotas.
    pub limits: Arc<ConnLimits>,
    /// The Redis client when `REDIS_URL` is set (readiness, back-end publishing).
    pub redis: Option<redis::Client>,
    /// Turns true when shutdown begins; sessions then close with 1001.
    pub shutdown: watch::Receiver<bool>,
}
