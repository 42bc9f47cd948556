//! The session actor: one per WebSocket. It reads decoded frames from its [`super::transport`],
//! enforces limits and heartbeats, hands text to its dialect, and writes frames — for room
//! events the frame each event was encoded into once, shared with every other member.
//!
//! The session is a plain actix actor: its context never waits on the socket, so a client
//! that stops reading cannot freeze it. The bytes waiting for such a client grow in the
//! outbound queue; past `HUB_SLOW_CONSUMER_BYTES` the session closes with 4102 and, when even
//! the close cannot be written, resets the connection. Dialects see [`Ctx`] only through the
//! helpers here (`send`, `write_event`, `close`, `join`, `publish`) plus `ctx.wait`/`ctx.spawn`
//! for ordered async work; protocols that authenticate after opening, number their events per
//! connection or resume dropped connections use the helpers of `session/contract.rs`
//! (`authenticate`, `enable_sequence`, `write_sequenced`, `resume_sequence`, `park`).
//!
//! Lifecycle: `started` sets the bounded mailbox, heartbeat, token expiry and shutdown watch,
//! then lets the dialect join its rooms; `stopped` leaves every room it joined — the same
//! cleanup whatever the way out (client close, error, eviction, shutdown).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::fut::wrap_future;
use actix::prelude::*;
use bytes::Bytes;
use bytestring::ByteString;

use super::conn::{ConnAbort, ConnId};
use super::event::{Announce, Event, Target, UserRef};
use super::frame::{self, Incoming};
use super::inbox::Inbox;
use super::limits::{ConnPermit, RateVerdict, RateWindow};
use super::registry::{HubError, JoinTopic};
use super::room::{Deliver, Join, Joined, Leave, Member, Publish, Room};
use super::sequence::Sequence;
use super::topic::Topic;
use super::transport::{InboundItem, Outbound, Pushed};

mod contract;
use crate::auth::Identity;
use crate::error::CloseCode;
use crate::state::AppState;

/// How long a close the server started waits for the client's answer before the connection
/// is reset.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// How long after the shutdown signal the last socket is sent its 1001: the first half of
/// `HUB_SHUTDOWN_TIMEOUT_MS`, so that the last close handshakes finish within the second half.
pub fn drain_spread(shutdown_timeout: Duration) -> Duration {
    shutdown_timeout / 2
}

/// How many times `HUB_SLOW_CONSUMER_BYTES` a connection may ever have waiting: past it the
/// reader is slow whatever its history (memory stays bounded).
pub const SLOW_CONSUMER_CEILING: usize = 8;

/// The actor context every dialect writes to.
pub type Ctx<D> = Context<Session<D>>;

/// A protocol spoken over a session: how frames are decoded and events written.
pub trait Dialect: Sized + Unpin + 'static {
    /// The dialect's name in logs and metrics.
    const NAME: &'static str;

    /// The connection is open: join rooms, send greetings.
    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>);

    /// A text frame within the size and rate limits.
    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>);

    /// A binary message. Text protocols close with 1003, as RFC 6455 and SPEC §10 say.
    fn binary(&mut self, _data: Bytes, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        core.close(
            ctx,
            CloseCode::Unsupported,
            "binary frames are not supported",
        );
    }

    /// An event from a room. The default writes its shared frame as it is.
    fn deliver(&mut self, event: Event, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        core.write_event(ctx, &event);
    }

    /// The dialect's in-socket error frame, used by the core for rate-limit refusals.
    fn error_frame(&self, code: &str, reason: &str) -> String;

    /// The connection has ended, whichever way: release what the dialect keeps outside the
    /// session (counts, parked state). Rooms are left by the core.
    fn stopped(&mut self, _core: &mut SessionCore) {}
}

