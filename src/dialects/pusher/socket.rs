//! The Pusher socket: `GET /app/{key}`, one session per socket, many channels per session.
//!
//! Subscriptions join hub topics with [`SessionCore::join_as`] (a presence member is the user
//! its signed `channel_data` names, per channel) and unsubscriptions leave them with
//! [`SessionCore::leave`]; the socket stays open meanwhile. Joins are `ctx.wait`ed, so frames
//! are handled in the order they came and no event precedes its channel's
//! `pusher_internal:subscription_succeeded`.
//!
//! Events published through the HTTP API with a `socket_id` must skip that socket, which may
//! be on any node: such events name it in [`Event::skip`], which crosses nodes with them, and
//! each session writes the shared frame unless it is the one named.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, HttpRequest, HttpResponse};
use bytestring::ByteString;
use serde_json::json;
use serde_json::value::RawValue;

use super::channel::{self, Kind};
use super::protocol::{self, refusal, ClientFrame, Member, Refusal, Subscribe, Unsubscribe};
use super::{signature, App, ConnectionSlot, Pusher};
use crate::auth::origin;
use crate::dialects::Shared;
use crate::error::{ApiError, CloseCode};
use crate::hub::handshake::{self, Opening};
use crate::hub::limits::{RateVerdict, RateWindow};
use crate::hub::{
    Announce, AnnounceWhen, Ctx, Dialect, Event, Said, Session, SessionCore, Target, Topic, UserRef,
};
use crate::state::AppState;

/// Longest presence `user_id` (Pusher's limit): every node keeps and lists it.
pub const MAX_USER_ID: usize = 128;

/// Largest presence `user_info` JSON (soketi's limit): it travels in every member list.
pub const MAX_USER_INFO: usize = 2048;

/// Longest client event name accepted.
pub const MAX_EVENT_NAME: usize = 200;

/// An event for every subscriber of a channel but the socket `socket_id` (wherever it is):
/// one frame for all, the socket named beside it.
pub fn event_excluding(socket_id: &str, json: &str) -> Event {
    Event::text(json.to_string()).skipping(socket_id)
}

/// A new socket id: `<random>.<connection>`, the `\d+.\d+` Pusher clients and SDKs expect.
fn socket_id(conn: u64) -> String {
    format!("{}.{conn}", rand::random_range(1..1_000_000_000u64))
}

/// One subscribed channel.
struct Subscription {
    topic: Topic,
    /// The presence member this socket is in the channel.
    member: Option<Member>,
}

/// Why a socket is closed as soon as it opens.
struct Refused {
    code: CloseCode,
    message: &'static str,
}

/// Per-socket state.
pub struct PusherSocket {
    pusher: Arc<Pusher>,
    app: Option<Arc<App>>,
    refused: Option<Refused>,
    socket_id: String,
    channels: HashMap<String, Subscription>,
    /// Last time the client sent anything; the server pings after `activity_timeout` of
    /// silence and closes after twice that.
    last_heard: Instant,
    pinged: bool,
    /// The app's client-event rate (`max_client_events_per_sec`).
    client_events: RateWindow,
    /// Held for the socket's life.
    _slot: Option<ConnectionSlot>,
}

/// `GET /app/{key}`: upgrades every request, so that a refused client hears why in
/// `pusher:error` (4001 unknown app, 4004 over quota, 4009 origin) before the close.
pub async fn connect(
    req: HttpRequest,
    payload: web::Payload,
    key: web::Path<String>,
    state: web::Data<AppState>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let state = state.get_ref();
    let pusher = shared.pusher.clone();
    let app = pusher.by_key(&key);
    let mut slot = None;
    let refused = match &app {
        None => Some(Refused {
            code: CloseCode::BadToken,
            message: "Application does not exist",
        }),
        Some(app) => {
            let config = app.origins.as_deref().unwrap_or(&state.config);
            if origin::check(&req, config).is_err() {
                Some(Refused {
                    code: CloseCode::Unauthorized,
                    message: "Origin not allowed",
                })
            } else {
                slot = app.admit();
                slot.is_none().then_some(Refused {
                    code: CloseCode::OverQuota,
                    message: "Application is over connection quota",
                })
            }
        }
    };
    // An unknown app's socket is closed at once and sends no client events.
    let client_events = RateWindow::new(
        app.as_ref()
            .map_or(0, |a| a.config.max_client_events_per_sec),
    );
    let dialect = PusherSocket {
        pusher,
        app,
        refused,
        socket_id: String::new(),
        channels: HashMap::new(),
        last_heard: Instant::now(),
        pinged: false,
        client_events,
        _slot: slot,
    };
    let opening = Opening {
        identity: None,
        user: None,
        authenticated: false,
        anonymous_name: "pusher",
        auth_deadline: None,
        max_frame_bytes: state.config.max_frame_bytes,
    };
    handshake::upgrade_with(&req, payload, state, opening, dialect)
        .await
        .map_err(|e| handshake::refused(state, e))
}

