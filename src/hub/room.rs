//! The room actor: one per topic with local members. It numbers events, keeps the replay
//! buffer and presence, and delivers the same bytes to each addressed member.
//!
//! Delivery uses `try_send` into each session's bounded mailbox, never `do_send`: a member whose
//! mailbox is full is a slow reader, and is evicted and its TCP connection aborted (see
//! [`super::conn`]) so that it can neither slow the room nor grow memory.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use actix::prelude::*;

use super::conn::{ConnAbort, ConnId};
use super::event::{Announce, AnnounceWhen, Event, Target, UserRef};
use super::presence::Presence;
use super::registry::{Registry, RoomEmpty};
use super::replay::ReplayBuffer;
use super::topic::Topic;
use crate::metrics::Metrics;
use crate::relay::{Envelope, Relay, RelayTarget};

/// An event for one session to write.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Event);

/// A connection in a room, as the room keeps it.
pub struct Member {
    /// The connection.
    pub conn: ConnId,
    /// Its user, for presence and per-user delivery.
    pub user: UserRef,
    /// Its session's bounded mailbox.
    pub inbox: Recipient<Deliver>,
    /// How to reset its TCP connection when it stops reading.
    pub abort: ConnAbort,
    /// What to tell the others when it leaves (also when evicted).
    pub farewell: Option<Announce>,
}

/// Adds a member; the reply tells the newcomer who is here.
#[derive(Message)]
#[rtype(result = "Joined")]
pub struct Join {
    /// The new member.
    pub member: Member,
    /// What to tell the others about the arrival.
    pub hello: Option<Announce>,
}

/// What a newcomer learns on joining.
#[derive(Debug, Clone)]
pub struct Joined {
    /// The room, to publish into without going through the registry.
    pub room: Addr<Room>,
    /// The users present, the newcomer included, in arrival order.
    pub presence: Vec<UserRef>,
    /// Whether this is the user's first connection in the room.
    pub first_of_user: bool,
    /// The sequence number of the room's latest event.
    pub seq: u64,
    /// Connections in the room, the newcomer included.
    pub connections: usize,
}

/// Removes a member (its session is stopping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    /// The leaving connection.
    pub conn: ConnId,
}

/// Publishes a local event; the reply is its sequence number.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct Publish {
    /// The event, serialized once.
    pub event: Event,
    /// Who receives it.
    pub target: Target,
}

/// Delivers an event from another node to local members only.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Remote(pub Envelope);

/// The events after a sequence number, if the replay buffer still covers them.
#[derive(Message)]
#[rtype(result = "Option<Vec<Event>>")]
pub struct Since(pub u64);

/// Asks a room the registry believes empty to stop; the reply says whether it did.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct StopIfEmpty;

/// The users present.
#[derive(Message)]
#[rtype(result = "Vec<UserRef>")]
pub struct Who;

/// One topic's members and history.
pub struct Room {
    topic: Topic,
    members: Vec<Member>,
    presence: Presence,
    seq: u64,
    replay: ReplayBuffer,
    relay: Arc<dyn Relay>,
    registry: Addr<Registry>,
    metrics: Arc<Metrics>,
    /// Set once the registry has been told the room is empty, so it is told only once per
    /// emptying.
    reported_empty: bool,
}

impl Room {
    /// A room for `topic` that keeps `replay` events for catch-up.
    pub fn new(
        topic: Topic,
        replay: usize,
        relay: Arc<dyn Relay>,
        registry: Addr<Registry>,
        metrics: Arc<Metrics>,
    ) -> Room {
        Room {
            topic,
            members: Vec::new(),
            presence: Presence::default(),
            seq: 0,
            replay: ReplayBuffer::new(replay),
            relay,
            registry,
            metrics,
            reported_empty: false,
        }
    }

    /// Numbers an event, remembers it and delivers it locally.
    fn record_and_deliver(&mut self, mut event: Event, target: &Target) -> Event {
        self.seq += 1;
        event.seq = self.seq;
        self.replay.push(event.clone());
        self.deliver(&event, target);
        event
    }

    /// Hands `event` to every addressed member; evicts those whose mailbox is full.
    fn deliver(&mut self, event: &Event, target: &Target) {
        let mut gone: Vec<(ConnId, bool)> = Vec::new();
        let mut delivered = 0u64;
        for m in &self.members {
            if !target.includes(m.conn, &m.user.key) {
                continue;
            }
            match m.inbox.try_send(Deliver(event.clone())) {
                Ok(()) => delivered += 1,
                Err(SendError::Full(_)) => gone.push((m.conn, true)),
                Err(SendError::Closed(_)) => gone.push((m.conn, false)),
            }
        }
        self.metrics.deliveries.fetch_add(delivered, Relaxed);
        for (conn, slow) in gone {
            self.remove(conn, slow);
        }
    }