/// Dialect-independent state of one connection.
pub struct SessionCore {
    /// This connection's id.
    pub conn: ConnId,
    /// Who this connection is, as presence sees it.
    pub user: UserRef,
    /// The verified token identity; `None` for anonymous connections and for those that
    /// authenticate after opening (see [`SessionCore::authenticate`]).
    pub identity: Option<Identity>,
    /// Shared services.
    pub state: AppState,
    /// Whether the connection is someone's: from the handshake, or since
    /// [`SessionCore::authenticate`]. Set once.
    authenticated: bool,
    /// Closes a connection still unauthenticated this long after opening.
    auth_deadline: Option<Duration>,
    /// Per-connection event numbers and the recent events, for dialects that use them.
    sequence: Option<Sequence>,
    /// Rooms joined, left again when the session stops.
    rooms: Vec<(Topic, Addr<Room>)>,
    /// Topics joined with an arrival or departure to announce: presence, which a parked
    /// stand-in of the connection does not keep.
    announced: Vec<Topic>,
    /// Last time anything arrived from the client (frames, pings, pongs).
    last_heard: Instant,
    rate: RateWindow,
    abort: ConnAbort,
    /// Held for the connection's lifetime; dropping it frees the quota places.
    permit: ConnPermit,
    /// Frames on their way to the socket.
    out: Outbound,
    /// Since when more than `HUB_SLOW_CONSUMER_BYTES` have been waiting, if they are.
    backed_up_since: Option<Instant>,
    /// The close code sent or received, for the log.
    close_code: Option<u16>,
    opened: Instant,
    /// Events delivered to this connection (for sampling the latency histogram).
    delivered: u64,
    /// Events in this session's mailbox, as its [`Inbox`]es count them.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    dialect: &'static str,
    peer: String,
    closing: bool,
}

/// One WebSocket connection: the shared core and the dialect that gives it meaning.
pub struct Session<D: Dialect> {
    /// Limits, rooms, identity.
    pub core: SessionCore,
    /// Protocol-specific state.
    pub dialect: D,
}

/// What the handshake established about a connection.
pub(super) struct Parts {
    pub identity: Option<Identity>,
    pub authenticated: bool,
    pub auth_deadline: Option<Duration>,
    pub user: UserRef,
    pub conn: ConnId,
    pub abort: ConnAbort,
    pub permit: ConnPermit,
    pub peer: String,
    pub out: Outbound,
}

impl<D: Dialect> Session<D> {
    /// A session for an accepted handshake.
    pub(super) fn new(state: AppState, parts: Parts, dialect: D) -> Self {
        let rate = RateWindow::new(state.config.rate_per_sec);
        Session {
            core: SessionCore {
                conn: parts.conn,
                user: parts.user,
                identity: parts.identity,
                state,
                authenticated: parts.authenticated,
                auth_deadline: parts.auth_deadline,
                sequence: None,
                rooms: Vec::new(),
                announced: Vec::new(),
                last_heard: Instant::now(),
                rate,
                abort: parts.abort,
                permit: parts.permit,
                out: parts.out,
                backed_up_since: None,
                close_code: None,
                opened: Instant::now(),
                delivered: 0,
                queued: Arc::default(),
                dialect: D::NAME,
                peer: parts.peer,
                closing: false,
            },
            dialect,
        }
    }
}

impl SessionCore {
    /// Writes a text frame. Nothing is written once the session is closing.
    pub fn send<A>(&mut self, ctx: &mut Context<A>, text: impl Into<ByteString>)
    where
        A: Actor<Context = Context<A>>,
    {
        let text: ByteString = text.into();
        self.write(ctx, frame::text(text.as_bytes()));
    }

    /// Writes a room event's frame, encoded once for every member.
    pub fn write_event<A>(&mut self, ctx: &mut Context<A>, event: &Event)
    where
        A: Actor<Context = Context<A>>,
    {
        self.write(ctx, event.frame.clone());
    }

    /// Queues a frame. A reader is slow, and closed with 4102, when more than
    /// `HUB_SLOW_CONSUMER_BYTES` have been waiting for longer than `HUB_SLOW_CONSUMER_MS`
    /// (a burst a reader keeps up with passes), or at once past [`SLOW_CONSUMER_CEILING`] times
    /// that.
    fn write<A>(&mut self, ctx: &mut Context<A>, frame: Bytes)
    where
        A: Actor<Context = Context<A>>,
    {
        self.write_parts(ctx, [frame]);
    }