impl PusherSocket {
    fn refuse(&self, core: &mut SessionCore, ctx: &mut Ctx<Self>, refusal: Refusal) {
        core.send(ctx, protocol::error(refusal));
    }

    /// Pings after a silence of `activity_timeout`, closes with 4201 after twice that.
    fn check_activity(act: &mut Session<Self>, ctx: &mut Ctx<Self>) {
        let Some(app) = &act.dialect.app else {
            return;
        };
        let timeout = Duration::from_secs(app.config.activity_timeout);
        let silent = act.dialect.last_heard.elapsed();
        if silent >= timeout * 2 {
            act.core.send(
                ctx,
                protocol::fatal(4201, "Pong reply not received in time"),
            );
            act.core.close(
                ctx,
                CloseCode::PongTimeout,
                "Pong reply not received in time",
            );
        } else if silent >= timeout && !act.dialect.pinged {
            act.dialect.pinged = true;
            act.core.send(ctx, protocol::PING);
        }
    }

    fn subscribe(&mut self, data: Option<&RawValue>, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let Some(app) = self.app.clone() else { return };
        let Some(request) = protocol::data_as::<Subscribe>(data) else {
            return self.refuse(core, ctx, refusal::INVALID);
        };
        let name = request.channel;
        let fail =
            |core: &mut SessionCore, ctx: &mut Ctx<Self>, kind: &str, error: &str, status: u16| {
                core.send(
                    ctx,
                    protocol::subscription_error(&name, kind, error, status),
                );
            };
        if !channel::valid_name(&name) {
            return fail(
                core,
                ctx,
                "InvalidChannel",
                "The channel name is not valid.",
                400,
            );
        }
        let kind = Kind::of(&name);
        if self.channels.contains_key(&name) {
            return match kind {
                Kind::Presence => fail(
                    core,
                    ctx,
                    "AlreadySubscribed",
                    "The socket is already subscribed to this channel.",
                    400,
                ),
                _ => core.send(ctx, protocol::subscribed(&name)),
            };
        }
        let channel_data = request.channel_data.filter(|_| kind == Kind::Presence);
        if kind.needs_auth() {
            let auth = request.auth.unwrap_or_default();
            let signed = signature::channel_auth_ok(
                &app.config.key,
                &app.config.secret,
                &self.socket_id,
                &name,
                channel_data.as_deref(),
                &auth,
            );
            if !signed {
                return fail(
                    core,
                    ctx,
                    "AuthError",
                    "The connection is unauthorized.",
                    401,
                );
            }
        }
        let member = match (kind, channel_data.as_deref().map(Member::parse)) {
            (Kind::Presence, Some(Some(member))) => Some(member),
            (Kind::Presence, _) => {
                return fail(
                    core,
                    ctx,
                    "AuthError",
                    "channel_data must be a JSON object with a user_id.",
                    400,
                )
            }
            _ => None,
        };
        if member
            .as_ref()
            .is_some_and(|m| m.user_id.len() > MAX_USER_ID || m.user_info.len() > MAX_USER_INFO)
        {
            return fail(
                core,
                ctx,
                "LimitReached",
                "The presence member is too large (user_id over 128 or user_info over 2048 bytes).",
                400,
            );
        }
        let topic = super::topic(&app.config.id, &name);
        if let Some(member) = &member {
            let known = self.pusher.occupancy.users(&app.config.id, &name);
            if known.len() >= app.config.max_presence_members && !known.contains(&member.user_id) {
                return fail(
                    core,
                    ctx,
                    "LimitReached",
                    "The maximum members per presence channel limit was reached.",
                    4100,
                );
            }
        }
        // Counted before joining, so that channel_occupied goes out before the member_added
        // the room may post while it takes the member in.
        let user_id = member.as_ref().map(|m| m.user_id.as_str());
        if self
            .pusher
            .occupancy
            .subscribe(&app.config.id, &name, user_id)
            .channel
        {
            app.webhook(|| json!({"name": "channel_occupied", "channel": name}));
        }
        let (user, hello, farewell) = match &member {
            Some(member) => {
                let user = UserRef {
                    key: member.user_id.as_str().into(),
                    id: None,
                    // The presence store keeps a user's id and name: the name holds the
                    // member's `user_info` JSON, so every node lists it.
                    name: member.user_info.as_str().into(),
                };
                // The room says a member arrived or left once across every node, and runs
                // `said` where it says it: the app's webhook goes out once too.
                let announce = |text: String, webhook: &'static str| {
                    let (app, channel, user_id) =
                        (app.clone(), name.clone(), member.user_id.clone());
                    Announce {
                        event: Event::text(text),
                        when: AnnounceWhen::FirstOrLast,
                        said: Some(Said::new(move || {
                            app.webhook(
                                || json!({"name": webhook, "channel": channel, "user_id": user_id}),
                            )
                        })),
                    }
                };
                (
                    user,
                    Some(announce(
                        protocol::member_added(&name, member),
                        "member_added",
                    )),
                    Some(announce(
                        protocol::member_removed(&name, &member.user_id),
                        "member_removed",
                    )),
                )
            }
            None => (core.user.clone(), None, None),
        };
        let join = core.join_as(ctx, topic.clone(), user, hello, farewell);
        ctx.wait(join.map(move |joined, act: &mut Session<Self>, ctx| {
            let joined = match joined {
                Ok(joined) => joined,
                Err(e) => {
                    log::error!(
                        "pusher subscribe failed conn={} channel={name}: {e}",
                        act.core.conn.0
                    );
                    act.core.send(
                        ctx,
                        protocol::subscription_error(
                            &name,
                            "ServerError",
                            "The channel could not be joined.",
                            500,
                        ),
                    );
                    act.dialect.forget(&name, &Subscription { topic, member });
                    return;
                }
            };
            let frame = match &member {
                Some(_) => {
                    let members: Vec<(String, String)> = joined
                        .presence
                        .iter()
                        .map(|u| (u.key.to_string(), u.name.to_string()))
                        .collect();
                    protocol::presence_subscribed(&name, &members)
                }
                None => protocol::subscribed(&name),
            };
            act.core.send(ctx, frame);
            act.dialect
                .channels
                .insert(name, Subscription { topic, member });
        }));
    }

    fn unsubscribe(
        &mut self,
        data: Option<&RawValue>,
        core: &mut SessionCore,
        ctx: &mut Ctx<Self>,
    ) {
        let Some(request) = protocol::data_as::<Unsubscribe>(data) else {
            return self.refuse(core, ctx, refusal::INVALID);
        };
        // Unsubscribing from a channel the socket is not in is not an error (no answer
        // either way, as Pusher).
        if let Some(sub) = self.channels.remove(&request.channel) {
            core.leave(&sub.topic);
            self.forget(&request.channel, &sub);
        }
    }

    /// Counts a subscription gone and tells the app what that changed.
    /// (Presence departures are the room's to tell: see the `said` of their farewell.)
    fn forget(&self, name: &str, sub: &Subscription) {
        let Some(app) = &self.app else { return };
        let user_id = sub.member.as_ref().map(|m| m.user_id.as_str());
        let change = self
            .pusher
            .occupancy
            .unsubscribe(&app.config.id, name, user_id);
        if change.channel {
            app.webhook(|| json!({"name": "channel_vacated", "channel": name}));
        }
    }

    fn client_event(
        &mut self,
        frame: &ClientFrame<'_>,
        core: &mut SessionCore,
        ctx: &mut Ctx<Self>,
    ) {
        let Some(app) = self.app.clone() else { return };
        if !app.config.client_events {
            return self.refuse(core, ctx, refusal::CLIENT_EVENTS_DISABLED);
        }
        let Some(name) = frame.channel.as_deref() else {
            return self.refuse(core, ctx, refusal::INVALID);
        };
        if !Kind::of(name).takes_client_events() {
            return self.refuse(core, ctx, refusal::CLIENT_EVENT_CHANNEL);
        }
        let Some(sub) = self.channels.get(name) else {
            return self.refuse(core, ctx, refusal::NOT_A_MEMBER);
        };
        let size = frame.data.map_or(0, |d| d.get().len());
        if frame.event.len() > MAX_EVENT_NAME || size > app.config.max_event_bytes {
            return self.refuse(core, ctx, refusal::CLIENT_EVENT_TOO_BIG);
        }
        if self.client_events.hit(Instant::now()) != RateVerdict::Allow {
            return self.refuse(core, ctx, refusal::CLIENT_EVENT_RATE);
        }
        let user_id = sub.member.as_ref().map(|m| m.user_id.as_str());
        let event = Event::json(&protocol::ClientEvent {
            event: &frame.event,
            channel: name,
            data: frame.data,
            user_id,
        });
        let (topic, me) = (sub.topic.clone(), core.conn);
        core.publish(ctx, &topic, event, Target::AllExcept(me));
        app.webhook(|| {
            let mut hook = json!({
                "name": "client_event",
                "channel": name,
                "event": frame.event,
                "data": webhook_data(frame.data),
                "socket_id": self.socket_id,
            });
            if let Some(user_id) = user_id {
                hook["user_id"] = user_id.into();
            }
            hook
        });
    }
}

