//! One Mattermost socket: authentication (at the handshake or by `authentication_challenge`),
//! `hello`, the router's replies, actions, and events numbered per connection.

use actix::fut::wrap_future;
use actix::prelude::*;
use bytestring::ByteString;
use serde_json::{json, Value};

use std::sync::Arc;

use super::notify::{channel_topic, typing, user_topic};
use super::online;
use super::protocol::{event, fail, ok, refusal, Broadcast, Request, SERVER_VERSION};
use crate::error::CloseCode;
use crate::hub::parking::Keep;
use crate::hub::sequence::Resume;
use crate::hub::{Ctx, Dialect, Event, Session, SessionCore, Topic, UserRef};
use crate::services::mattermost::users::SessionUser;
use crate::services::mattermost::{channels, now_ms, statuses, users, MmError};

/// Events kept per connection for a resume (Mattermost's `deadQueueSize`).
pub const REPLAY_EVENTS: usize = 128;

/// How long a connection is kept for its client to resume (Mattermost reaps inactive
/// connections after 5 minutes).
pub const PARK_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// Who an authenticated socket is.
#[derive(Debug, Clone)]
pub struct Me {
    /// The user's id.
    pub id: String,
    /// The username.
    pub username: String,
    /// When the session ends, Unix ms.
    pub expires_at: i64,
}

impl From<&SessionUser> for Me {
    fn from(s: &SessionUser) -> Me {
        Me {
            id: s.user.id.clone(),
            username: s.user.username.clone(),
            expires_at: s.expires_at,
        }
    }
}

/// A socket's protocol state.
pub struct MmSocket {
    /// The user, once authenticated.
    me: Option<Me>,
    /// The id `hello` announces, which a client names to resume.
    connection_id: String,
    /// The connection a reconnecting client asks to resume, and the `seq` it expects next.
    resume: Option<(String, u64)>,
}

impl MmSocket {
    /// A socket authenticated at the handshake (`me`) or waiting for a challenge.
    pub fn new(me: Option<Me>, connection_id: String, resume: Option<(String, u64)>) -> MmSocket {
        MmSocket {
            me,
            connection_id,
            resume,
        }
    }

    /// The connection is someone's: join the user's and their channels' topics, then number
    /// events from 0 with `hello` first, and answer the challenge (`reply`). Joining comes
    /// first so that whatever is published after the client saw `hello` reaches it; events
    /// arriving meanwhile wait in the mailbox (`ctx.wait`) and follow `hello`.
    fn begin(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>, reply: Option<i64>) {
        let Some(me) = self.me.clone() else { return };
        core.enable_sequence(REPLAY_EVENTS);
        join(core, ctx, user_topic(&me.id));
        // Present (online) once this join is recorded, before `hello`: a client that saw
        // `hello` on one socket may close another without its user going offline in between.
        // The socket's own `status_change` waits in the mailbox and follows `hello`.
        let status = core.join(
            ctx,
            online::topic(&me.id),
            None,
            Some(online::departure(&me.id)),
        );
        ctx.wait(status.map(|res, act: &mut Session<MmSocket>, _| {
            if let Err(e) = res {
                log::warn!("conn={}: no automatic status: {e}", act.core.conn.0);
            }
        }));
        let (db, id) = (core.state.db.clone(), me.id.clone());
        let lookup = async move {
            db.run(move |conn| crate::db::mattermost::channels::channel_ids_of(conn, &id))
                .await
        };
        ctx.wait(
            wrap_future(lookup).map(move |res, act: &mut Session<Self>, ctx| {
                let ids = match res {
                    Ok(ids) => ids,
                    Err(e) => {
                        log::error!("conn={}: channels of user: {e}", act.core.conn.0);
                        return act
                            .core
                            .close(ctx, CloseCode::Internal, "cannot read channels");
                    }
                };
                for id in ids {
                    join(&mut act.core, ctx, channel_topic(&id));
                }
                let resume = act.dialect.resume.take();
                let parking = act.core.state.hub.parking().clone();
                let user = act.core.user.clone();
                let unpark = async move {
                    let (id, next) = resume?;
                    let state = parking.unpark(&id, &user).await?;
                    Some((state, id, next))
                };
                ctx.wait(wrap_future(unpark).map(move |parked, act: &mut Session<Self>, ctx| {
                    let Session { core, dialect } = act;
                    let mut resumed = false;
                    if let Some((state, id, next)) = parked {
                        if core.resume_sequence(ctx, state.sequence, next) != Resume::Lost {
                            // The client keeps its connection id and gets no hello.
                            dialect.connection_id = id;
                            resumed = true;
                        }
                    }
                    if !resumed {
                        let hello = event(
                            "hello",
                            json!({
                                "connection_id": dialect.connection_id,
                                "server_version": format!("{SERVER_VERSION}.0.realtime-hub.false"),
                                "server_hostname": hostname(),
                            }),
                            Broadcast {
                                user_id: &me.id,
                                ..Default::default()
                            },
                        );
                        core.write_sequenced(ctx, &hello);
                    }
                    if let Some(seq) = reply {
                        Self::reply(core, ctx, seq, Ok(None));
                    }
                }));
            }),
        );
    }