    /// Queues one frame given in parts; see [`SessionCore::write`].
    fn write_parts<A>(&mut self, ctx: &mut Context<A>, parts: impl IntoIterator<Item = Bytes>)
    where
        A: Actor<Context = Context<A>>,
    {
        if self.closing {
            return;
        }
        let config = &self.state.config;
        match self.out.push_parts(parts) {
            Pushed::Gone => ctx.stop(),
            Pushed::Queued(bytes) if bytes <= config.slow_consumer_bytes => {
                self.backed_up_since = None;
            }
            Pushed::Queued(bytes)
                if bytes <= config.slow_consumer_bytes * SLOW_CONSUMER_CEILING
                    && self
                        .backed_up_since
                        .get_or_insert_with(Instant::now)
                        .elapsed()
                        <= config.slow_consumer_timeout => {}
            Pushed::Queued(bytes) => {
                self.state
                    .metrics
                    .slow_consumer_evictions
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                log::warn!(
                    "slow reader conn={} user={}: {bytes} bytes waiting; closing",
                    self.conn.0,
                    self.user.name
                );
                self.close(ctx, CloseCode::SlowConsumer, "slow consumer");
            }
        }
    }

    /// Closes with `code` and a short reason: the close frame is queued, the rooms are left,
    /// and the connection is reset if the client has not answered within [`CLOSE_WAIT`].
    pub fn close<A>(&mut self, ctx: &mut Context<A>, code: CloseCode, reason: &str)
    where
        A: Actor<Context = Context<A>>,
    {
        if self.closing {
            return;
        }
        self.closing = true;
        self.close_code = Some(code.code());
        log::debug!(
            "closing conn={} code={} reason={reason}",
            self.conn.0,
            code.code()
        );
        let close = frame::close_frame(code.code(), reason);
        if code == CloseCode::SlowConsumer {
            // What is queued would never be read: the close goes right after what is in flight.
            self.out.replace_with(close);
        } else {
            self.out.push(close);
        }
        self.leave_rooms();
        let abort = self.abort.clone();
        ctx.run_later(CLOSE_WAIT, move |_, ctx| {
            abort.abort();
            ctx.stop();
        });
    }

    /// Leaves one topic while the connection stays open (a client that subscribes and
    /// unsubscribes over the life of its socket); the room announces the departure as it would
    /// at a close. False when the topic was not joined. A join still under way is not seen
    /// here: callers `ctx.wait` their joins, so none is.
    pub fn leave(&mut self, topic: &Topic) -> bool {
        let Some(idx) = self.rooms.iter().position(|(t, _)| t == topic) else {
            return false;
        };
        let (_, room) = self.rooms.swap_remove(idx);
        self.announced.retain(|t| t != topic);
        // `do_send` for the reason `leave_rooms` gives.
        room.do_send(Leave { conn: self.conn });
        true
    }

    /// Whether this connection has joined `topic` (and not left it).
    pub fn has_joined(&self, topic: &Topic) -> bool {
        self.rooms.iter().any(|(t, _)| t == topic)
    }

    /// Leaves every room joined (once; later calls find none).
    fn leave_rooms(&mut self) {
        // `do_send`, since a leave must not be lost to a full mailbox; one per room joined
        // per connection, so what a client can feed here is bounded by its quota.
        for (_, room) in self.rooms.drain(..) {
            room.do_send(Leave { conn: self.conn });
        }
    }

    /// Joins `topic`. `hello` is sent to the others on arrival and `farewell` on departure
    /// (also when the room evicts this connection). The caller usually `ctx.wait`s the result,
    /// so that no event is written before the greeting that depends on it.
    pub fn join<D: Dialect>(
        &mut self,
        ctx: &mut Ctx<D>,
        topic: Topic,
        hello: Option<Announce>,
        farewell: Option<Announce>,
    ) -> impl ActorFuture<Session<D>, Output = Result<Joined, HubError>> {
        let user = self.user.clone();
        self.join_as(ctx, topic, user, hello, farewell)
    }

    /// [`SessionCore::join`] as `user` rather than the connection's own user, for protocols
    /// where who a connection is depends on the topic (a Pusher presence channel names its
    /// member in each subscription). Presence in the topic counts `user`.
    pub fn join_as<D: Dialect>(
        &mut self,
        ctx: &mut Ctx<D>,
        topic: Topic,
        user: UserRef,
        hello: Option<Announce>,
        farewell: Option<Announce>,
    ) -> impl ActorFuture<Session<D>, Output = Result<Joined, HubError>> {
        if hello.is_some() || farewell.is_some() {
            self.announced.push(topic.clone());
        }
        let member = Member {
            conn: self.conn,
            user,
            inbox: self.inbox(ctx),
            abort: self.abort.clone(),
            farewell,
        };
        let request = self.state.hub.registry().send(JoinTopic {
            topic: topic.clone(),
            join: Join { member, hello },
        });
        wrap_future::<_, Session<D>>(request).map(move |res, act, _| {
            let joined = res??;
            act.core.rooms.push((topic, joined.room.clone()));
            Ok(joined)
        })
    }

