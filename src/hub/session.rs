//! The session actor: one per WebSocket. It owns the transport (actix-web-actors), enforces
//! limits and heartbeats, and hands decoded text to its dialect.
//!
//! The transport stays inside this module and [`super::handshake`]: dialects see [`Ctx`] only
//! through the helpers here (`send`, `close`, `join`, `publish`) plus `ctx.wait`/`ctx.spawn`
//! for ordered async work, so a move to actix-ws would be confined to these two files.
//!
//! Lifecycle: `started` sets the bounded mailbox, heartbeat, token expiry and shutdown watch,
//! then lets the dialect join its rooms; `stopped` leaves every room it joined — the same
//! cleanup whatever the way out (client close, error, eviction, shutdown).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::fut::wrap_future;
use actix::prelude::*;
use actix_web_actors::ws;
use bytes::Bytes;
use bytestring::ByteString;

use super::conn::{ConnAbort, ConnId};
use super::event::{Announce, Event, Target, UserRef};
use super::inbox::Inbox;
use super::input::InputGate;
use super::limits::{ConnPermit, RateVerdict, RateWindow};
use super::registry::{HubError, JoinTopic};
use super::room::{Deliver, Join, Joined, Leave, Member, Publish, Room};
use super::topic::Topic;
use crate::auth::{unix_now, Identity};
use crate::error::CloseCode;
use crate::state::AppState;

/// The actor context every dialect writes to.
pub type Ctx<D> = ws::WebsocketContext<Session<D>>;

/// A protocol spoken over a session: how frames are decoded and events written.
pub trait Dialect: Sized + Unpin + 'static {
    /// The dialect's name in logs and metrics.
    const NAME: &'static str;

    /// The connection is open: join rooms, send greetings.
    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>);

    /// A text frame within the size and rate limits.
    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>);

    /// A binary frame. Text protocols answer with their error frame and stay open.
    fn binary(&mut self, _data: Bytes, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let frame = self.error_frame("binary_not_supported", "binary frames are not supported");
        core.send(ctx, frame);
    }

    /// An event from a room. The default writes the shared bytes as they are.
    fn deliver(&mut self, event: Event, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        core.send(ctx, event.body);
    }

    /// The dialect's in-socket error frame, used by the core for rate-limit refusals.
    fn error_frame(&self, code: &str, reason: &str) -> String;
}

/// Dialect-independent state of one connection.
pub struct SessionCore {
    /// This connection's id.
    pub conn: ConnId,
    /// Who this connection is, as presence sees it.
    pub user: UserRef,
    /// The verified token identity; `None` for anonymous connections.
    pub identity: Option<Identity>,
    /// Shared services.
    pub state: AppState,
    /// Rooms joined, left again when the session stops.
    rooms: Vec<(Topic, Addr<Room>)>,
    /// Last time anything arrived from the client (frames, pings, pongs).
    last_heard: Instant,
    rate: RateWindow,
    abort: ConnAbort,
    /// Held for the connection's lifetime; dropping it frees the quota place.
    _permit: ConnPermit,
    /// Reopened as frames are handled, so the client cannot make the server read ahead.
    gate: Arc<InputGate>,
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
    pub user: UserRef,
    pub conn: ConnId,
    pub abort: ConnAbort,
    pub permit: ConnPermit,
    pub peer: String,
    pub gate: Arc<InputGate>,
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
                rooms: Vec::new(),
                last_heard: Instant::now(),
                rate,
                abort: parts.abort,
                _permit: parts.permit,
                gate: parts.gate,
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
    /// Writes a text frame.
    pub fn send<A>(&self, ctx: &mut ws::WebsocketContext<A>, text: impl Into<ByteString>)
    where
        A: Actor<Context = ws::WebsocketContext<A>>,
    {
        ctx.text(text);
    }

