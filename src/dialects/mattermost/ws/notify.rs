//! Events published after an operation committed: posts to the channel's topic, what concerns
//! one user to that user's topic. REST handlers and the socket call the same functions.
//!
//! Topics: `mm:channel:<id>` (the channel's members, joined by their sockets) and
//! `mm:user:<id>` (every socket of one user). Each event carries the seed's extra
//! `data.channel_id` beside Mattermost's keys (official clients ignore it).

use serde_json::{json, Map, Value};

use super::protocol::{event, Broadcast};
use crate::hub::{Target, Topic};
use crate::services::mattermost::posts::PostChange;
use crate::services::mattermost::statuses::StatusChange;
use crate::state::AppState;

/// The topic of a channel's members.
pub fn channel_topic(channel: &str) -> Topic {
    Topic::new("mm", &format!("channel:{channel}"))
}

/// The topic of one user's sockets.
pub fn user_topic(user: &str) -> Topic {
    Topic::new("mm", &format!("user:{user}"))
}

fn publish(state: &AppState, topic: Topic, e: crate::hub::Event) {
    if let Err(err) = state.hub.publish(topic.clone(), e, Target::All) {
        log::warn!("mattermost event for {topic} refused: {err}");
    }
}

fn channel_broadcast(channel: &str) -> Broadcast<'_> {
    Broadcast {
        channel_id: channel,
        ..Default::default()
    }
}

/// The post as a JSON string, as Mattermost puts it in `data.post`.
fn post_string(change: &PostChange) -> String {
    serde_json::to_string(&change.view()).expect("posts serialize")
}

/// `posted`, to the channel's members.
pub fn posted(state: &AppState, change: &PostChange, sender: &str) {
    let c = &change.channel;
    let data = json!({
        "channel_display_name": c.display_name,
        "channel_name": c.name,
        "channel_type": c.kind,
        "post": post_string(change),
        "sender_name": format!("@{sender}"),
        "set_online": true,
        "team_id": c.team_id,
        "channel_id": c.id,
    });
    publish(
        state,
        channel_topic(&c.id),
        event("posted", data, channel_broadcast(&c.id)),
    );
}

/// `post_edited`, to the channel's members.
pub fn post_edited(state: &AppState, change: &PostChange) {
    let id = &change.channel.id;
    let data = json!({"post": post_string(change), "channel_id": id});
    publish(
        state,
        channel_topic(id),
        event("post_edited", data, channel_broadcast(id)),
    );
}

/// `post_deleted`, to the channel's members. Mattermost sends it twice, a sanitized copy for
/// users and one with `delete_by` for system admins; the hub has no admins and sends the first.
pub fn post_deleted(state: &AppState, change: &PostChange) {
    let id = &change.channel.id;
    let data = json!({"post": post_string(change), "channel_id": id});
    publish(
        state,
        channel_topic(id),
        event("post_deleted", data, channel_broadcast(id)),
    );
}

/// `typing`, to the channel's members but the typer (`omit_users`; each socket drops the
/// events that omit its user).
pub fn typing(state: &AppState, channel: &str, user: &str, parent: &str) {
    let mut omit = Map::new();
    omit.insert(user.to_string(), Value::Bool(true));
    let broadcast = Broadcast {
        omit_users: Some(omit),
        channel_id: channel,
        ..Default::default()
    };
    let data = json!({"parent_id": parent, "user_id": user, "channel_id": channel});
    publish(
        state,
        channel_topic(channel),
        event("typing", data, broadcast),
    );
}

/// `multiple_channels_viewed` (current clients) and one `channel_viewed` per channel (older
/// clients and the seed), to the viewer's sockets.
pub fn channels_viewed(state: &AppState, user: &str, viewed: &[(String, i64)]) {
    if viewed.is_empty() {
        return;
    }
    let to_user = || Broadcast {
        user_id: user,
        ..Default::default()
    };
    let times: Map<String, Value> = viewed.iter().map(|(c, t)| (c.clone(), json!(t))).collect();
    publish(
        state,
        user_topic(user),
        event(
            "multiple_channels_viewed",
            json!({"channel_times": times}),
            to_user(),
        ),
    );
    for (channel, _) in viewed {
        publish(
            state,
            user_topic(user),
            event("channel_viewed", json!({"channel_id": channel}), to_user()),
        );
    }
}

/// `user_added`, to the added user's sockets, which then join the channel's topic.
pub fn user_added(state: &AppState, channel: &str, team: &str, user: &str) {
    let broadcast = Broadcast {
        channel_id: channel,
        ..Default::default()
    };
    let data = json!({"user_id": user, "team_id": team, "channel_id": channel});
    publish(
        state,
        user_topic(user),
        event("user_added", data, broadcast),
    );
}

/// `status_change`, to the user's sockets and to those of everyone who shares a channel with
/// them (one event, serialized once, published to each of their topics).
pub fn status_change(state: &AppState, change: &StatusChange) {
    let user = &change.status.user_id;
    let e = event(
        "status_change",
        json!({"status": change.status.status, "user_id": user}),
        Broadcast {
            user_id: user,
            ..Default::default()
        },
    );
    for peer in &change.audience {
        publish(state, user_topic(peer), e.clone());
    }
}