/// A client event's data as a webhook carries it: a string, the JSON text when it was not
/// one already.
fn webhook_data(data: Option<&RawValue>) -> String {
    let Some(raw) = data else {
        return String::new();
    };
    serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_string())
}

impl Dialect for PusherSocket {
    const NAME: &'static str = "pusher";

    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        if let Some(refused) = &self.refused {
            core.send(ctx, protocol::fatal(refused.code.code(), refused.message));
            return core.close(ctx, refused.code, refused.message);
        }
        let Some(app) = &self.app else { return };
        self.socket_id = socket_id(core.conn.0);
        core.send(
            ctx,
            protocol::connection_established(&self.socket_id, app.config.activity_timeout),
        );
        let every = Duration::from_secs(app.config.activity_timeout) / 4;
        ctx.run_interval(every.max(Duration::from_millis(100)), Self::check_activity);
    }

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        self.last_heard = Instant::now();
        self.pinged = false;
        let Ok(frame) = serde_json::from_str::<ClientFrame<'_>>(&text) else {
            return self.refuse(core, ctx, refusal::INVALID);
        };
        match frame.event.as_str() {
            "pusher:ping" => core.send(ctx, protocol::PONG),
            "pusher:pong" => {}
            "pusher:subscribe" => self.subscribe(frame.data, core, ctx),
            "pusher:unsubscribe" => self.unsubscribe(frame.data, core, ctx),
            event if event.starts_with("client-") => self.client_event(&frame, core, ctx),
            _ => self.refuse(core, ctx, refusal::UNKNOWN_EVENT),
        }
    }

    fn deliver(&mut self, event: Event, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        if event.skip.as_deref() != Some(self.socket_id.as_str()) {
            core.write_event(ctx, &event);
        }
    }

    fn error_frame(&self, _code: &str, _reason: &str) -> String {
        protocol::error(refusal::RATE)
    }

    fn stopped(&mut self, _core: &mut SessionCore) {
        for (name, sub) in std::mem::take(&mut self.channels) {
            self.forget(&name, &sub);
        }
    }
}
