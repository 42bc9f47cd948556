//! The registry actor: one per node, started once by [`crate::server::run`] outside the
//! per-worker closure. It maps topics to rooms, creates rooms on a pool of room threads, stops
//! them when they empty, and connects rooms to the relay.
//!
//! Joins always pass through here, and a room is forgotten only after it confirmed that it
//! stopped while still empty; as the registry forwards in order, a join can never land in a
//! room that is about to vanish.
//!
//! Everything the relay brings in arrives here too: events from other nodes (delivered to the
//! topic's room, if this node has one), gaps to catch up on (passed to every room with its
//! namespace's [`CatchUp`] source) and farewells of dead nodes' members (published like any
//! event). Hand-offs to rooms use `try_send`; a full room mailbox is counted, not waited for.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use actix::prelude::*;

use super::catch_up::CatchUp;
use super::event::{Event, Target};
use super::room::{CatchUpSince, Join, Joined, Publish, Remote, Room, RoomConfig, StopIfEmpty};
use super::topic::Topic;
use super::watch::PresenceWatch;
use crate::metrics::Metrics;
use crate::relay::presence::SharedPresence;
use crate::relay::{Envelope, Orphaned, Relay, RelayInbox, Resync};

/// The hub core's failures as a session or service sees them.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The registry or a room is gone (the server is shutting down).
    #[error("hub unavailable")]
    Unavailable(#[from] MailboxError),
    /// The registry's bounded mailbox is full: the event was refused (and counted).
    #[error("hub overloaded")]
    Full,
    /// The registry has stopped (the server is shutting down).
    #[error("hub stopped")]
    Stopped,
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

/// Delivers to this node's members of a topic only, never relayed (see
/// [`super::Hub::deliver_local`]).
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

/// Registers a namespace's catch-up source.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterCatchUp {
    /// The topic namespace (`chat`, `user`, …).
    pub namespace: &'static str,
    /// Where its rooms read what they missed.
    pub source: Arc<dyn CatchUp>,
}

/// Registers a namespace's presence watcher.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WatchPresence {
    /// The topic namespace.
    pub namespace: &'static str,
    /// Told of its users' first arrivals and last departures.
    pub watch: Arc<dyn PresenceWatch>,
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
    config: RoomConfig,
    presence: Option<Arc<dyn SharedPresence>>,
    catch_ups: HashMap<&'static str, Arc<dyn CatchUp>>,
    watchers: HashMap<&'static str, Arc<dyn PresenceWatch>>,
}

impl Registry {
    /// A registry whose rooms run on `room_threads` dedicated threads (so fan-out work is
    /// spread over the cores instead of sitting on the registry's thread). With `presence`,
    /// rooms whose members announce themselves share who is present with the other nodes.
    pub fn new(
        room_threads: usize,
        config: RoomConfig,
        relay: Arc<dyn Relay>,
        presence: Option<Arc<dyn SharedPresence>>,
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
            config,
            presence,
            catch_ups: HashMap::new(),
            watchers: HashMap::new(),
        }
    }

    fn room(&mut self, topic: &Topic, ctx: &mut Context<Self>) -> Addr<Room> {
        if let Some(room) = self.rooms.get(topic) {
            return room.clone();
        }
        let arbiter = &self.arbiters[self.next_arbiter % self.arbiters.len()];
        self.next_arbiter += 1;
        let (t, config, relay, presence, registry, metrics) = (
            topic.clone(),
            self.config,
            self.relay.clone(),
            self.presence.clone(),
            ctx.address(),
            self.metrics.clone(),
        );
        let watch = self.watchers.get(topic.namespace()).cloned();
        let room = Room::start_in_arbiter(arbiter, move |_| {
            Room::new(t, config, relay, presence, watch, registry, metrics)
        });
        self.relay.subscribe(topic);
        self.rooms.insert(topic.clone(), room.clone());
        room
    }

    /// Hands a message to a room without waiting; a full mailbox is counted.
    fn hand<M>(&self, room: &Addr<Room>, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Room: Handler<M>,
    {
        if let Err(SendError::Full(_)) = room.try_send(msg) {
            self.metrics.queue_full("room");
        }
    }
}

/// Mailbox of the registry: deep, since every publish without a joined room passes here, but
/// bounded — [`super::Hub`] refuses and counts what does not fit.
pub const REGISTRY_MAILBOX: usize = 65_536;

impl Actor for Registry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(REGISTRY_MAILBOX);
        self.relay.attach(RelayInbox {
            envelopes: ctx.address().recipient(),
            resync: ctx.address().recipient(),
            orphaned: ctx.address().recipient(),
        });
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
            Some(room) => self.hand(
                room,
                Publish {
                    event: msg.event,
                    target: msg.target,
                },
            ),
            None => {
                self.metrics.messages_out.fetch_add(1, Relaxed);
                self.relay.publish(Envelope::of(
                    self.relay.node(),
                    msg.topic,
                    &msg.event,
                    &msg.target,
                ));
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
        // Delivered as events from other nodes are: locally, without relaying.
        let env = Envelope::of(self.relay.node(), msg.topic, &msg.event, &msg.target);
        self.hand(room, Remote(env));
    }
}

impl Handler<RegisterCatchUp> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RegisterCatchUp, _: &mut Self::Context) {
        self.catch_ups.insert(msg.namespace, msg.source);
    }
}

impl Handler<WatchPresence> for Registry {
    type Result = ();

    fn handle(&mut self, msg: WatchPresence, _: &mut Self::Context) {
        self.watchers.insert(msg.namespace, msg.watch);
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
        self.metrics.relay_received.fetch_add(1, Relaxed);
        if let Some(room) = self.rooms.get(&env.topic) {
            self.hand(room, Remote(env));
        }
    }
}

impl Handler<Resync> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Resync, _: &mut Self::Context) {
        log::info!(
            "relay: catching up {} rooms on what was stored since {} ms",
            self.rooms.len(),
            msg.since_ms
        );
        for (topic, room) in &self.rooms {
            let source = self.catch_ups.get(topic.namespace()).cloned();
            self.hand(
                room,
                CatchUpSince {
                    since_ms: msg.since_ms,
                    source,
                },
            );
        }
    }
}

impl Handler<Orphaned> for Registry {
    type Result = ();

    fn handle(&mut self, msg: Orphaned, ctx: &mut Self::Context) {
        // In a watched topic the farewell names the user who is gone from every node.
        if let Some(watch) = self.watchers.get(msg.topic.namespace()) {
            watch.changed(&msg.topic, &msg.body, false);
            return;
        }
        // The departed member's farewell, published as any event: to this node's members and
        // to every other node's.
        <Self as Handler<PublishTopic>>::handle(
            self,
            PublishTopic {
                topic: msg.topic,
                event: Event::text(msg.body),
                target: Target::All,
            },
            ctx,
        );
    }
}
