//! The protocols the hub speaks, each a folder over the same core. Adding one is adding a
//! folder and a line in [`routes`]; no dialect imports another.

pub mod broadcast;
pub mod chat;
pub mod guitar;
pub mod mattermost;
pub mod messages;
pub mod pusher;

use actix_web::web::ServiceConfig;

use crate::state::AppState;

/// What dialects start once per node and their handlers share (given to every worker).
#[derive(Clone)]
pub struct Shared {
    /// The chat dialect's batching writer.
    pub chat_store: actix::Addr<chat::store::ChatStore>,
    /// Where the broadcast dialect forwards its clients' messages (`HUB_BROADCAST_WEBHOOK_URL`).
    pub broadcast_webhooks: Option<crate::services::webhook::Webhooks>,
    /// The Pusher apps and this node's subscriptions.
    pub pusher: std::sync::Arc<pusher::Pusher>,
}

/// Starts the dialects' node-wide actors and background tasks (back-end subscribers).
pub fn start(state: &AppState) -> Shared {
    let broadcast_webhooks = broadcast::start(state);
    guitar::start(state);
    messages::start(state);
    mattermost::start(state);
    Shared {
        chat_store: chat::start(state),
        broadcast_webhooks,
        pusher: pusher::start(state),
    }
}

/// Waits until what the dialects' writers accepted is stored and published: the last step of
/// a shutdown, after the sockets are closed and the HTTP server has stopped.
pub async fn drained(shared: &Shared) {
    if shared.chat_store.send(chat::store::Drained).await.is_err() {
        log::warn!("shutdown: the chat writer was gone before it drained");
    }
}

/// Mounts every dialect's WebSocket endpoints, REST routes and pages.
pub fn routes(cfg: &mut ServiceConfig) {
    broadcast::routes(cfg);
    chat::routes(cfg);
    guitar::routes(cfg);
    mattermost::routes(cfg);
    messages::routes(cfg);
    pusher::routes(cfg);
}