    /// Removes a member, announcing its departure; `slow` members are also aborted.
    fn remove(&mut self, conn: ConnId, slow: bool) {
        let Some(idx) = self.members.iter().position(|m| m.conn == conn) else {
            return;
        };
        let member = self.members.swap_remove(idx);
        if slow {
            self.metrics.slow_consumer_evictions.fetch_add(1, Relaxed);
            log::warn!(
                "evicted slow reader conn={} user={} topic={}",
                conn.0,
                member.user.name,
                self.topic
            );
            member.abort.abort();
        }
        let last = self.presence.remove(&member.user);
        if let Some(farewell) = member.farewell {
            if farewell.when == AnnounceWhen::Always || last {
                self.record_and_deliver(farewell.event, &Target::All);
            }
        }
    }

    fn report_if_empty(&mut self, ctx: &mut Context<Self>) {
        if self.members.is_empty() && !self.reported_empty {
            self.reported_empty = true;
            self.registry.do_send(RoomEmpty {
                topic: self.topic.clone(),
                room: ctx.address(),
            });
        }
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions and the registry queue work here; rooms never wait on I/O, so a deep mailbox
        // only absorbs bursts. Publishers that find it full wait (backpressure), see session.rs.
        ctx.set_mailbox_capacity(4096);
        self.metrics.rooms.fetch_add(1, Relaxed);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.metrics.rooms.fetch_sub(1, Relaxed);
    }
}

impl Handler<Join> for Room {
    type Result = MessageResult<Join>;

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) -> Self::Result {
        self.reported_empty = false;
        let first = self.presence.add(&msg.member.user);
        if let Some(hello) = msg.hello {
            if hello.when == AnnounceWhen::Always || first {
                // Delivered before the newcomer is added: the announcement is for the others.
                self.record_and_deliver(hello.event, &Target::All);
            }
        }
        self.members.push(msg.member);
        MessageResult(Joined {
            room: ctx.address(),
            presence: self.presence.snapshot(),
            first_of_user: first,
            seq: self.seq,
            connections: self.members.len(),
        })
    }
}

impl Handler<Leave> for Room {
    type Result = ();

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) {
        self.remove(msg.conn, false);
        self.report_if_empty(ctx);
    }
}

impl Handler<Publish> for Room {
    type Result = MessageResult<Publish>;

    fn handle(&mut self, msg: Publish, ctx: &mut Self::Context) -> Self::Result {
        self.metrics.messages_out.fetch_add(1, Relaxed);
        let event = self.record_and_deliver(msg.event, &msg.target);
        let target = match msg.target {
            Target::Users(keys) => RelayTarget::Users(keys),
            // A connection id means nothing on another node: everyone there receives it.
            Target::All | Target::AllExcept(_) => RelayTarget::All,
        };
        self.relay.publish(Envelope {
            origin: self.relay.node(),
            topic: self.topic.clone(),
            body: event.body,
            target,
            key: event.key,
        });
        self.report_if_empty(ctx);
        MessageResult(event.seq)
    }
}

impl Handler<Remote> for Room {
    type Result = ();

    fn handle(&mut self, Remote(env): Remote, ctx: &mut Self::Context) {
        let mut event = Event::text(env.body);
        event.key = env.key;
        let target = match env.target {
            RelayTarget::All => Target::All,
            RelayTarget::Users(keys) => Target::Users(keys),
        };
        self.record_and_deliver(event, &target);
        self.report_if_empty(ctx);
    }
}

impl Handler<Since> for Room {
    type Result = MessageResult<Since>;

    fn handle(&mut self, msg: Since, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.replay.since(msg.0, self.seq))
    }
}

impl Handler<StopIfEmpty> for Room {
    type Result = bool;

    fn handle(&mut self, _: StopIfEmpty, ctx: &mut Self::Context) -> bool {
        if self.members.is_empty() {
            ctx.stop();
            true
        } else {
            false
        }
    }
}

impl Handler<Who> for Room {
    type Result = MessageResult<Who>;

    fn handle(&mut self, _: Who, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.presence.snapshot())
    }
}
