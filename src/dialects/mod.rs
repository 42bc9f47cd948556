//! The protocols the hub speaks, each a folder over the same core. Adding one is adding a
//! folder and a line in [`routes`]; no dialect imports another.

pub mod broadcast;
pub mod chat;
pub mod guitar;
pub mod messages;

use actix_web::web::ServiceConfig;

use crate::state::AppState;

/// Starts the dialects' background tasks (back-end subscribers) once per node.
pub fn start(state: &AppState) {
    broadcast::start(state);
}

/// Mounts every dialect's WebSocket endpoints, REST routes and pages.
pub fn routes(cfg: &mut ServiceConfig) {
    broadcast::routes(cfg);
    chat::routes(cfg);
    guitar::routes(cfg);
    messages::routes(cfg);
}
