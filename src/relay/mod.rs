//! The seam between nodes: rooms hand every local event to a [`Relay`], which carries it to
//! the other nodes that have members for the topic; events arriving from other nodes go to the
//! registry and are delivered to local members only, never published again.
//!
//! The relay knows topics and bytes, nothing of rooms or dialects. [`local::LocalRelay`] is the
//! in-process implementation: alone it is a single node; several servers in one process (the
//! tests) can share one [`local::LocalBus`] and behave as a cluster. A Redis implementation
//! plugs in here without touching rooms or dialects.
//!
//! Closing events ([`crate::hub::Event::closing`]) are not relayed yet: they close local
//! members only.

pub mod local;

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
#[derive(Debug, Clone, Message)]
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
    /// The storage ordering key, if the event has one.
    pub key: Option<i64>,
}

/// Carries events to other nodes and brings theirs in.
pub trait Relay: Send + Sync + 'static {
    /// Where events from other nodes are delivered (the registry). Called once at start.
    fn attach(&self, inbox: Recipient<Envelope>);
    /// Starts receiving the topic's events (its first local member arrived).
    fn subscribe(&self, topic: &Topic);
    /// Stops receiving the topic's events (its room stopped).
    fn unsubscribe(&self, topic: &Topic);
    /// Sends a local event to the other nodes. Must not block: it is called from a room.
    fn publish(&self, envelope: Envelope);
    /// This node's id.
    fn node(&self) -> NodeId;
}
