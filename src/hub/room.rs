//! The room actor: one per topic with local members. It numbers events, keeps the replay
//! buffer and presence, and delivers the same bytes to each addressed member.
//!
//! Events are delivered in batches: a publish numbers its event and queues it, and once the
//! room's mailbox is drained (or [`MAX_BATCH`] events are queued) every member receives one
//! [`Deliver`] holding all of them, in order. Under load this turns a message per event per
//! member into one per burst per member, and the session writes the burst's frames with one
//! syscall; when idle, a batch is a single event and nothing waits. The batch is one shared
//! allocation for every member it addresses in full.
//!
//! Presence: a room counts its own members' users. With a shared store (Redis, several nodes),
//! members that announce themselves are also recorded there, and the store decides whether an
//! arrival is its user's first anywhere and a departure its last; announcements then go to
//! every node, like events. The room's own count is the answer when the store cannot be
//! reached, so an outage costs exactness across nodes, never local service.
//!
//! Events with a storage key are delivered once per key ([`SeenKeys`]): after a relay gap the
//! room reads what it missed from storage ([`CatchUpSince`]) and drops what its members
//! already have.
//!
//! Delivery uses `try_send` into each session's [`Inbox`], bounded in events, never `do_send`.
//! A member whose inbox is full gets a short backlog here, drained as its session catches up, so a
//! busy thread or a burst costs nobody a message. A member whose backlog passes
//! `HUB_SLOW_CONSUMER_BYTES`, or who takes nothing for `HUB_SLOW_CONSUMER_MS`, is a slow
//! reader: it is evicted and its TCP connection reset (see [`super::conn`]), so that it can
//! neither slow the room nor grow memory. (A session whose client stopped reading is frozen
//! and cannot be told anything; the reset is what reaches it.)

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::fut::wrap_future;
use actix::prelude::*;

use super::catch_up::CatchUp;
use super::conn::{ConnAbort, ConnId};
use super::event::{Announce, AnnounceWhen, Event, Target, UserRef};
use super::inbox::Inbox;
use super::presence::Presence;
use super::registry::{Registry, RoomEmpty};
use super::seen::SeenKeys;
use super::topic::Topic;
use super::watch::PresenceWatch;
use crate::error::CloseCode;
use crate::metrics::Metrics;
use crate::relay::presence::{PresenceMember, SharedPresence};
use crate::relay::{Envelope, Relay};

/// Events for one session to write, oldest first.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Batch);

/// Events in publish order, shared by every member that receives all of them.
pub type Batch = Arc<[Event]>;

impl Deliver {
    /// A single event, for senders outside a room (e.g. an error for one author).
    pub fn one(event: Event) -> Deliver {
        Deliver(Arc::from([event]))
    }
}

/// Most events queued before a room delivers them without waiting for its mailbox to drain.
pub const MAX_BATCH: usize = 64;

/// Delivers what is queued, once the mailbox has been drained.
#[derive(Message)]
#[rtype(result = "()")]
struct Flush;

/// A connection in a room, as the room keeps it.
pub struct Member {
    /// The connection.
    pub conn: ConnId,
    /// Its user, for presence and per-user delivery.
    pub user: UserRef,
    /// Its session's bounded queue.
    pub inbox: Inbox,
    /// How to reset its TCP connection when it stops reading.
    pub abort: ConnAbort,
    /// What to tell the others when it leaves (also when evicted).
    pub farewell: Option<Announce>,
}

/// Adds a member; the reply tells the newcomer who is here. A member that announces itself
/// (`hello` or a farewell) is recorded in the shared presence when there is one.
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
    /// The users present (on every node, with a shared presence), the newcomer included, in
    /// arrival order.
    pub presence: Vec<UserRef>,
    /// Whether this is the user's first connection in the topic.
    pub first_of_user: bool,
    /// The sequence number of the room's latest event.
    pub seq: u64,
    /// Connections in the topic (on every node, with a shared presence), the newcomer included.
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

