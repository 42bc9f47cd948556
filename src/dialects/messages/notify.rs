//! Who hears about a message: every socket of its sender and recipient — their global sockets
//! through `user:<id>`, their community sockets through `community:<id>` narrowed to the two of
//! them — each exactly once; and the recipient's fresh unread counts after every change.
//!
//! `new_message` and `message_read` carry storage keys ([`NEW_MESSAGE`], [`MESSAGE_READ`] with
//! the message id), so that after a relay gap the catch-up ([`super::catch_up`]) can tell what
//! a socket already received.

use std::sync::Arc;

use super::protocol::{self, MessageRead, NewMessage};
use super::{community_topic, user_topic};
use crate::hub::{Event, Target, Topic};
use crate::services::messages::{Delivery, MessageView};
use crate::state::AppState;

/// Storage-key kind of `new_message` events.
pub const NEW_MESSAGE: u8 = 0;
/// Storage-key kind of `message_read` events.
pub const MESSAGE_READ: u8 = 1;

fn key(user: i64) -> Arc<str> {
    Arc::from(user.to_string())
}

fn publish(state: &AppState, topic: Topic, event: Event, target: Target) {
    if let Err(e) = state.hub.publish(topic.clone(), event, target) {
        log::warn!("messages: event for {topic} not published: {e}");
    }
}

/// The topics an event about `message` goes to, and whom in each.
pub fn audience(message: &MessageView) -> Vec<(Topic, Target)> {
    let (sender, recipient) = (message.sender.id, message.recipient.id);
    let mut out = vec![(user_topic(sender), Target::All)];
    if recipient != sender {
        out.push((user_topic(recipient), Target::All));
    }
    if let Some(community) = &message.community {
        out.push((
            community_topic(community.id),
            Target::Users(vec![key(sender), key(recipient)]),
        ));
    }
    out
}

fn publish_about(state: &AppState, message: &MessageView, event: Event) {
    for (topic, target) in audience(message) {
        publish(state, topic, event.clone(), target);
    }
}

fn push_unread(state: &AppState, delivery: &Delivery) {
    let recipient = delivery.message.recipient.id;
    publish(
        state,
        user_topic(recipient),
        Event::text(protocol::unread(delivery.recipient_unread, None)),
        Target::All,
    );
    if let (Some(community), Some(count)) = (
        &delivery.message.community,
        delivery.recipient_unread_in_community,
    ) {
        publish(
            state,
            community_topic(community.id),
            Event::text(protocol::unread(count, Some(community.id))),
            Target::Users(vec![key(recipient)]),
        );
    }
}

/// The `new_message` event of a stored message.
pub fn new_message_event(message: &MessageView) -> Event {
    Event::json(&NewMessage {
        kind: "new_message",
        message,
    })
    .stored(NEW_MESSAGE, message.id)
}

/// The `message_read` event of a message marked read.
pub fn message_read_event(message: &MessageView) -> Event {
    Event::json(&MessageRead {
        kind: "message_read",
        message_id: message.id,
        read_at: message.read_at.as_deref(),
    })
    .stored(MESSAGE_READ, message.id)
}

/// After a message was stored: `new_message` to both sides, then the recipient's counts.
pub fn new_message(state: &AppState, delivery: &Delivery) {
    publish_about(
        state,
        &delivery.message,
        new_message_event(&delivery.message),
    );
    push_unread(state, delivery);
}

/// After a message was marked read: the receipt to both sides, then the recipient's counts.
pub fn message_read(state: &AppState, delivery: &Delivery) {
    publish_about(
        state,
        &delivery.message,
        message_read_event(&delivery.message),
    );
    push_unread(state, delivery);
}
