//! The seam between nodes: rooms hand every local event to a [`Relay`], which carries it to
//! the other nodes that have members for the topic; events arriving from other nodes go to the
//! registry and are delivered to local members only, never published again.
//!
//! The relay knows topics, users and bytes, nothing of rooms or dialects. Two implementations:
//! - [`local::LocalRelay`], in-process: alone it is a single node; several servers in one
//!   process (tests) can share one [`local::LocalBus`] and behave as a cluster.
//! - [`redis::RedisRelay`], with `REDIS_URL`: one Redis pub/sub channel per topic, subscribed
//!   while the node has members for it, envelopes in the format of [`envelope`]. With it comes
//!   [`redis_presence::RedisPresence`], the presence every node shares (who is in a topic on
//!   any node, with node heartbeats so a dead node's members are announced gone).
//!
//! A relay that lost its link and got it back tells the registry (and, through the control
//! channel, the other nodes) that events may have been missed since a moment: rooms then catch
//! up from the database through the dialects' [`crate::hub::catch_up`] functions.

pub mod envelope;
pub mod local;
pub mod presence;
pub mod redis;
pub mod redis_presence;

use std::sync::Arc;

use actix::{Message, Recipient};
use bytestring::ByteString;

use crate::hub::Topic;

/// Which node an event came from, so a node can drop its own echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub u64);

impl NodeId {
    /// A random id for this process.
    pub fn random() -> NodeId {
        NodeId(rand::random())
    }

    /// Sixteen hex digits, as envelopes and Redis keys carry it.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// Reads [`NodeId::hex`] back.
    pub fn parse(hex: &str) -> Option<NodeId> {
        (hex.len() == 16)
            .then(|| u64::from_str_radix(hex, 16).ok())
            .flatten()
            .map(NodeId)
    }
}

/// Who on the receiving node gets a relayed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayTarget {
    /// Every local member of the topic.
    All,
    /// Only the connections of these users (presence keys).
    Users(Vec<Arc<str>>),
}

/// An event on its way between nodes.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub struct Envelope {
    /// The node that published it.
    pub origin: NodeId,
    /// The room it belongs to.
    pub topic: Topic,
    /// The serialized event, exactly as local members received it.
    pub body: ByteString,
    /// Who receives it.
    pub target: RelayTarget,
    /// The storage key, if the event has one (see [`crate::hub::Event::key`]).
    pub key: Option<i64>,
    /// Set when recipients are to be closed after the body, with this code and reason.
    pub close: Option<(u16, Arc<str>)>,
    /// A recipient the dialect leaves out (see [`crate::hub::Event::skip`]).
    pub skip: Option<Arc<str>>,
}

/// The relay may have lost events since `since_ms` (Unix milliseconds): rooms catch up from the
/// database. Sent by a relay that got its link back, and relayed to every other node so that
/// a node whose own link held hears of events its peer could not publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct Resync {
    /// Events committed from this moment on may not have crossed.
    pub since_ms: i64,
}

/// An announcement on behalf of a connection that can no longer speak: a member of a node that
/// died, found by [`redis_presence`]. Published to the topic on every node, as its own farewell
/// would have been.
#[derive(Debug, Clone, PartialEq, Message)]
#[rtype(result = "()")]
pub struct Orphaned {
    /// Where the departed member was.
    pub topic: Topic,
    /// Its farewell, as its dialect wrote it.
    pub body: ByteString,
}

/// Where a relay hands what arrives: the registry's addresses.
#[derive(Clone)]
pub struct RelayInbox {
    /// Events from other nodes.
    pub envelopes: Recipient<Envelope>,
    /// Gaps to catch up on.
    pub resync: Recipient<Resync>,
    /// Farewells of dead nodes' members.
    pub orphaned: Recipient<Orphaned>,
}

/// Carries events to other nodes and brings theirs in.
pub trait Relay: Send + Sync + 'static {
    /// Where events from other nodes are delivered (the registry). Called once at start.
    fn attach(&self, inbox: RelayInbox);
    /// Starts receiving the topic's events (its first local member arrived).
    fn subscribe(&self, topic: &Topic);
    /// Stops receiving the topic's events (its room stopped). A relay may keep the
    /// subscription a moment in case a member comes back.
    fn unsubscribe(&self, topic: &Topic);
    /// Sends a local event to the other nodes. Must not block: it is called from a room.
    fn publish(&self, envelope: Envelope);
    /// This node's id.
    fn node(&self) -> NodeId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_round_trip_as_hex() {
        let id = NodeId(0x00ab_cdef_0123_4567);
        assert_eq!(id.hex(), "00abcdef01234567");
        assert_eq!(NodeId::parse(&id.hex()), Some(id));
        assert_eq!(NodeId::parse("abc"), None);
        assert_eq!(NodeId::parse("zzzzzzzzzzzzzzzz"), None);
    }
}