/// A relay gap: deliver what was stored since `since_ms` and not yet delivered, read from
/// `source` (none: the topic stores nothing), and re-record this node's members in the shared
/// presence.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CatchUpSince {
    /// Unix milliseconds from which events may have been lost.
    pub since_ms: i64,
    /// The namespace's catch-up source.
    pub source: Option<Arc<dyn CatchUp>>,
}

/// Asks a room the registry believes empty to stop; the reply says whether it did.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct StopIfEmpty;

/// What every room of a node is configured with.
#[derive(Debug, Clone, Copy)]
pub struct RoomConfig {
    /// When a member stops being a busy reader and becomes a slow one.
    pub slow: SlowReaderPolicy,
}

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
    /// Recorded in the shared presence (to be removed from it on leaving).
    shared: bool,
    /// Batches with their byte sizes.
    backlog: VecDeque<(Batch, usize)>,
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
    fn new(member: Member, shared: bool) -> Slot {
        Slot {
            member,
            shared,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            last_progress: Instant::now(),
        }
    }

    /// Hands over what the mailbox takes, oldest first; returns how many events and whether
    /// the session is gone.
    fn drain(&mut self) -> (u64, bool) {
        let mut sent = 0;
        while let Some((batch, bytes)) = self.backlog.pop_front() {
            let events = batch.len() as u64;
            match self.member.inbox.try_send(Deliver(batch)) {
                Ok(()) => {
                    sent += events;
                    self.backlog_bytes -= bytes;
                    self.last_progress = Instant::now();
                }
                Err(SendError::Full(Deliver(batch))) => {
                    self.backlog.push_front((batch, bytes));
                    break;
                }
                Err(SendError::Closed(_)) => return (sent, true),
            }
        }
        (sent, false)
    }

    fn offer(&mut self, batch: Batch, bytes: usize) -> Offer {
        if self.backlog.is_empty() {
            return match self.member.inbox.try_send(Deliver(batch)) {
                Ok(()) => Offer::Sent,
                Err(SendError::Full(Deliver(batch))) => {
                    self.last_progress = Instant::now();
                    self.backlog_bytes += bytes;
                    self.backlog.push_back((batch, bytes));
                    Offer::Held
                }
                Err(SendError::Closed(_)) => Offer::Closed,
            };
        }
        self.backlog_bytes += bytes;
        self.backlog.push_back((batch, bytes));
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

/// The text bytes of a batch, as the slow-reader policy counts them.
fn batch_bytes(batch: &[Event]) -> usize {
    batch.iter().map(|e| e.body.len()).sum()
}

/// One topic's members and history.
pub struct Room {
    topic: Topic,
    members: Vec<Slot>,
    slow: SlowReaderPolicy,
    /// Whether a backlog retry is already scheduled.
    retry_scheduled: bool,
    /// Numbered events not yet delivered, and whom each is for.
    pending: Vec<(Event, Target)>,
    /// Whether a [`Flush`] is already on its way.
    flush_scheduled: bool,
    presence: Presence,
    /// The presence every node shares, when there are several.
    shared: Option<Arc<dyn SharedPresence>>,
    /// Told of first arrivals and last departures instead of announcing them to members.
    watch: Option<Arc<dyn PresenceWatch>>,
    /// Shared-presence calls under way: the room does not report itself empty before they
    /// end, so a departure is announced even when the last member just left.
    presence_ops: usize,
    seq: u64,
    seen: SeenKeys,
    relay: Arc<dyn Relay>,
    registry: Addr<Registry>,
    metrics: Arc<Metrics>,
    /// Set once the registry has been told the room is empty, so it is told only once per
    /// emptying.
    reported_empty: bool,
}

/// Now, in Unix milliseconds (the clock catch-ups are expressed in).
fn unix_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Room {
    /// A room for `topic`.
    pub fn new(
        topic: Topic,
        config: RoomConfig,
        relay: Arc<dyn Relay>,
        shared: Option<Arc<dyn SharedPresence>>,
        watch: Option<Arc<dyn PresenceWatch>>,
        registry: Addr<Registry>,
        metrics: Arc<Metrics>,
    ) -> Room {
        Room {
            topic,
            members: Vec::new(),
            slow: config.slow,
            retry_scheduled: false,
            pending: Vec::new(),
            flush_scheduled: false,
            presence: Presence::default(),
            shared,
            watch,
            presence_ops: 0,
            seq: 0,
            seen: SeenKeys::default(),
            relay,
            registry,
            metrics,
            reported_empty: false,
        }
    }

    /// Numbers an event, remembers it and queues it for local delivery; `None` when its key was
    /// delivered already (it came both live and from storage).
    fn record(
        &mut self,
        mut event: Event,
        target: Target,
        ctx: &mut Context<Self>,
    ) -> Option<Event> {
        if let Some(key) = event.key {
            if !self.seen.insert(key, unix_ms()) {
                return None;
            }
        }
        self.seq += 1;
        event.seq = self.seq;
        self.pending.push((event.clone(), target));
        if self.pending.len() >= MAX_BATCH {
            self.flush(ctx);
        } else if !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.notify(Flush);
        }
        Some(event)
    }

    /// Delivers a local event here and hands it to the relay for the other nodes.
    fn publish(&mut self, event: Event, target: Target, ctx: &mut Context<Self>) -> u64 {
        self.metrics.messages_out.fetch_add(1, Relaxed);
        let envelope = Envelope::of(self.relay.node(), self.topic.clone(), &event, &target);
        match self.record(event, target, ctx) {
            Some(event) => {
                self.relay.publish(envelope);
                event.seq
            }
            None => self.seq,
        }
    }

    /// An arrival or departure: with a shared presence every node hears it (the store made
    /// sure it is said once); without one it is this node's own news. Then its `said` runs.
    fn announce(&mut self, announce: Announce, target: Target, ctx: &mut Context<Self>) {
        if self.shared.is_some() {
            self.publish(announce.event, target, ctx);
        } else {
            self.record(announce.event, target, ctx);
        }
        if let Some(said) = announce.said {
            said.run();
        }
    }

    /// Offers the queued events to every member they address, as one batch each; evicts
    /// members that turned out slow.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        let everyone = pending.iter().all(|(_, t)| *t == Target::All);
        let shared: Batch = pending.iter().map(|(e, _)| e.clone()).collect();
        let shared_bytes = batch_bytes(&shared);
        let mut gone: Vec<(ConnId, bool)> = Vec::new();
        let mut delivered = 0u64;
        let mut held = false;
        for slot in &mut self.members {
            let (batch, bytes) = if everyone {
                (shared.clone(), shared_bytes)
            } else {
                let (conn, key) = (slot.member.conn, &slot.member.user.key);
                let mine: Vec<Event> = pending
                    .iter()
                    .filter(|(_, t)| t.includes(conn, key))
                    .map(|(e, _)| e.clone())
                    .collect();
                if mine.is_empty() {
                    continue;
                } else if mine.len() == shared.len() {
                    (shared.clone(), shared_bytes)
                } else {
                    let mine: Batch = mine.into();
                    let bytes = batch_bytes(&mine);
                    (mine, bytes)
                }
            };
            let events = batch.len() as u64;
            match slot.offer(batch, bytes) {
                Offer::Sent => delivered += events,
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
        let slot = self.members.swap_remove(idx);
        let member = slot.member;
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
        let last_here = self.presence.remove(&member.user);
        let Some(shared) = self.shared.clone().filter(|_| slot.shared) else {
            self.farewell(member, last_here, ctx);
            return;
        };
        self.presence_ops += 1;
        let leave = shared.leave(&self.topic, conn.0);
        ctx.spawn(wrap_future(leave).map(move |left, room: &mut Room, ctx| {
            room.presence_ops -= 1;
            let last = match left {
                Ok(Some(last)) => last,
                // Unknown to the store (lost with a Redis restart): this node's count decides.
                Ok(None) => last_here,
                Err(e) => {
                    room.presence_failed(&e);
                    last_here
                }
            };
            room.farewell(member, last, ctx);
            room.report_if_empty(ctx);
        }));
    }

    /// A member has gone: its farewell is announced (always, or when `last` of its user), or
    /// the watcher is told, in a watched topic.
    fn farewell(&mut self, member: Member, last: bool, ctx: &mut Context<Self>) {
        if let Some(watch) = &self.watch {
            if last {
                watch.changed(&self.topic, &member.user.key, false);
            }
            return;
        }
        if let Some(farewell) = member.farewell {
            if farewell.when == AnnounceWhen::Always || last {
                self.announce(farewell, Target::All, ctx);
            }
        }
    }

    /// A member has come: its hello is announced to the others (always, or when `first` of
    /// its user), or the watcher is told, in a watched topic.
    fn hello(
        &mut self,
        hello: Option<Announce>,
        user: &UserRef,
        first: bool,
        conn: ConnId,
        ctx: &mut Context<Self>,
    ) {
        if let Some(watch) = &self.watch {
            if first {
                watch.changed(&self.topic, &user.key, true);
            }
            return;
        }
        if let Some(hello) = hello {
            if hello.when == AnnounceWhen::Always || first {
                self.announce(hello, Target::AllExcept(conn), ctx);
            }
        }
    }

    fn presence_failed(&self, e: &crate::relay::presence::PresenceError) {
        self.metrics.relay_errors.fetch_add(1, Relaxed);
        log::warn!(
            "shared presence unavailable for topic={}: {e}; using this node's",
            self.topic
        );
    }

    fn report_if_empty(&mut self, ctx: &mut Context<Self>) {
        if self.members.is_empty() && self.presence_ops == 0 && !self.reported_empty {
            self.reported_empty = true;
            // Once per emptying, and it must arrive (or the room would never stop).
            self.registry.do_send(RoomEmpty {
                topic: self.topic.clone(),
                room: ctx.address(),
            });
        }
    }

    /// This node's members as the shared presence records them.
    fn presence_members(&self) -> Vec<PresenceMember> {
        self.members
            .iter()
            .filter(|s| s.shared)
            .map(|s| presence_member(&s.member))
            .collect()
    }
}

fn presence_member(member: &Member) -> PresenceMember {
    PresenceMember {
        conn: member.conn.0,
        user: member.user.clone(),
        farewell: member
            .farewell
            .as_ref()
            .map(|f| (f.event.body.clone(), f.when == AnnounceWhen::Always)),
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
    type Result = ResponseActFuture<Self, Joined>;

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) -> Self::Result {
        self.reported_empty = false;
        let first_here = self.presence.add(&msg.member.user);
        // What is queued is for the members before this one: the newcomer's `seq` counts it.
        self.flush(ctx);
        let conn = msg.member.conn;
        let user = msg.member.user.clone();
        let announces = msg.hello.is_some() || msg.member.farewell.is_some();
        let shared = self.shared.clone().filter(|_| announces);
        let entry = shared.as_ref().map(|_| presence_member(&msg.member));
        self.members.push(Slot::new(msg.member, shared.is_some()));
        let hello = msg.hello;
        let (Some(shared), Some(entry)) = (shared, entry) else {
            self.hello(hello, &user, first_here, conn, ctx);
            let joined = Joined {
                room: ctx.address(),
                presence: self.presence.snapshot(),
                first_of_user: first_here,
                seq: self.seq,
                connections: self.members.len(),
            };
            return Box::pin(actix::fut::ready(joined));
        };
        self.presence_ops += 1;
        let join = shared.join(&self.topic, entry);
        Box::pin(wrap_future(join).map(move |present, room: &mut Room, ctx| {
            room.presence_ops -= 1;
            let (first, presence, connections) = match present {
                Ok(p) => (p.first, p.users, p.connections),
                Err(e) => {
                    room.presence_failed(&e);
                    (first_here, room.presence.snapshot(), room.members.len())
                }
            };
            room.hello(hello, &user, first, conn, ctx);
            room.report_if_empty(ctx);
            Joined {
                room: ctx.address(),
                presence,
                first_of_user: first,
                seq: room.seq,
                connections,
            }
        }))
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
        let seq = self.publish(msg.event, msg.target, ctx);
        self.report_if_empty(ctx);
        MessageResult(seq)
    }
}

impl Handler<Remote> for Room {
    type Result = ();

    fn handle(&mut self, Remote(env): Remote, ctx: &mut Self::Context) {
        let (event, target) = env.event();
        self.record(event, target, ctx);
        self.report_if_empty(ctx);
    }
}

impl Handler<CatchUpSince> for Room {
    type Result = ();

    fn handle(&mut self, msg: CatchUpSince, ctx: &mut Self::Context) {
        if let Some(shared) = self.shared.clone() {
            self.presence_ops += 1;
            let restore = shared.restore(&self.topic, self.presence_members());
            ctx.spawn(wrap_future(restore).map(|result, room: &mut Room, ctx| {
                room.presence_ops -= 1;
                if let Err(e) = result {
                    room.presence_failed(&e);
                }
                room.report_if_empty(ctx);
            }));
        }
        let Some(source) = msg.source else {
            return;
        };
        if !self.seen.covers(msg.since_ms) {
            // Keys delivered since then were forgotten: repeats could not be told apart.
            // Members reconnect and reload instead.
            log::warn!(
                "topic={}: the gap reaches past what the room remembers; asking members to resync",
                self.topic
            );
            let close = Event::text("").closing(CloseCode::ResyncRequired, "resync required");
            self.record(close, Target::All, ctx);
            return;
        }
        let read = source.since(&self.topic, msg.since_ms);
        self.presence_ops += 1;
        ctx.spawn(wrap_future(read).map(|events, room: &mut Room, ctx| {
            room.presence_ops -= 1;
            match events {
                Ok(events) => {
                    // Keyed events are news unless already delivered; unkeyed ones summarise
                    // them (a fresh count) and follow only when something was news. Several
                    // nodes may report the same gap: the second catch-up then sends nothing.
                    let mut delivered = 0;
                    for (event, target) in events {
                        if event.key.is_none() && delivered == 0 {
                            continue;
                        }
                        delivered += usize::from(room.record(event, target, ctx).is_some());
                    }
                    log::info!("topic={}: caught up {delivered} events", room.topic);
                }
                Err(e) => {
                    room.metrics.relay_errors.fetch_add(1, Relaxed);
                    log::error!("topic={}: catch-up failed: {e}", room.topic);
                }
            }
            room.report_if_empty(ctx);
        }));
    }
}

impl Handler<Flush> for Room {
    type Result = ();

    fn handle(&mut self, _: Flush, ctx: &mut Self::Context) {
        self.flush_scheduled = false;
        self.flush(ctx);
        self.report_if_empty(ctx);
    }
}

impl Handler<StopIfEmpty> for Room {
    type Result = bool;

    fn handle(&mut self, _: StopIfEmpty, ctx: &mut Self::Context) -> bool {
        if self.members.is_empty() && self.presence_ops == 0 {
            ctx.stop();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::relay::local::{LocalBus, LocalRelay};

    /// A session stand-in that records each batch's bodies.
    struct Recorder(Arc<Mutex<Vec<Vec<String>>>>);

    impl Actor for Recorder {
        type Context = Context<Self>;
    }

    impl Handler<Deliver> for Recorder {
        type Result = ();

        fn handle(&mut self, Deliver(batch): Deliver, _: &mut Context<Self>) {
            let bodies = batch.iter().map(|e| e.body.to_string()).collect();
            self.0.lock().unwrap().push(bodies);
        }
    }

    fn member(id: i64) -> (Member, Arc<Mutex<Vec<Vec<String>>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let inbox = Inbox::new(
            Recorder(seen.clone()).start().recipient(),
            Arc::default(),
            256,
        );
        let member = Member {
            conn: ConnId(id as u64),
            user: UserRef::user(id, "someone"),
            inbox,
            abort: ConnAbort::none(),
            farewell: None,
        };
        (member, seen)
    }

    async fn settled(seen: &Mutex<Vec<Vec<String>>>, batches: usize) -> Vec<Vec<String>> {
        for _ in 0..200 {
            if seen.lock().unwrap().len() >= batches {
                break;
            }
            actix::clock::sleep(Duration::from_millis(5)).await;
        }
        seen.lock().unwrap().clone()
    }

    /// A started room of topic `test:<name>` on one node (no shared presence, no watcher),
    /// and the metrics it counts into.
    fn test_room(name: &str) -> (Addr<Room>, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        let relay: Arc<dyn Relay> = Arc::new(LocalRelay::new(LocalBus::default(), metrics.clone()));
        let policy = SlowReaderPolicy {
            backlog_bytes: 1 << 20,
            stall: Duration::from_secs(3),
        };
        let config = RoomConfig { slow: policy };
        let registry = Registry::new(1, config, relay.clone(), None, metrics.clone()).start();
        let topic = Topic::new("test", name);
        let room = Room::new(topic, config, relay, None, None, registry, metrics.clone()).start();
        (room, metrics)
    }

    /// `said` runs once per announcement: for a user's first connection and its last.
    #[actix::test]
    async fn said_runs_when_the_room_announces_and_only_then() {
        use std::sync::atomic::AtomicUsize;
        let (room, _) = test_room("said");
        let (hellos, farewells) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let announce = |count: &Arc<AtomicUsize>| {
            let count = count.clone();
            Announce {
                event: Event::text("x".to_string()),
                when: AnnounceWhen::FirstOrLast,
                said: Some(super::super::event::Said::new(move || {
                    count.fetch_add(1, Relaxed);
                })),
            }
        };
        // Two connections of user 7, then one of user 8.
        for (conn, user) in [(1, 7), (2, 7), (3, 8)] {
            let (mut m, _) = member(user);
            m.conn = ConnId(conn);
            m.farewell = Some(announce(&farewells));
            room.send(Join {
                member: m,
                hello: Some(announce(&hellos)),
            })
            .await
            .unwrap();
        }
        assert_eq!(
            hellos.load(Relaxed),
            2,
            "user 7's second connection is no news"
        );
        room.send(Leave { conn: ConnId(1) }).await.unwrap();
        assert_eq!(farewells.load(Relaxed), 0, "user 7 is still here");
        room.send(Leave { conn: ConnId(2) }).await.unwrap();
        room.send(Leave { conn: ConnId(3) }).await.unwrap();
        assert_eq!(farewells.load(Relaxed), 2);
    }

    #[actix::test]
    async fn a_burst_reaches_each_member_as_one_batch_of_what_addresses_it() {
        let (room, metrics) = test_room("burst");
        let (a, seen_a) = member(1);
        let (b, seen_b) = member(2);
        for m in [a, b] {
            room.send(Join {
                member: m,
                hello: None,
            })
            .await
            .unwrap();
        }
        // Sent without waiting in between, so the three are in the room's mailbox together.
        let publish = |body: &str, target: Target| {
            room.send(Publish {
                event: Event::text(body.to_string()),
                target,
            })
        };
        let sent = [
            publish("1", Target::All),
            publish("2", Target::AllExcept(ConnId(1))),
            publish("3", Target::Users(vec!["2".into()])),
            publish("4", Target::Users(vec!["1".into()])),
        ];
        let mut seqs = Vec::new();
        for s in sent {
            seqs.push(s.await.unwrap());
        }
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert_eq!(settled(&seen_a, 1).await, [["1", "4"]]);
        assert_eq!(settled(&seen_b, 1).await, [["1", "2", "3"]]);
        assert_eq!(metrics.deliveries.load(Relaxed), 5);

        // Alone, an event is a batch of one: nothing waits for company.
        room.send(Publish {
            event: Event::text("5".to_string()),
            target: Target::All,
        })
        .await
        .unwrap();
        assert_eq!(settled(&seen_a, 2).await, [vec!["1", "4"], vec!["5"]]);
    }
}
