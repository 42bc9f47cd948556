//! The protocols the hub speaks, each a folder over the same core. Adding one is adding a
//! folder and a line in [`routes`]; no dialect imports another.

pub mod chat;

use actix_web::web::ServiceConfig;

/// Mounts every dialect's WebSocket endpoints, REST routes and pages.
pub fn routes(cfg: &mut ServiceConfig) {
    chat::routes(cfg);
}
