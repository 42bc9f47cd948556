//! Who is connected to this node, for the automatic status: a user's first socket makes them
//! `online`, their last one leaving `offline`.
//!
//! Counting is per node. With several nodes, a user connected to two of them goes `offline`
//! when their sockets on one node have all left, until their next socket arrives; counting
//! across nodes would take the hub's shared presence, which announces to room members rather
//! than to a status keeper (see docs/mattermost.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::notify;
use crate::services::mattermost::statuses;
use crate::state::AppState;

/// Authenticated sockets per user on this node.
#[derive(Default)]
pub struct Online {
    counts: Mutex<HashMap<String, usize>>,
    /// Held while a status is written, so that a leave and a quick return on this node are
    /// written in order and the last write matches the count.
    writing: tokio::sync::Mutex<()>,
}

impl Online {
    /// A socket of `user` is authenticated.
    pub fn arrive(self: &Arc<Self>, state: &AppState, user: &str) {
        let first = {
            let mut counts = self.counts.lock().expect("online lock");
            let n = counts.entry(user.to_string()).or_default();
            *n += 1;
            *n == 1
        };
        if first {
            self.settle(state, user);
        }
    }

    /// A socket of `user` has ended.
    pub fn leave(self: &Arc<Self>, state: &AppState, user: &str) {
        let last = {
            let mut counts = self.counts.lock().expect("online lock");
            match counts.get_mut(user) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    counts.remove(user);
                    true
                }
                None => false,
            }
        };
        if last {
            self.settle(state, user);
        }
    }

    fn connected(&self, user: &str) -> bool {
        self.counts.lock().expect("online lock").contains_key(user)
    }

    /// Writes the status the count now says, and tells those who should hear of a change.
    fn settle(self: &Arc<Self>, state: &AppState, user: &str) {
        let (this, state, user) = (self.clone(), state.clone(), user.to_string());
        actix::spawn(async move {
            let _turn = this.writing.lock().await;
            let status = if this.connected(&user) {
                "online"
            } else {
                "offline"
            };
            match statuses::automatic(&state.db, user.clone(), status).await {
                Ok(Some(change)) => notify::status_change(&state, &change),
                Ok(None) => {}
                Err(e) => log::warn!("status of user={user}: {e}"),
            }
        });
    }
}