    fn reply(
        core: &mut SessionCore,
        ctx: &mut Ctx<Self>,
        seq: i64,
        result: Result<Option<Value>, MmError>,
    ) {
        let frame = match result {
            Ok(data) => ok(seq, data),
            Err(e) => fail(seq, &e),
        };
        core.send(ctx, frame);
    }

    fn challenge(&mut self, req: Request, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        if core.is_authenticated() {
            // Mattermost ignores a second challenge without a word.
            return;
        }
        let Some(token) = req.data.get("token").and_then(Value::as_str) else {
            return core.close(ctx, CloseCode::Policy, "authentication failed");
        };
        let db = core.state.db.clone();
        let token = token.to_string();
        let check = async move { users::authenticate(&db, token).await };
        ctx.wait(
            wrap_future(check).map(move |res, act: &mut Session<Self>, ctx| {
                let Session { core, dialect } = act;
                let Ok(session) = res else {
                    return core.close(ctx, CloseCode::Policy, "authentication failed");
                };
                let user = UserRef {
                    key: session.user.id.as_str().into(),
                    id: None,
                    name: session.user.username.as_str().into(),
                };
                if let Err(e) = core.authenticate(ctx, user, session.expires_at / 1000) {
                    let refusal = MmError::new(
                        "api.web_socket.too_many_connections.app_error",
                        e.to_string(),
                        429,
                    );
                    Self::reply(core, ctx, req.seq, Err(refusal));
                    return core.close(ctx, CloseCode::OverQuota, "too many connections");
                }
                dialect.me = Some(Me::from(&session));
                dialect.begin(core, ctx, Some(req.seq));
            }),
        );
    }

