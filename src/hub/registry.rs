//! The registry actor: one per node, started once by [`crate::server::run`] outside the
//! per-worker closure. It maps topics to rooms, creates rooms on a pool of room threads, stops
//! them when they empty, and connects rooms to the relay.
//!
//! Joins always pass through here, and a room is forgotten only after it confirmed that it
//! stopped while still empty; as the registry forwards in order, a join can never land in a
//! room that is about to vanish.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::event::{Event, Target};
use super::room::{Join, Joined, Publish, Remote, Room, SlowReaderPolicy, StopIfEmpty};
use super::topic::Topic;
use crate::metrics::Metrics;
use crate::relay::{Envelope, Relay, RelayTarget};

/// The hub core's failures as a session or service sees them.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The registry or a room is gone (the server is shutting down).
    #[error("hub unavailable")]
    Unavailable(#[from] MailboxError),
}

/// Joins `topic`, creating its room if needed.
#[derive(Message)]
#[rtype(result = "Result<Joined, HubError>")]
pub struct JoinTopic {
    /// The topic to join.
    pub topic: Topic,
    /// The member and its announcement.
    pub join: Join,
}

/// Publishes to a topic from outside its rooms (a REST call, a back-end message). With no
/// local members, the event still goes to the other nodes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishTopic {
    /// Where to publish.
    pub topic: Topic,
    /// The event, serialized once.
    pub event: Event,
    /// Who receives it.
    pub target: Target,
}

/// Delivers to this node's members of a topic only, never relayed: for events every node
/// receives by itself (each node subscribes to the Laravel back end's Redis channel, so
/// relaying would hand members one copy per node).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DeliverLocal {
    /// Where to deliver.
    pub topic: Topic,
    /// The event, serialized once.
    pub event: Event,
    /// Who receives it.
    pub target: Target,
}

/// A room reports that its last member left.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomEmpty {
    /// The room's topic.
    pub topic: Topic,
    /// The room, to tell it apart from a newer room for the same topic.
    pub room: Addr<Room>,
}

/// Topic → room, plus the threads rooms run on.
pub struct Registry {
    rooms: HashMap<Topic, Addr<Room>>,
    arbiters: Vec<ArbiterHandle>,
    next_arbiter: usize,
    relay: Arc<dyn Relay>,
    metrics: Arc<Metrics>,
    replay: usize,
    slow: SlowReaderPolicy,
}

impl Registry {
    /// A registry whose rooms run on `room_threads` dedicated threads (so fan-out work is
    /// spread over the cores instead of sitting on the registry's thread).
    pub fn new(
        room_threads: usize,
        replay: usize,
        slow: SlowReaderPolicy,
        relay: Arc<dyn Relay>,
        metrics: Arc<Metrics>,
    ) -> Registry {
        let arbiters = (0..room_threads.max(1))
            .map(|_| Arbiter::new().handle())
            .collect();
        Registry {
            rooms: HashMap::new(),
            arbiters,
            next_arbiter: 0,
            relay,
            metrics,
            replay,
            slow,
        }
    }

    fn room(&mut self, topic: &Topic, ctx: &mut Context<Self>) -> Addr<Room> {
        if let Some(room) = self.rooms.get(topic) {
            return room.clone();
        }
        let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len()];
        self.next_arbiter += 1;
        let (t, replay, slow, relay, registry, metrics) = (
            topic.clone(),
            self.replay,
            self.slow,
            self.relay.clone(),
            ctx.address(),
            self.metrics.clone(),
        );
        let room = Room::start_in_arbiter(arbiter, move |_| {
            Room::new(t, replay, slow, relay, registry, metrics)
        });
        self.relay.subscribe(topic);
        self.rooms.insert(topic.clone(), room.clone());
        room
    }
}

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(65_536);
        self.relay.attach(ctx.address().recipient());
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

impl Handler<JoinTopic> for Registry {
    type Result = ResponseFuture<Result<Joined, HubError>>;

    fn handle(&mut self, msg: JoinTopic, ctx: &mut Self::Context) -> Self::Result {
        let room = self.room(&msg.topic, ctx);
        // `send` enqueues now, in order with any StopIfEmpty sent later; only the reply is awaited.
        let reply = room.send(msg.join);
        Box::pin(async move { Ok(reply.await?) })
    }
}

impl Handler<PublishTopic> for Registry {
    type Result = ();

    fn handle(&mut self, msg: PublishTopic, _: &mut Self::Context) {
        match self.rooms.get(&msg.topic) {
            Some(room) => room.do_send(Publish {
                event: msg.event,
                target: msg.target,
            }),
            None => {
                self.metrics
                    .messages_out
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let target = match msg.target {
                    Target::Users(keys) => RelayTarget::Users(keys),
                    _ => RelayTarget::All,
                };
                self.relay.publish(Envelope {
                    origin: self.relay.node(),
                    topic: msg.topic,
                    body: msg.event.body,
                    target,
                    key: msg.event.key,
                });
            }
        }
    }
}

impl Handler<DeliverLocal> for Registry {
    type Result = ();

    fn handle(&mut self, msg: DeliverLocal, _: &mut Self::Context) {
        let Some(room) = self.rooms.get(&msg.topic) else {
            return;
        };
        let target = match msg.target {
            Target::Users(keys) => RelayTarget::Users(keys),
            Target::All | Target::AllExcept(_) => RelayTarget::All,
        };
        // Delivered as events from other nodes are: locally, without relaying.
        room.do_send(Remote(Envelope {
            origin: self.relay.node(),
            topic: msg.topic,
            body: msg.event.body,
            target,
            key: msg.event.key,
        }));
    }
}

impl Handler<RoomEmpty> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RoomEmpty, ctx: &mut Self::Context) {
        if self.rooms.get(&msg.topic) != Some(&msg.room) {
            return;
        }
        // Wait for the answer before handling anything else, so no join is forwarded to a
        // room that is stopping.
        ctx.wait(
            msg.room
                .send(StopIfEmpty)
                .into_actor(self)
                .map(move |stopped, act, _| {
                    if matches!(stopped, Ok(true) | Err(_))
                        && act.rooms.get(&msg.topic) == Some(&msg.room)
                    {
                        act.rooms.remove(&msg.topic);
                        act.relay.unsubscribe(&msg.topic);
                    }
                }),
        );
    }
}

impl Handler<Envelope> for Registry {
    type Result = ();

    fn handle(&mut self, env: Envelope, _: &mut Self::Context) {
        if env.origin == self.relay.node() {
            return;
        }
        self.metrics
            .relay_received
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(room) = self.rooms.get(&env.topic) {
            room.do_send(Remote(env));
        }
    }
}
