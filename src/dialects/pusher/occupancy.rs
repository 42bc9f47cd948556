//! Who is subscribed to what on this node: sockets per channel and, on presence channels,
//! sockets per user. The HTTP API's channel queries read it, the presence member limit is
//! checked against it, and a channel's first and last socket become `channel_occupied` and
//! `channel_vacated` webhooks (member webhooks are the room's: they hold across nodes).
//! Entries vanish at zero, so the map holds only occupied channels.
//!
//! It counts this node's sockets: in a cluster each node answers for its own (the room
//! presence the sockets get on subscribing is shared across nodes; this table is not).

use std::collections::HashMap;
use std::sync::Mutex;

/// Subscriptions per `(app id, channel)`.
#[derive(Default)]
pub struct Occupancy {
    channels: Mutex<HashMap<(String, String), Channel>>,
}

#[derive(Default)]
struct Channel {
    sockets: usize,
    /// user id → (sockets, arrival number).
    users: HashMap<String, (usize, u64)>,
    next: u64,
}

/// What a subscription or unsubscription changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The channel went from no socket to one, or from one to none.
    pub channel: bool,
    /// The presence user went from no socket to one, or from one to none.
    pub user: bool,
}

/// A channel as the HTTP API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Sockets subscribed.
    pub subscription_count: usize,
    /// Distinct presence users (0 on other channels).
    pub user_count: usize,
}

impl Occupancy {
    /// Counts a socket's subscription (as presence user `user`, if any).
    pub fn subscribe(&self, app: &str, channel: &str, user: Option<&str>) -> Change {
        let mut channels = self.channels.lock().expect("occupancy lock");
        let entry = channels
            .entry((app.to_string(), channel.to_string()))
            .or_default();
        entry.sockets += 1;
        let mut change = Change {
            channel: entry.sockets == 1,
            user: false,
        };
        if let Some(user) = user {
            let next = entry.next;
            let slot = entry.users.entry(user.to_string()).or_insert((0, next));
            slot.0 += 1;
            if slot.0 == 1 {
                entry.next += 1;
                change.user = true;
            }
        }
        change
    }

    /// Uncounts a socket's subscription.
    pub fn unsubscribe(&self, app: &str, channel: &str, user: Option<&str>) -> Change {
        let mut channels = self.channels.lock().expect("occupancy lock");
        let key = (app.to_string(), channel.to_string());
        let Some(entry) = channels.get_mut(&key) else {
            return Change::default();
        };
        let mut change = Change::default();
        if let Some(user) = user {
            if let Some(slot) = entry.users.get_mut(user) {
                slot.0 -= 1;
                if slot.0 == 0 {
                    entry.users.remove(user);
                    change.user = true;
                }
            }
        }
        entry.sockets -= 1;
        if entry.sockets == 0 {
            channels.remove(&key);
            change.channel = true;
        }
        change
    }

    /// Distinct presence users of a channel.
    pub fn user_count(&self, app: &str, channel: &str) -> usize {
        self.info(app, channel).map_or(0, |i| i.user_count)
    }

    /// A channel's counts, `None` when no socket is subscribed.
    pub fn info(&self, app: &str, channel: &str) -> Option<ChannelInfo> {
        let channels = self.channels.lock().expect("occupancy lock");
        channels
            .get(&(app.to_string(), channel.to_string()))
            .map(|c| ChannelInfo {
                subscription_count: c.sockets,
                user_count: c.users.len(),
            })
    }

    /// The app's occupied channels whose name starts with `prefix`, sorted by name.
    pub fn channels(&self, app: &str, prefix: &str) -> Vec<(String, ChannelInfo)> {
        let channels = self.channels.lock().expect("occupancy lock");
        let mut list: Vec<(String, ChannelInfo)> = channels
            .iter()
            .filter(|((a, name), _)| a == app && name.starts_with(prefix))
            .map(|((_, name), c)| {
                let info = ChannelInfo {
                    subscription_count: c.sockets,
                    user_count: c.users.len(),
                };
                (name.clone(), info)
            })
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }

    /// A presence channel's user ids, in arrival order.
    pub fn users(&self, app: &str, channel: &str) -> Vec<String> {
        let channels = self.channels.lock().expect("occupancy lock");
        let Some(c) = channels.get(&(app.to_string(), channel.to_string())) else {
            return Vec::new();
        };
        let mut users: Vec<(&String, u64)> = c.users.iter().map(|(id, (_, n))| (id, *n)).collect();
        users.sort_by_key(|(_, n)| *n);
        users.into_iter().map(|(id, _)| id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_and_last_sockets_and_users() {
        let o = Occupancy::default();
        let both = Change {
            channel: true,
            user: true,
        };
        assert_eq!(o.subscribe("1", "presence-a", Some("7")), both);
        assert_eq!(o.subscribe("1", "presence-a", Some("7")), Change::default());
        let user_only = Change {
            channel: false,
            user: true,
        };
        assert_eq!(o.subscribe("1", "presence-a", Some("3")), user_only);
        assert_eq!(o.users("1", "presence-a"), ["7", "3"]);
        assert_eq!(
            o.info("1", "presence-a"),
            Some(ChannelInfo {
                subscription_count: 3,
                user_count: 2
            })
        );
        assert_eq!(
            o.unsubscribe("1", "presence-a", Some("7")),
            Change::default()
        );
        assert_eq!(o.unsubscribe("1", "presence-a", Some("3")), user_only);
        assert_eq!(o.unsubscribe("1", "presence-a", Some("7")), both);
        assert_eq!(o.info("1", "presence-a"), None);
        o.subscribe("1", "b", None);
        o.subscribe("2", "b", None);
        o.subscribe("1", "a", None);
        let names: Vec<String> = o.channels("1", "").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
