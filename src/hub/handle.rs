//! The one door through which dialects and services publish: a [`Hub`] handle.
//!
//! Nothing outside the hub holds a room's or the registry's address. A publish goes to the
//! registry with `try_send` (its mailbox is bounded); the registry hands it to the topic's room
//! on this node, which delivers it to local members and to the relay, or straight to the relay
//! when this node has no member for the topic. A full registry refuses the event: it is counted
//! (`hub_queue_full_total{queue="registry"}`) and the caller told, never queued without bound.

use std::sync::Arc;

use actix::prelude::*;

use super::catch_up::CatchUp;
use super::event::{Event, Target};
use super::parking::Parking;
use super::registry::{DeliverLocal, HubError, PublishTopic, RegisterCatchUp, Registry};
use super::topic::Topic;
use crate::metrics::Metrics;
use crate::relay::NodeId;

/// Publishing into the hub; cheap to clone (two reference counts).
#[derive(Clone)]
pub struct Hub {
    registry: Addr<Registry>,
    metrics: Arc<Metrics>,
    node: NodeId,
    /// Connections kept for their clients to resume.
    parking: Parking,
}

impl Hub {
    /// A handle on `registry` of node `node`.
    pub fn new(registry: Addr<Registry>, metrics: Arc<Metrics>, node: NodeId) -> Hub {
        Hub {
            registry,
            metrics,
            node,
            parking: Parking::default(),
        }
    }

    /// This node's id (as other nodes and the logs know it).
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Publishes an event to a topic on every node: this node's members get it from the room,
    /// the others through the relay.
    pub fn publish(&self, topic: Topic, event: Event, target: Target) -> Result<(), HubError> {
        self.send(PublishTopic {
            topic,
            event,
            target,
        })
    }

    /// Delivers an event to this node's members of a topic only, for events every node
    /// receives by itself (the Laravel back end's Redis channel, which every node subscribes
    /// to: relaying would hand members one copy per node).
    pub fn deliver_local(
        &self,
        topic: Topic,
        event: Event,
        target: Target,
    ) -> Result<(), HubError> {
        self.send(DeliverLocal {
            topic,
            event,
            target,
        })
    }

    /// Registers where rooms of `namespace` catch up after a relay gap.
    pub fn register_catch_up(&self, namespace: &'static str, source: Arc<dyn CatchUp>) {
        // At start, before any traffic: the mailbox has room.
        let _ = self.send(RegisterCatchUp { namespace, source });
    }

    /// Registers who hears of first arrivals and last departures in `namespace`'s topics
    /// (instead of their members; see [`super::watch`]).
    pub fn watch_presence(&self, namespace: &'static str, watch: Arc<dyn super::PresenceWatch>) {
        // At start, before any traffic: the mailbox has room.
        let _ = self.send(super::registry::WatchPresence { namespace, watch });
    }

    /// This node's parked connections, which a reconnecting client's session resumes.
    pub fn parking(&self) -> &Parking {
        &self.parking
    }

    /// The registry, for the hub's own session code.
    pub(crate) fn registry(&self) -> &Addr<Registry> {
        &self.registry
    }

    fn send<M>(&self, msg: M) -> Result<(), HubError>
    where
        M: Message<Result = ()> + Send + 'static,
        Registry: Handler<M>,
    {
        match self.registry.try_send(msg) {
            Ok(()) => Ok(()),
            Err(SendError::Full(_)) => {
                self.metrics.queue_full("registry");
                Err(HubError::Full)
            }
            Err(SendError::Closed(_)) => Err(HubError::Stopped),
        }
    }
}
