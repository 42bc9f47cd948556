//! Broadcast operations (seeds/004): one way to turn a message into an event and its
//! recipients, used by client frames, Redis payloads and the HTTP endpoint alike.

use std::sync::Arc;

use serde_json::value::RawValue;

use crate::dialects::broadcast::protocol::{Ingress, MessageOut, Person};
use crate::dialects::broadcast::topic;
use crate::hub::registry::PublishTopic;
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

/// Delivers a back-end message to its channel on this node (and, through the relay, others).
pub fn publish(state: &AppState, ingress: &Ingress) {
    let (event, target) = message(&ingress.sender, &ingress.data, ingress.target);
    state.registry.do_send(PublishTopic {
        topic: topic(&ingress.channel),
        event,
        target,
    });
}
