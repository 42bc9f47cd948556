//! The room actor: one per topic with local members. It numbers events, keeps the replay
//! buffer and presence, and delivers the same bytes to each addressed member.
//!
//! Delivery uses `try_send` into each session's bounded mailbox, never `do_send`. A member
//! whose mailbox is full gets a short backlog here, drained as its session catches up, so a
//! busy thread or a burst costs nobody a message. A member whose backlog passes
//! `HUB_SLOW_CONSUMER_BYTES`, or who takes nothing for `HUB_SLOW_CONSUMER_MS`, is a slow
//! reader: it is evicted and its TCP connection reset (see [`super::conn`]), so that it can
//! neither slow the room nor grow memory. (A session whose client stopped reading is frozen
//! and cannot be told anything; the reset is what reaches it.)

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// When a member with a full mailbox stops being a busy reader and becomes a slow one.
#[derive(Debug, Clone, Copy)]
pub struct SlowReaderPolicy {
    /// Event bytes held back for one member before it is evicted.
    pub backlog_bytes: usize,
    /// Time a backlogged member may take nothing before it is evicted.
    pub stall: Duration,
}

/// How often backlogs are retried when no new event arrives to push them along.
const BACKLOG_RETRY: Duration = Duration::from_millis(5);

/// A member and what is held back for it.
struct Slot {
    member: Member,
    backlog: VecDeque<Event>,
    backlog_bytes: usize,
    /// When the member last took an event while it had a backlog.
    last_progress: Instant,
}

/// What became of an event offered to a member.
enum Offer {
    /// In its mailbox.
    Sent,
    /// Held in its backlog.
    Held,
    /// Its session is gone.
    Closed,
}

impl Slot {
    fn new(member: Member) -> Slot {
        Slot {
            member,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            last_progress: Instant::now(),
        }
    }

    /// Hands over what the mailbox takes, oldest first; returns how many and whether the
    /// session is gone.
    fn drain(&mut self) -> (u64, bool) {
        let mut sent = 0;
        while let Some(event) = self.backlog.pop_front() {
            let len = event.body.len();
            match self.member.inbox.try_send(Deliver(event)) {
                Ok(()) => {
                    sent += 1;
                    self.backlog_bytes -= len;
                    self.last_progress = Instant::now();
                }
                Err(SendError::Full(Deliver(event))) => {
                    self.backlog.push_front(event);
                    break;
                }
                Err(SendError::Closed(_)) => return (sent, true),
            }
        }
        (sent, false)
    }

    fn offer(&mut self, event: Event) -> Offer {
        if self.backlog.is_empty() {
            return match self.member.inbox.try_send(Deliver(event)) {
                Ok(()) => Offer::Sent,
                Err(SendError::Full(Deliver(event))) => {
                    self.last_progress = Instant::now();
                    self.backlog_bytes += event.body.len();
                    self.backlog.push_back(event);
                    Offer::Held
                }
                Err(SendError::Closed(_)) => Offer::Closed,
            };
        }
        self.backlog_bytes += event.body.len();
        self.backlog.push_back(event);
        match self.drain() {
            (_, true) => Offer::Closed,
            (_, false) if self.backlog.is_empty() => Offer::Sent,
            _ => Offer::Held,
        }
    }

    fn is_slow(&self, policy: &SlowReaderPolicy) -> bool {
        !self.backlog.is_empty()
            && (self.backlog_bytes > policy.backlog_bytes
                || self.last_progress.elapsed() > policy.stall)
    }
}

/// One topic's members and history.
pub struct Room {
    topic: Topic,
    members: Vec<Slot>,
    slow: SlowReaderPolicy,
    /// Whether a backlog retry is already scheduled.
    retry_scheduled: bool,
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
        slow: SlowReaderPolicy,
        relay: Arc<dyn Relay>,
        registry: Addr<Registry>,
        metrics: Arc<Metrics>,
    ) -> Room {
        Room {
            topic,
            members: Vec::new(),
            slow,
            retry_scheduled: false,
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
    fn record_and_deliver(
        &mut self,
        mut event: Event,
        target: &Target,
        ctx: &mut Context<Self>,
    ) -> Event {
        self.seq += 1;
        event.seq = self.seq;
        self.replay.push(event.clone());
        self.deliver(&event, target, ctx);
        event
    }

    /// Offers `event` to every addressed member; evicts those that turned out slow.
    fn deliver(&mut self, event: &Event, target: &Target, ctx: &mut Context<Self>) {
        let mut gone: Vec<(ConnId, bool)> = Vec::new();
        let mut delivered = 0u64;
        let mut held = false;
        for slot in &mut self.members {
            if !target.includes(slot.member.conn, &slot.member.user.key) {
                continue;
            }
            match slot.offer(event.clone()) {
                Offer::Sent => delivered += 1,
                Offer::Held if slot.is_slow(&self.slow) => gone.push((slot.member.conn, true)),
                Offer::Held => held = true,
                Offer::Closed => gone.push((slot.member.conn, false)),
            }
        }
        self.metrics.deliveries.fetch_add(delivered, Relaxed);
        for (conn, slow) in gone {
            self.remove(conn, slow, ctx);
        }
        if held {
            self.schedule_retry(ctx);
        }
    }

    fn schedule_retry(&mut self, ctx: &mut Context<Self>) {
        if !self.retry_scheduled {
            self.retry_scheduled = true;
            ctx.run_later(BACKLOG_RETRY, |room, ctx| {
                room.retry_scheduled = false;
                room.retry_backlogs(ctx);
            });
        }
    }

    /// Pushes backlogs along when no new event does; evicts members that stopped taking.
    fn retry_backlogs(&mut self, ctx: &mut Context<Self>) {
        let mut gone: Vec<(ConnId, bool)> = Vec::new();
        let mut delivered = 0;
        let mut pending = false;
        for slot in self.members.iter_mut().filter(|s| !s.backlog.is_empty()) {
            let (sent, closed) = slot.drain();
            delivered += sent;
            if closed {
                gone.push((slot.member.conn, false));
            } else if slot.is_slow(&self.slow) {
                gone.push((slot.member.conn, true));
            } else if !slot.backlog.is_empty() {
                pending = true;
            }
        }
        self.metrics.deliveries.fetch_add(delivered, Relaxed);
        for (conn, slow) in gone {
            self.remove(conn, slow, ctx);
        }
        if pending {
            self.schedule_retry(ctx);
        }
        self.report_if_empty(ctx);
    }

    /// Removes a member, announcing its departure; `slow` members are also aborted.
    fn remove(&mut self, conn: ConnId, slow: bool, ctx: &mut Context<Self>) {
        let Some(idx) = self.members.iter().position(|s| s.member.conn == conn) else {
            return;
        };
        let member = self.members.swap_remove(idx).member;
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
                self.record_and_deliver(farewell.event, &Target::All, ctx);
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
                self.record_and_deliver(hello.event, &Target::All, ctx);
            }
        }
        self.members.push(Slot::new(msg.member));
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
        self.remove(msg.conn, false, ctx);
        self.report_if_empty(ctx);
    }
}

impl Handler<Publish> for Room {
    type Result = MessageResult<Publish>;

    fn handle(&mut self, msg: Publish, ctx: &mut Self::Context) -> Self::Result {
        self.metrics.messages_out.fetch_add(1, Relaxed);
        let event = self.record_and_deliver(msg.event, &msg.target, ctx);
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
        self.record_and_deliver(event, &target, ctx);
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
