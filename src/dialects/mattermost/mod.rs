//! Dialect `mattermost`: the Mattermost v4 API subset that `@mattermost/client` (Client4 and
//! WebSocketClient) and the seed's client (seeds/002) need, wire-compatible with the real
//! server (`protocols/mattermost.md` has the shapes).
//!
//! REST under `/api/v4`: login and sessions, users, teams, channels and their members, posts
//! and a channel's pages. Every operation is one service function
//! ([`crate::services::mattermost`]); every refusal is an AppError ([`app_error`]), also for
//! paths under `/api/v4` the hub does not serve.
//!
//! The socket, `/api/v4/websocket`, is in [`ws`]: events are published after the operation
//! committed, by REST and socket alike ([`ws::notify`]).

pub mod app_error;
pub mod request;
pub mod rest;
pub mod ws;

use actix_web::web;

use crate::services::mattermost::MmError;

/// Starts what the dialect runs once per node: the keeper of the automatic statuses.
pub fn start(state: &crate::state::AppState) {
    ws::online::Online::start(state);
}

/// Mounts the REST API.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use rest::{channels, posts, users};
    cfg.service(
        web::scope("/api/v4")
            .route("/websocket", web::get().to(ws::connect))
            .route("/websocket/", web::get().to(ws::connect))
            .route("/users/login", web::post().to(users::login))
            .route("/users/logout", web::post().to(users::logout))
            .route("/users/me", web::get().to(users::me))
            .route("/users/me/teams", web::get().to(users::my_teams))
            .route("/users/ids", web::post().to(users::by_ids))
            .route("/users/status/ids", web::post().to(users::statuses_by_ids))
            .route("/users/{id}", web::get().to(users::get))
            .route("/users/{id}/status", web::get().to(users::get_status))
            .route("/users/{id}/status", web::put().to(users::set_status))
            .route("/teams", web::post().to(channels::create_team))
            .route("/teams/{id}", web::get().to(channels::get_team))
            .route(
                "/teams/{id}/members",
                web::post().to(channels::add_team_member),
            )
            .route("/channels", web::post().to(channels::create_channel))
            .route("/channels/members/me/view", web::post().to(channels::view))
            .route("/channels/{id}", web::get().to(channels::get_channel))
            .route(
                "/channels/{id}/members",
                web::post().to(channels::add_channel_member),
            )
            .route(
                "/channels/{id}/members",
                web::get().to(channels::channel_members),
            )
            .route("/channels/{id}/posts", web::get().to(posts::channel_posts))
            .route("/posts", web::post().to(posts::create))
            .route("/posts/{id}", web::get().to(posts::get))
            .route("/posts/{id}", web::put().to(posts::update))
            .route("/posts/{id}/patch", web::put().to(posts::patch))
            .route("/posts/{id}", web::delete().to(posts::delete))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(MmError::no_route())
            })),
    );
}