    /// Publishes an event to a topic. A joined topic's room is addressed directly; when its
    /// mailbox is full the session waits for it (backpressure on this client, not the room).
    pub fn publish<D: Dialect>(
        &mut self,
        ctx: &mut Ctx<D>,
        topic: &Topic,
        event: Event,
        target: Target,
    ) {
        let Some((_, room)) = self.rooms.iter().find(|(t, _)| t == topic) else {
            if let Err(e) = self.state.hub.publish(topic.clone(), event, target) {
                log::warn!("conn={}: event for {topic} refused: {e}", self.conn.0);
            }
            return;
        };
        if let Err(SendError::Full(msg)) = room.try_send(Publish { event, target }) {
            ctx.wait(wrap_future(room.send(msg)).map(|_, _, _| ()));
        }
    }

    /// This session's inbox, for whatever delivers events to it.
    pub fn inbox<D: Dialect>(&self, ctx: &Ctx<D>) -> Inbox {
        Inbox::new(
            ctx.address().recipient(),
            self.queued.clone(),
            self.state.config.session_queue,
        )
    }

    /// Pings, and schedules the check that closes the connection when the timeout passes
    /// with nothing heard (to the timeout, not to the next ping).
    fn heartbeat<D: Dialect>(act: &mut Session<D>, ctx: &mut Ctx<D>) {
        let core = &mut act.core;
        if core.closing {
            return;
        }
        core.write(ctx, frame::ping(b""));
        let left = core
            .state
            .config
            .heartbeat_timeout
            .saturating_sub(core.last_heard.elapsed());
        if left <= core.state.config.heartbeat_interval {
            ctx.run_later(left, |act, ctx| {
                let core = &mut act.core;
                if !core.closing && core.last_heard.elapsed() >= core.state.config.heartbeat_timeout
                {
                    core.state
                        .metrics
                        .heartbeat_timeouts
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    core.close(ctx, CloseCode::PongTimeout, "pong timeout");
                }
            });
        }
    }
}

impl<D: Dialect> Actor for Session<D> {
    type Context = Ctx<D>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let core = &mut self.core;
        // Inboxes keep at most `session_queue` events here, so at most as many batches: the
        // mailbox's own bound is never the one that bites.
        ctx.set_mailbox_capacity(core.state.config.session_queue);
        core.state.metrics.connection(D::NAME, 1);
        log::info!(
            conn = core.conn.0,
            dialect = D::NAME,
            user = &*core.user.name,
            node = core.state.hub.node().hex().as_str(),
            peer = core.peer.as_str();
            "open conn={} dialect={} user={} peer={}",
            core.conn.0,
            D::NAME,
            core.user.name,
            core.peer
        );
        ctx.run_interval(core.state.config.heartbeat_interval, SessionCore::heartbeat);
        if let Some(identity) = &core.identity {
            SessionCore::expire_at(ctx, identity.exp);
        }
        if let (false, Some(deadline)) = (core.authenticated, core.auth_deadline) {
            ctx.run_later(deadline, |act, ctx| {
                if !act.core.authenticated {
                    act.core
                        .close(ctx, CloseCode::Policy, "authentication required");
                }
            });
        }
        let mut shutdown = core.state.shutdown.clone();
        let spread = drain_spread(core.state.config.shutdown_timeout);
        ctx.spawn(
            wrap_future::<_, Self>(async move {
                let _ = shutdown.wait_for(|down| *down).await;
                // Each socket at its own moment within the spread: clients that reconnect at
                // once land on the other nodes a few at a time, not all in one instant.
                tokio::time::sleep(spread.mul_f64(rand::random::<f64>())).await;
            })
            .map(|_, act, ctx| {
                act.core
                    .close(ctx, CloseCode::GoingAway, "server shutting down")
            }),
        );
        self.dialect.started(&mut self.core, ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.dialect.stopped(&mut self.core);
        let core = &mut self.core;
        core.leave_rooms();
        // The body ends after what is queued, and the HTTP server then closes the connection.
        core.out.finish();
        core.state.metrics.connection(D::NAME, -1);
        let duration_ms = core.opened.elapsed().as_millis() as u64;
        // 1006: the connection ended without a close frame either way.
        let close_code = core.close_code.unwrap_or(1006);
        log::info!(
            conn = core.conn.0,
            dialect = core.dialect,
            user = &*core.user.name,
            node = core.state.hub.node().hex().as_str(),
            duration_ms = duration_ms,
            close_code = close_code;
            "close conn={} dialect={} user={} duration_ms={duration_ms} code={close_code}",
            core.conn.0,
            core.dialect,
            core.user.name,
        );
    }
}

