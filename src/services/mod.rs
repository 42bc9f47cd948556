//! One function per operation, called by REST handlers and WebSocket dialects alike so that the
//! two can never drift. Each commits to the database before its caller publishes anything.
//! [`webhook`] tells apps what happened, without ever holding up a delivery.

pub mod chat;
pub mod guitar;
pub mod mattermost;
pub mod messages;
pub mod webhook;