    /// Closes with `code` and a short reason, then stops the session.
    pub fn close<A>(&mut self, ctx: &mut ws::WebsocketContext<A>, code: CloseCode, reason: &str)
    where
        A: Actor<Context = ws::WebsocketContext<A>>,
    {
        if self.closing {
            return;
        }
        self.closing = true;
        log::debug!(
            "closing conn={} code={} reason={reason}",
            self.conn.0,
            code.code()
        );
        ctx.close(Some(ws::CloseReason {
            code: ws::CloseCode::from(code.code()),
            description: Some(reason.chars().take(120).collect()),
        }));
        ctx.stop();
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
        let member = Member {
            conn: self.conn,
            user: self.user.clone(),
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

    fn heartbeat<D: Dialect>(act: &mut Session<D>, ctx: &mut Ctx<D>) {
        let core = &mut act.core;
        if core.last_heard.elapsed() > core.state.config.heartbeat_timeout {
            core.state
                .metrics
                .heartbeat_timeouts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            core.close(ctx, CloseCode::PongTimeout, "pong timeout");
        } else {
            ctx.ping(b"");
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
            "open conn={} dialect={} user={} peer={}",
            core.conn.0,
            D::NAME,
            core.user.name,
            core.peer
        );
        ctx.run_interval(core.state.config.heartbeat_interval, SessionCore::heartbeat);
        if let Some(identity) = &core.identity {
            let left = Duration::from_secs((identity.exp - unix_now()).max(0) as u64);
            ctx.run_later(left, |act, ctx| {
                act.core
                    .close(ctx, CloseCode::TokenExpired, "token expired");
            });
        }
        let mut shutdown = core.state.shutdown.clone();
        ctx.spawn(
            wrap_future::<_, Self>(async move {
                let _ = shutdown.wait_for(|down| *down).await;
            })
            .map(|_, act, ctx| {
                act.core
                    .close(ctx, CloseCode::GoingAway, "server shutting down")
            }),
        );
        self.dialect.started(&mut self.core, ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        let core = &mut self.core;
        // `do_send`, since a leave must not be lost to a full mailbox; one per room joined
        // per connection, so what a client can feed here is bounded by its quota.
        for (_, room) in core.rooms.drain(..) {
            room.do_send(Leave { conn: core.conn });
        }
        core.state.metrics.connection(D::NAME, -1);
        log::info!(
            "close conn={} dialect={} user={} duration_ms={}",
            core.conn.0,
            core.dialect,
            core.user.name,
            core.opened.elapsed().as_millis()
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
                    self.core.send(ctx, event.body.clone());
                }
                return self.core.close(ctx, *code, reason);
            }
            self.dialect.deliver(event.clone(), &mut self.core, ctx);
        }
    }
}

impl<D: Dialect> StreamHandler<Result<ws::Message, ws::ProtocolError>> for Session<D> {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let core = &mut self.core;
        core.last_heard = Instant::now();
        let msg = match item {
            Ok(msg) => {
                core.gate.handled(payload_len(&msg));
                msg
            }
            Err(ws::ProtocolError::Overflow) => {
                return core.close(ctx, CloseCode::TooBig, "frame too large");
            }
            Err(ws::ProtocolError::Io(e)) if e.to_string().contains("utf-8") => {
                return core.close(
                    ctx,
                    CloseCode::InvalidPayload,
                    "invalid UTF-8 in text frame",
                );
            }
            Err(e) => {
                log::debug!("protocol error conn={}: {e}", core.conn.0);
                return core.close(ctx, CloseCode::Policy, "protocol error");
            }
        };
        match msg {
            ws::Message::Ping(payload) => ctx.pong(&payload),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Close(reason) => {
                core.closing = true;
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Continuation(_) => {
                core.close(
                    ctx,
                    CloseCode::Unsupported,
                    "fragmented messages are not supported",
                );
            }
            ws::Message::Text(text) => {
                if self.admit(ctx) {
                    self.dialect.text(text, &mut self.core, ctx);
                }
            }
            ws::Message::Binary(data) => {
                if self.admit(ctx) {
                    self.dialect.binary(data, &mut self.core, ctx);
                }
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// A frame's payload length as it was on the wire.
fn payload_len(msg: &ws::Message) -> usize {
    match msg {
        ws::Message::Text(t) => t.len(),
        ws::Message::Binary(b) | ws::Message::Ping(b) | ws::Message::Pong(b) => b.len(),
        ws::Message::Close(reason) => reason
            .as_ref()
            .map_or(0, |r| 2 + r.description.as_ref().map_or(0, String::len)),
        ws::Message::Continuation(item) => match item {
            actix_http::ws::Item::FirstText(b)
            | actix_http::ws::Item::FirstBinary(b)
            | actix_http::ws::Item::Continue(b)
            | actix_http::ws::Item::Last(b) => b.len(),
        },
        ws::Message::Nop => 0,
    }
}

impl<D: Dialect> Session<D> {
    /// Counts a data frame against the rate; refuses or closes when over it.
    fn admit(&mut self, ctx: &mut Ctx<D>) -> bool {
        let core = &mut self.core;
        core.state
            .metrics
            .messages_in
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match core.rate.hit(Instant::now()) {
            RateVerdict::Allow => true,
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
