//! Hearing when a user arrives in a topic on any node, or has left it on every node: what a
//! status keeper needs (Mattermost's automatic `online`/`offline`), where announcing to the
//! topic's members would reach nobody — the first arrival has no one to tell, and the last
//! departure leaves no one behind.
//!
//! A dialect registers a watcher per topic namespace at start ([`super::Hub::watch_presence`]).
//! Rooms of that namespace then tell it instead of announcing: with the shared presence (Redis)
//! "first" and "last" are the user's on any node; without, on this node. A node that dies is
//! reaped by a survivor, which tells its own watcher of each user whose last connection went
//! with it: the watched members' farewell body is their user key. Calls come from room threads
//! and must not block; a watcher spawns what it has to write.

use super::topic::Topic;

/// Told of a user's first arrival in, and last departure from, a topic of its namespace.
pub trait PresenceWatch: Send + Sync + 'static {
    /// `user` (its presence key) is now present in `topic` (`true`), or on no node (`false`).
    fn changed(&self, topic: &Topic, user: &str, present: bool);
}