    fn user_typing(&mut self, req: Request, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let Some(me) = self.me.clone() else { return };
        let field = |k: &str| {
            req.data
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (channel, parent) = (field("channel_id"), field("parent_id"));
        let db = core.state.db.clone();
        let (c, user) = (channel.clone(), me.id.clone());
        let check = async move { channels::check_member(&db, user, c).await };
        let seq = req.seq;
        ctx.wait(
            wrap_future(check).map(move |res, act: &mut Session<Self>, ctx| {
                let result = res
                    .map(|_| typing(&act.core.state, &channel, &me.id, &parent))
                    .map(|_| None)
                    .map_err(|e| {
                        if e.status == 403 || e.status == 404 {
                            MmError::invalid_param("channel_id")
                        } else {
                            e
                        }
                    });
                Self::reply(&mut act.core, ctx, seq, result);
            }),
        );
    }
}

/// Joins a topic before anything else is handled; a failure is logged (the socket stays,
/// missing that topic's events, as when the hub is overloaded).
fn join(core: &mut SessionCore, ctx: &mut Ctx<MmSocket>, topic: Topic) {
    let name = topic.clone();
    let fut = core
        .join(ctx, topic, None, None)
        .map(move |res, act: &mut Session<MmSocket>, _| {
            if let Err(e) = res {
                log::warn!("conn={}: cannot join {name}: {e}", act.core.conn.0);
            }
        });
    ctx.wait(fut);
}

/// Whether `event` is a typing notice that leaves out the user whose `omit_users` entry is
/// `omitted` (the typer's own sockets do not hear their typing).
fn omits(event: &Event, omitted: &str) -> bool {
    event.body.starts_with(r#"{"event":"typing""#) && event.body.contains(omitted)
}

/// `{"<user id>": "<status>", …}`, the `data` of the status actions.
fn status_map(list: Vec<statuses::StatusView>) -> Value {
    Value::Object(
        list.into_iter()
            .map(|s| (s.user_id, Value::String(s.status)))
            .collect(),
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

impl Dialect for MmSocket {
    const NAME: &'static str = "mattermost";

    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        if let Some(me) = &self.me {
            SessionCore::expire_at(ctx, me.expires_at / 1000);
            self.begin(core, ctx, None);
        }
    }

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let Ok(req) = serde_json::from_str::<Request>(&text) else {
            // Mattermost drops a connection whose frame does not decode.
            return core.close(ctx, CloseCode::Unsupported, "invalid JSON");
        };
        if req.action.is_empty() {
            return Self::reply(core, ctx, req.seq, Err(refusal::no_action()));
        }
        if req.action == "authentication_challenge" {
            // The seed's client sends its challenge without `seq`: accepted (SPEC §7).
            return self.challenge(req, core, ctx);
        }
        if req.seq <= 0 {
            return Self::reply(core, ctx, req.seq, Err(refusal::bad_seq()));
        }
        if !core.is_authenticated() {
            return Self::reply(core, ctx, req.seq, Err(refusal::not_authenticated()));
        }
        match req.action.as_str() {
            "user_typing" => self.user_typing(req, core, ctx),
            "get_statuses" => {
                let db = core.state.db.clone();
                let seq = req.seq;
                let read = async move { statuses::known_statuses(&db).await };
                ctx.wait(
                    wrap_future(read).map(move |res, act: &mut Session<Self>, ctx| {
                        Self::reply(&mut act.core, ctx, seq, res.map(|s| Some(status_map(s))));
                    }),
                );
            }
            "get_statuses_by_ids" => {
                let ids: Vec<String> = req
                    .data
                    .get("user_ids")
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
                    .unwrap_or_default();
                let db = core.state.db.clone();
                let seq = req.seq;
                let read = async move { statuses::statuses_by_ids(&db, ids).await };
                ctx.wait(
                    wrap_future(read).map(move |res, act: &mut Session<Self>, ctx| {
                        Self::reply(&mut act.core, ctx, seq, res.map(|s| Some(status_map(s))));
                    }),
                );
            }
            "ping" => {
                let pong = json!({"text": "pong", "version": SERVER_VERSION, "server_time": now_ms(), "node_id": ""});
                Self::reply(core, ctx, req.seq, Ok(Some(pong)));
            }
            _ => Self::reply(core, ctx, req.seq, Err(refusal::bad_action())),
        }
    }

    fn deliver(&mut self, event: Event, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let Some(me) = &self.me else { return };
        if omits(&event, &format!(r#""omit_users":{{"{}":true}}"#, me.id)) {
            return;
        }
        let body: &str = &event.body;
        if body.starts_with(r#"{"event":"user_added""#) {
            let channel = serde_json::from_str::<Value>(body).ok().and_then(|v| {
                v.pointer("/data/channel_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            if let Some(channel) = channel {
                // The news is written once the topic is joined, so that what the client
                // sees posted there next is delivered.
                join(core, ctx, channel_topic(&channel));
                ctx.wait(
                    actix::fut::ready(()).map(move |_, act: &mut Session<Self>, ctx| {
                        act.core.write_sequenced(ctx, &event);
                    }),
                );
                return;
            }
        }
        core.write_sequenced(ctx, &event);
    }

    fn stopped(&mut self, core: &mut SessionCore) {
        let Some(me) = &self.me else { return };
        // Kept for a client that comes back with this connection id (Mattermost keeps an
        // inactive connection 5 minutes), numbering what it would have received.
        let omitted = format!(r#""omit_users":{{"{}":true}}"#, me.id);
        let keep: Keep = Arc::new(move |e: &Event| !omits(e, &omitted));
        core.park(self.connection_id.clone(), PARK_FOR, keep);
    }

    fn error_frame(&self, code: &str, reason: &str) -> String {
        let id = match code {
            "rate_limited" => "api.web_socket.rate_limited.app_error",
            _ => "api.web_socket.error.app_error",
        };
        fail(0, &MmError::new(id, reason, 429))
    }
}
