//! Presence shared by every node: who is in a topic anywhere, and whether a connection is its
//! user's first or last on any node (so an arrival or departure is announced once, not once per
//! node).
//!
//! Rooms keep their own presence too ([`crate::hub::presence`]); it is the answer for a single
//! node and the fallback when the shared store cannot be reached (then announcements are per
//! node until it is back). Only topics whose members announce themselves (broadcast channels,
//! guitar sessions) are recorded here: the others have no use for it.

use bytestring::ByteString;
use futures_util::future::BoxFuture;

use crate::hub::{Topic, UserRef};

/// Why the shared store did not answer.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    /// Redis failed or is unreachable.
    #[error("presence store: {0}")]
    Store(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("presence store timed out")]
    Timeout,
    /// Redis answered something this node did not write.
    #[error("presence store answered unexpectedly: {0}")]
    Unexpected(String),
}

/// A connection as the shared store records it.
#[derive(Debug, Clone)]
pub struct PresenceMember {
    /// The connection (unique on its node; the store pairs it with the node id).
    pub conn: u64,
    /// Its user.
    pub user: UserRef,
    /// What to announce on its behalf if its node dies, and whether that is announced for
    /// every connection (`true`) or only for a user's last one.
    pub farewell: Option<(ByteString, bool)>,
}

/// What a joining connection learns from the shared store.
#[derive(Debug, Clone, PartialEq)]
pub struct Present {
    /// Whether this is the user's first connection on any node.
    pub first: bool,
    /// The users present on every node, in the order they arrived.
    pub users: Vec<UserRef>,
    /// Connections on every node, the newcomer included.
    pub connections: usize,
}

/// The store every node shares.
pub trait SharedPresence: Send + Sync + 'static {
    /// Records a connection.
    fn join(
        &self,
        topic: &Topic,
        member: PresenceMember,
    ) -> BoxFuture<'static, Result<Present, PresenceError>>;

    /// Forgets a connection; `Some(true)` when it was its user's last on any node, `None` when
    /// the store did not know it (it was lost with a Redis restart, or reaped).
    fn leave(
        &self,
        topic: &Topic,
        conn: u64,
    ) -> BoxFuture<'static, Result<Option<bool>, PresenceError>>;

    /// Makes the store's record of this node's connections in `topic` exactly `members`
    /// (after an outage, during which joins and leaves were not recorded).
    fn restore(
        &self,
        topic: &Topic,
        members: Vec<PresenceMember>,
    ) -> BoxFuture<'static, Result<(), PresenceError>>;
}
