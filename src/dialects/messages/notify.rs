//! Who hears about a message: every socket of its sender and recipient — their global sockets
//! through `user:<id>`, their community sockets through `community:<id>` narrowed to the two of
//! them — each exactly once; and the recipient's fresh unread counts after every change.

use std::sync::Arc;

use super::protocol::{self, MessageRead, NewMessage};
use super::{community_topic, user_topic};
use crate::hub::registry::PublishTopic;
use crate::hub::{Event, Target};
use crate::services::messages::{Delivery, MessageView};
use crate::state::AppState;

fn key(user: i64) -> Arc<str> {
    Arc::from(user.to_string())
}

fn publish_about(state: &AppState, message: &MessageView, event: Event) {
    let (sender, recipient) = (message.sender.id, message.recipient.id);
    state.registry.do_send(PublishTopic {
        topic: user_topic(sender),
        event: event.clone(),
        target: Target::All,
    });
    if recipient != sender {
        state.registry.do_send(PublishTopic {
            topic: user_topic(recipient),
            event: event.clone(),
            target: Target::All,
        });
    }
    if let Some(community) = &message.community {
        state.registry.do_send(PublishTopic {
            topic: community_topic(community.id),
            event,
            target: Target::Users(vec![key(sender), key(recipient)]),
        });
    }
}

fn push_unread(state: &AppState, delivery: &Delivery) {
    let recipient = delivery.message.recipient.id;
    state.registry.do_send(PublishTopic {
        topic: user_topic(recipient),
        event: Event::text(protocol::unread(delivery.recipient_unread, None)),
        target: Target::All,
    });
    if let (Some(community), Some(count)) = (
        &delivery.message.community,
        delivery.recipient_unread_in_community,
    ) {
        state.registry.do_send(PublishTopic {
            topic: community_topic(community.id),
            event: Event::text(protocol::unread(count, Some(community.id))),
            target: Target::Users(vec![key(recipient)]),
        });
    }
}

/// After a message was stored: `new_message` to both sides, then the recipient's counts.
pub fn new_message(state: &AppState, delivery: &Delivery) {
    let event = Event::json(&NewMessage {
        kind: "new_message",
        message: &delivery.message,
    });
    publish_about(state, &delivery.message, event);
    push_unread(state, delivery);
}

/// After a message was marked read: the receipt to both sides, then the recipient's counts.
pub fn message_read(state: &AppState, delivery: &Delivery) {
    let event = Event::json(&MessageRead {
        kind: "message_read",
        message_id: delivery.message.id,
        read_at: delivery.message.read_at.as_deref(),
    });
    publish_about(state, &delivery.message, event);
    push_unread(state, delivery);
}
