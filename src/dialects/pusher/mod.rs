//! Dialect `pusher`: Pusher Channels protocol 7, what Laravel Echo (broadcasters `pusher` and
//! `reverb`), pusher-js, Laravel Reverb and soketi speak (`docs/pusher.md`).
//!
//! - `GET /app/{key}` opens a socket for the app with that key ([`socket`]): one socket holds
//!   any number of channels, subscribed and unsubscribed over its life; each channel is a hub
//!   topic `pusher:{app id}:{channel}`, so events cross nodes through the relay and presence
//!   is the shared presence of the core (a member is announced once across nodes).
//! - `/apps/{id}/events`, `/batch_events`, `/channels…` are the HTTP API the app's server
//!   SDK calls ([`api`]), signed with the app secret ([`signature`]).
//! - Webhooks tell the app about occupied and vacated channels, members and client events
//!   ([`crate::services::webhook`]).
//!
//! Apps come from `HUB_PUSHER_APPS` ([`crate::config::PusherApp`]).

pub mod api;
pub mod channel;
pub mod occupancy;
pub mod protocol;
pub mod signature;
pub mod socket;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::web;
use serde_json::Value;

use crate::config::PusherApp;
use crate::hub::Topic;
use crate::services::webhook::{Destination, Webhooks};
use crate::state::AppState;
use occupancy::Occupancy;

/// The topic namespace of Pusher channels.
pub const NAMESPACE: &str = "pusher";

/// The topic of `channel` of app `app_id`: apps never share a channel.
pub fn topic(app_id: &str, channel: &str) -> Topic {
    Topic::new(NAMESPACE, &format!("{app_id}:{channel}"))
}

/// An app as this node serves it.
pub struct App {
    /// Its configuration.
    pub config: PusherApp,
    /// Its open sockets on this node (for `max_connections`).
    connections: AtomicUsize,
    /// Its webhooks, when it has a URL for them.
    webhooks: Option<Webhooks>,
    /// The node's configuration with the app's own `allowed_origins`, when it has a list:
    /// what the Origin check of its sockets is given.
    pub origins: Option<Arc<crate::config::Config>>,
}

impl App {
    /// Queues a webhook event, if the app takes webhooks; `event` is built only then (client
    /// events call this per frame).
    pub fn webhook(&self, event: impl FnOnce() -> Value) {
        if let Some(webhooks) = &self.webhooks {
            webhooks.send(event());
        }
    }

    /// Takes a place among the app's sockets; `None` when it has `max_connections` already.
    pub fn admit(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let max = self.config.max_connections;
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(ConnectionSlot(self.clone()))
    }
}

/// A socket's place in its app's connection count; given back when dropped.
pub struct ConnectionSlot(Arc<App>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the dialect keeps per node: the apps and who is subscribed where.
pub struct Pusher {
    by_key: HashMap<String, Arc<App>>,
    by_id: HashMap<String, Arc<App>>,
    /// This node's subscriptions.
    pub occupancy: Occupancy,
}

impl Pusher {
    /// The app with socket key `key`.
    pub fn by_key(&self, key: &str) -> Option<Arc<App>> {
        self.by_key.get(key).cloned()
    }

    /// The app with API id `id`.
    pub fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.by_id.get(id).cloned()
    }
}

/// Builds the apps from the configuration and starts their webhook senders.
pub fn start(state: &AppState) -> Arc<Pusher> {
    let mut by_key = HashMap::new();
    let mut by_id = HashMap::new();
    for config in &state.config.pusher_apps {
        let webhooks = config.webhook_url.as_ref().map(|url| {
            let to = Destination {
                url: url.clone(),
                key: config.key.clone(),
                secret: config.secret.clone(),
                label: format!("pusher:{}", config.id),
            };
            Webhooks::start(to, state.metrics.clone())
        });
        let origins = (!config.allowed_origins.is_empty()).then(|| {
            Arc::new(crate::config::Config {
                allowed_origins: config.allowed_origins.clone(),
                ..(*state.config).clone()
            })
        });
        let app = Arc::new(App {
            config: config.clone(),
            connections: AtomicUsize::new(0),
            webhooks,
            origins,
        });
        by_key.insert(config.key.clone(), app.clone());
        by_id.insert(config.id.clone(), app);
    }
    Arc::new(Pusher {
        by_key,
        by_id,
        occupancy: Occupancy::default(),
    })
}

/// Mounts the socket and the HTTP API.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/app/{key}", web::get().to(socket::connect));
    api::routes(cfg);
}
