//! The automatic status: a user's first socket on any node makes them `online`, their last one
//! leaving every node `offline`.
//!
//! Each authenticated socket joins its user's status topic ([`topic`]) with a departure to
//! record, and the rooms of that namespace tell [`Online`] of first arrivals and last
//! departures instead of announcing them ([`crate::hub::watch`]). With Redis the hub's shared
//! presence decides first and last over every node, and when a node dies a survivor reports
//! its users gone; without Redis, this node decides alone. A parked connection (kept for a
//! resume) does not keep its user online: parking keeps events, not presence.

use std::sync::Arc;

use super::notify;
use crate::hub::{Announce, AnnounceWhen, Event, PresenceWatch, Topic};
use crate::services::mattermost::statuses;
use crate::state::AppState;

/// The namespace of the users' status topics.
pub const NAMESPACE: &str = "mmstatus";

/// `user`'s status topic.
pub fn topic(user: &str) -> Topic {
    Topic::new(NAMESPACE, user)
}

/// What a socket records on joining its status topic: its user's id, which is what a survivor
/// reports when the socket's node dies with it (never sent to a client: watched topics
/// announce nothing).
pub fn departure(user: &str) -> Announce {
    Announce {
        event: Event::text(user.to_string()),
        when: AnnounceWhen::FirstOrLast,
        said: None,
    }
}

/// Writes the automatic status when the hub reports a user's first arrival or last departure.
pub struct Online {
    state: AppState,
    /// Held while a status is written, so that this node's writes for a user land in the order
    /// the rooms reported the changes.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl Online {
    /// Registers the watcher for the status topics of this node.
    pub fn start(state: &AppState) {
        let online = Online {
            state: state.clone(),
            writing: Default::default(),
        };
        state.hub.watch_presence(NAMESPACE, Arc::new(online));
    }
}

impl PresenceWatch for Online {
    fn changed(&self, _topic: &Topic, user: &str, present: bool) {
        let (state, writing, user) = (self.state.clone(), self.writing.clone(), user.to_string());
        // Queued for the lock in call order: tokio's mutex is fair.
        actix::spawn(async move {
            let _turn = writing.lock().await;
            let status = if present { "online" } else { "offline" };
            match statuses::automatic(&state.db, user.clone(), status).await {
                Ok(Some(change)) => notify::status_change(&state, &change),
                Ok(None) => {}
                Err(e) => log::warn!("status of user={user}: {e}"),
            }
        });
    }
}
