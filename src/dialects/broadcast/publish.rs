//! One way to turn a broadcast message into an event and its recipients, used by client frames,
//! Redis payloads and the HTTP endpoint alike (nothing is stored, so this is the whole
//! operation).

use std::sync::Arc;

use serde_json::value::RawValue;

use super::protocol::{Ingress, MessageOut, Person};
use super::topic;
use crate::hub::{Event, Target};
use crate::state::AppState;

/// The `message` frame for `data` from `sender`, and who receives it: everyone on the channel,
/// or with `target_user_id` only that user's and the sender's connections.
pub fn message(sender: &Person, data: &RawValue, target: Option<i64>) -> (Event, Target) {
    let event = Event::json(&MessageOut {
        kind: "message",
        sender,
        data,
    });
    let target = match target {
        Some(user) => Target::Users(vec![
            Arc::from(user.to_string()),
            Arc::from(sender.id.to_string()),
        ]),
        None => Target::All,
    };
    (event, target)
}

/// Where a back-end message came from, which decides whether other nodes need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The Redis channel, which every node subscribes to: deliver locally only.
    Redis,
    /// `POST /api/broadcast/`, which reaches one node: deliver everywhere through the relay.
    Http,
}

impl Source {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Source::Redis => "redis",
            Source::Http => "http",
        }
    }
}

/// Delivers a back-end message to its channel.
pub fn publish(state: &AppState, ingress: &Ingress, source: Source) {
    let (event, target) = message(&ingress.sender, &ingress.data, ingress.target);
    let topic = topic(&ingress.channel);
    let sent = match source {
        Source::Redis => state.hub.deliver_local(topic.clone(), event, target),
        Source::Http => state.hub.publish(topic.clone(), event, target),
    };
    if let Err(e) = sent {
        log::warn!("broadcast: message for {topic} not delivered: {e}");
    }
}