impl<D: Dialect> Handler<Deliver> for Session<D> {
    type Result = ();

    fn handle(&mut self, Deliver(batch): Deliver, ctx: &mut Self::Context) {
        Inbox::taken(&self.core.queued, batch.len());
        for event in batch.iter() {
            if self.core.closing {
                return;
            }
            // One delivery in 16 feeds the latency histogram: enough for percentiles, and the
            // hot path skips a clock read and two shared-counter writes the rest of the time.
            self.core.delivered = self.core.delivered.wrapping_add(1);
            if self.core.delivered % 16 == 1 {
                self.core
                    .state
                    .metrics
                    .observe_latency(event.born.elapsed());
            }
            if let Some((code, reason)) = &event.close {
                if !event.body.is_empty() {
                    self.core.write_event(ctx, event);
                }
                return self.core.close(ctx, *code, reason);
            }
            self.dialect.deliver(event.clone(), &mut self.core, ctx);
        }
    }
}

impl<D: Dialect> StreamHandler<InboundItem> for Session<D> {
    fn handle(&mut self, item: InboundItem, ctx: &mut Self::Context) {
        let core = &mut self.core;
        core.last_heard = Instant::now();
        let incoming = match item {
            Ok((incoming, _wire)) => incoming,
            Err(violation) => {
                log::debug!(
                    "protocol violation conn={}: {}",
                    core.conn.0,
                    violation.reason
                );
                return core.close(ctx, violation.code, violation.reason);
            }
        };
        if core.closing {
            // After a close was sent only the client's close matters (RFC 6455 §5.5.1).
            if let Incoming::Close(_) = incoming {
                core.out.finish();
                ctx.stop();
            }
            return;
        }
        match incoming {
            Incoming::Close(code) => {
                core.closing = true;
                // 1005: a close frame without a code.
                core.close_code = Some(code.as_ref().map_or(1005, |(c, _)| *c));
                let echo = match &code {
                    Some((code, _)) => frame::close_frame(*code, ""),
                    None => frame::close_empty(),
                };
                core.out.push(echo);
                core.out.finish();
                ctx.stop();
            }
            // Control frames count against the rate like any other: a flood of pings is a
            // flood.
            Incoming::Ping(payload) => {
                if self.admit(ctx, false) {
                    self.core.write(ctx, frame::pong(&payload));
                }
            }
            Incoming::Pong(_) => {
                self.admit(ctx, false);
            }
            Incoming::Text(text) => {
                if self.admit(ctx, true) {
                    self.dialect.text(text, &mut self.core, ctx);
                }
            }
            Incoming::Binary(data) => {
                if self.admit(ctx, true) {
                    self.dialect.binary(data, &mut self.core, ctx);
                }
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl<D: Dialect> Session<D> {
    /// Counts a frame against the rate; refuses or closes when over it. A refused data frame
    /// is answered with the dialect's error frame; a refused control frame is ignored.
    fn admit(&mut self, ctx: &mut Ctx<D>, data: bool) -> bool {
        let core = &mut self.core;
        core.state
            .metrics
            .messages_in
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match core.rate.hit(Instant::now()) {
            RateVerdict::Allow => true,
            RateVerdict::Refuse if !data => false,
            RateVerdict::Refuse => {
                let frame = self
                    .dialect
                    .error_frame("rate_limited", "rate limit exceeded");
                core.send(ctx, frame);
                false
            }
            RateVerdict::Close => {
                core.state
                    .metrics
                    .rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                core.close(ctx, CloseCode::RateLimited, "rate limit exceeded");
                false
            }
        }
    }
}
