//! realtime-hub: one WebSocket server for the real-time back ends of several products — a chat
//! room (Django Channels tutorial), a messaging app with read receipts, a phone-to-PC practice
//! sync, a Mattermost-compatible API, a Laravel-side broadcast hub and the Pusher protocol
//! Laravel Echo speaks — whose clients work against it unchanged. Alone it needs nothing but a
//! SQLite file; with Redis and PostgreSQL many nodes behave as one.
//!
//! # Layout
//!
//! | module | holds |
//! |---|---|
//! | [`server`] | `run(listener, config, shutdown)`: the one entry point for `main` and tests |
//! | [`config`] | [`config::Config`] from the environment |
//! | [`cli`] | `serve`, `migrate`, `token` |
//! | [`auth`] | JWT claims and token sources, secret bootstrap, Origin allow-list |
//! | [`db`] | diesel over SQLite or PostgreSQL; `Db::run` is the only door to blocking queries |
//! | [`hub`] | the dialect-agnostic core: the [`hub::Hub`] handle, sessions (late authentication, per-connection sequences, parking for resumes), rooms, registry, presence (and watchers told of first arrivals and last departures), catch-up, limits |
//! | [`relay`] | carrying events between nodes: in-process bus or Redis, envelope format, shared presence |
//! | [`services`] | one function per operation, shared by REST and WebSocket; webhooks to apps |
//! | [`dialects`] | the protocols, one folder each |
//! | [`http`] | health, readiness, metrics, access-log redaction, CORS; what REST handlers share (the user, a JSON body within limits, 405s) |
//! | [`metrics`] | the counters `/metrics` renders |
//! | [`memory`] | giving freed memory back to the system after load |
//! | [`logging`] | the `.env` file read strictly, text or JSON log lines |
//! | [`state`] | [`state::AppState`]: what handlers and sessions are given |
//! | [`error`] | error types, their HTTP answers, close codes |
//! | [`time`] | times on the wire |
//!
//! Dependencies point one way: `dialects → services → db` and `dialects → hub → relay`.
//!
//! # The message flow
//!
//! 1. A handshake checks Origin, token and quotas ([`hub::handshake`]); a refusal is an HTTP
//!    error with `{"error": …}` before any upgrade.
//! 2. A [`hub::Session`] actor starts with a bounded mailbox; its dialect joins a topic through
//!    the [`hub::registry::Registry`] (one per node), which creates the [`hub::room::Room`]
//!    on a room thread and subscribes the topic in the relay.
//! 3. A text frame is size- and rate-checked, parsed by the dialect and handed to a service;
//!    the database commit happens first, then the event is serialized once ([`hub::Event`]).
//! 4. The room numbers it and `try_send`s the same bytes to
//!    each addressed member; a member whose mailbox is full is evicted and its TCP connection
//!    reset. The room hands the event to the relay, tagged with this node's id. Services and
//!    REST handlers publish through the [`hub::Hub`] handle, which reaches the room or, when
//!    this node has none for the topic, the relay directly.
//! 5. Other nodes drop their own echoes and deliver remote events to local members only. With
//!    Redis, presence is shared, so arrivals and departures are announced once across nodes.
//! 6. When a room's last member leaves, the registry stops it and unsubscribes the topic.
//! 7. After a relay gap, rooms catch up from the database through each dialect's
//!    [`hub::CatchUp`] source, dropping what members already have by storage key.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod dialects;
pub mod error;
pub mod http;
pub mod hub;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod relay;
pub mod server;
pub mod services;
pub mod state;
pub mod time;
