//! The in-process relay: nodes that share a [`LocalBus`] receive each other's events.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{Envelope, NodeId, Relay, RelayInbox};
use crate::hub::Topic;
use crate::metrics::Metrics;

struct Node {
    id: NodeId,
    inbox: Option<RelayInbox>,
    topics: HashSet<Topic>,
}

/// The medium several in-process nodes share. A server started without one gets its own, and
/// is then simply a single node.
#[derive(Clone, Default)]
pub struct LocalBus {
    nodes: Arc<Mutex<Vec<Node>>>,
}

/// One node's connection to a [`LocalBus`].
pub struct LocalRelay {
    id: NodeId,
    bus: LocalBus,
    metrics: Arc<Metrics>,
}

impl LocalRelay {
    /// Joins `bus` as a new node.
    pub fn new(bus: LocalBus, metrics: Arc<Metrics>) -> LocalRelay {
        let id = NodeId::random();
        // In-process: the link is always up.
        metrics
            .relay_connected
            .store(1, std::sync::atomic::Ordering::Relaxed);
        bus.nodes.lock().expect("bus lock").push(Node {
            id,
            inbox: None,
            topics: HashSet::new(),
        });
        LocalRelay { id, bus, metrics }
    }

    fn with_self(&self, f: impl FnOnce(&mut Node)) {
        let mut nodes = self.bus.nodes.lock().expect("bus lock");
        if let Some(me) = nodes.iter_mut().find(|n| n.id == self.id) {
            f(me);
        }
    }
}

impl Relay for LocalRelay {
    fn attach(&self, inbox: RelayInbox) {
        self.with_self(|me| me.inbox = Some(inbox));
    }

    fn subscribe(&self, topic: &Topic) {
        self.with_self(|me| {
            me.topics.insert(topic.clone());
        });
    }

    fn unsubscribe(&self, topic: &Topic) {
        self.with_self(|me| {
            me.topics.remove(topic);
        });
    }

    fn publish(&self, envelope: Envelope) {
        let nodes = self.bus.nodes.lock().expect("bus lock");
        for node in nodes
            .iter()
            .filter(|n| n.id != self.id && n.topics.contains(&envelope.topic))
        {
            if let Some(inbox) = &node.inbox {
                // The inbox is a registry, which never blocks on a socket; a full or stopped
                // one refuses, and that is counted as a relay error.
                let counter = match inbox.envelopes.try_send(envelope.clone()) {
                    Ok(()) => &self.metrics.relay_published,
                    Err(_) => &self.metrics.relay_errors,
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn node(&self) -> NodeId {
        self.id
    }
}

impl Drop for LocalRelay {
    fn drop(&mut self) {
        if let Ok(mut nodes) = self.bus.nodes.lock() {
            nodes.retain(|n| n.id != self.id);
        }
    }
}
