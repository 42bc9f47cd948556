//! The practice-sync session: the phone plays, the PC follows.

use actix::fut::wrap_future;
use actix::prelude::*;
use bytestring::ByteString;
use chrono::{SecondsFormat, SubsecRound, Utc};

use super::protocol::{self, ChordOut, ClientFrame, ConnectionOut, StateOut};
use crate::error::CloseCode;
use crate::hub::{
    Announce, AnnounceWhen, Ctx, Dialect, Event, Session, SessionCore, Target, Topic,
};
use crate::services::guitar::{self, GuitarError, PracticeMark};

/// Per-connection state of a practice session member.
pub struct GuitarDialect {
    session_id: String,
    topic: Topic,
    user_id: i64,
}

impl GuitarDialect {
    /// A member `user_id` of session `session_id`.
    pub fn new(session_id: String, user_id: i64) -> GuitarDialect {
        let topic = super::topic(&session_id);
        GuitarDialect {
            session_id,
            topic,
            user_id,
        }
    }

    fn connection(&self, status: &'static str) -> Announce {
        Announce {
            event: Event::text(self.connection_frame(status)),
            when: AnnounceWhen::Always,
            said: None,
        }
    }

    fn connection_frame(&self, status: &'static str) -> String {
        protocol::text(
            "connection_update",
            ConnectionOut {
                status,
                user_id: self.user_id,
            },
        )
    }
}

/// The text of a refusal; storage failures are logged and reported without detail.
fn refusal(conn: u64, e: &GuitarError) -> String {
    if let GuitarError::Db(cause) = e {
        log::error!("guitar operation failed conn={conn}: {cause}");
        return protocol::error("internal error");
    }
    protocol::error(&e.to_string())
}

type Act = Session<GuitarDialect>;

impl Dialect for GuitarDialect {
    const NAME: &'static str = "guitar";

    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let (db, id) = (core.state.db.clone(), self.session_id.clone());
        let join = core.join(
            ctx,
            self.topic.clone(),
            Some(self.connection("connected")),
            Some(self.connection("disconnected")),
        );
        ctx.wait(
            join.then(move |joined, _, _| {
                wrap_future(async move {
                    let joined = joined.map_err(|e| e.to_string())?;
                    let state = guitar::live_state(&db, id)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>((joined.connections, state))
                })
            })
            .map(|result, act: &mut Act, ctx| match result {
                Ok((connections, state)) => {
                    // The seed announces a connection with a group send, which reaches the
                    // newcomer too, and a PC may wait for its own `connection_update` before
                    // it shows itself connected. The room announces it to the others; the
                    // newcomer's copy is written here, first, so `session_state` (which
                    // counts the newcomer) is the last word on the number of connections.
                    let hello = act.dialect.connection_frame("connected");
                    act.core.send(ctx, hello);
                    let frame = StateOut {
                        chord: state.chord,
                        practicing: state.practice_started.is_some(),
                        started_at: state.practice_started.map(guitar::stamp),
                        connections,
                    };
                    act.core.send(ctx, protocol::text("session_state", frame));
                }
                Err(e) => {
                    log::error!("guitar join failed conn={}: {e}", act.core.conn.0);
                    act.core
                        .close(ctx, CloseCode::Internal, "could not join the session");
                }
            }),
        );
    }

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let frame = match protocol::parse(&text) {
            Ok(frame) => frame,
            Err(e) => return core.send(ctx, protocol::error(&e.to_string())),
        };
        let (db, id, user) = (core.state.db.clone(), self.session_id.clone(), self.user_id);
        // To the microsecond, as both databases keep it: the chord's storage key is its time.
        let now = Utc::now().naive_utc().trunc_subsecs(6);
        // Each operation commits, then publishes; `wait` keeps one connection's frames in order.
        match frame {
            ClientFrame::Ping { timestamp } => {
                core.send(
                    ctx,
                    protocol::text("pong", serde_json::json!({ "timestamp": timestamp })),
                );
            }
            ClientFrame::ChordChange { chord } => {
                let stored = chord.clone();
                ctx.wait(
                    wrap_future(async move { guitar::change_chord(&db, id, stored, now).await })
                        .map(move |result, act: &mut Act, ctx| match result {
                            Ok(()) => {
                                let out = ChordOut {
                                    chord: &chord,
                                    user_id: act.dialect.user_id,
                                    timestamp: now
                                        .and_utc()
                                        .to_rfc3339_opts(SecondsFormat::Millis, true),
                                };
                                let event = Event::text(protocol::text("chord_change", out))
                                    .stored(super::CHORD, now.and_utc().timestamp_micros());
                                let (topic, conn) = (act.dialect.topic.clone(), act.core.conn);
                                act.core
                                    .publish(ctx, &topic, event, Target::AllExcept(conn));
                            }
                            Err(e) => act.core.send(ctx, refusal(act.core.conn.0, &e)),
                        }),
                );
            }
            ClientFrame::PracticeStart { timestamp } => {
                let at = timestamp.unwrap_or(now);
                let op = async move { guitar::start_practice(&db, id, user, at).await };
                ctx.wait(
                    wrap_future(op).map(|r, act: &mut Act, ctx| practice(act, ctx, "started", r)),
                );
            }
            ClientFrame::PracticeEnd { timestamp } => {
                let at = timestamp.unwrap_or(now);
                let op = async move { guitar::end_practice(&db, id, at).await.map(|(end, _)| end) };
                ctx.wait(
                    wrap_future(op).map(|r, act: &mut Act, ctx| practice(act, ctx, "ended", r)),
                );
            }
        }
    }

    fn error_frame(&self, _code: &str, reason: &str) -> String {
        protocol::error(reason)
    }
}

/// Announces a stored practice change to every member, the sender included.
fn practice(
    act: &mut Act,
    ctx: &mut Ctx<GuitarDialect>,
    status: &'static str,
    result: Result<PracticeMark, GuitarError>,
) {
    match result {
        Ok(mark) => {
            let kind = if status == "started" {
                super::PRACTICE_STARTED
            } else {
                super::PRACTICE_ENDED
            };
            let event = super::practice_event(status, mark.at).stored(kind, mark.log_id);
            let topic = act.dialect.topic.clone();
            act.core.publish(ctx, &topic, event, Target::All);
        }
        Err(e) => act.core.send(ctx, refusal(act.core.conn.0, &e)),
    }
}
