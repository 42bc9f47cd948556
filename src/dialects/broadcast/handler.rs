//! The broadcast session: one channel per connection, presence by user, `{data}` relayed.

use actix::prelude::*;
use bytestring::ByteString;

use super::protocol::{self, Connected, Person, PresenceOut, Sended, UserData, UserEntry};
use super::publish;
use crate::error::CloseCode;
use crate::hub::{Announce, AnnounceWhen, Ctx, Dialect, Event, Session, SessionCore, Topic};
use crate::services::webhook::Webhooks;

/// Per-connection broadcast state.
pub struct BroadcastDialect {
    topic: Topic,
    /// The channel name, for webhooks.
    channel: String,
    me: Person,
    /// Where client messages are forwarded to the app, if anywhere.
    webhooks: Option<Webhooks>,
}

impl BroadcastDialect {
    /// A member of `channel` (from the token) whose user id is `id`; its messages also go to
    /// `webhooks` when given. Its name is taken when the session starts, from the user the
    /// handshake recorded: the stored name when the token carries none.
    pub fn new(channel: &str, id: i64, webhooks: Option<Webhooks>) -> BroadcastDialect {
        BroadcastDialect {
            topic: super::topic(channel),
            channel: channel.to_string(),
            me: Person {
                name: String::new(),
                id,
            },
            webhooks,
        }
    }

    fn presence(&self, kind: &'static str) -> Announce {
        let frame = PresenceOut {
            kind,
            sender: &self.me,
            data: UserData { user: &self.me },
        };
        // The room decides: only a user's first connection is announced, only its last leaves.
        Announce {
            event: Event::json(&frame),
            when: AnnounceWhen::FirstOrLast,
            said: None,
        }
    }
}

fn sended(error: Option<&str>) -> String {
    serde_json::to_string(&Sended {
        kind: "sended",
        ok: error.is_none(),
        error,
    })
    .expect("plain struct")
}

impl Dialect for BroadcastDialect {
    const NAME: &'static str = "broadcast";

    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        self.me.name = core.user.name.to_string();
        let (hello, farewell) = (
            self.presence("connectOther"),
            self.presence("disconnectOther"),
        );
        let join = core.join(ctx, self.topic.clone(), Some(hello), Some(farewell));
        ctx.wait(
            join.map(|joined, act: &mut Session<Self>, ctx| match joined {
                Ok(joined) => {
                    let users = joined
                        .presence
                        .iter()
                        .map(|u| UserEntry {
                            id: u.id.unwrap_or_default(),
                            name: u.name.to_string(),
                        })
                        .collect();
                    let frame = Event::json(&Connected {
                        kind: "connected",
                        users,
                    });
                    act.core.write_event(ctx, &frame);
                }
                Err(e) => {
                    log::error!("broadcast join failed conn={}: {e}", act.core.conn.0);
                    act.core
                        .close(ctx, CloseCode::Internal, "could not join the channel");
                }
            }),
        );
    }

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        match protocol::parse_client(&text) {
            Err(e) => core.send(ctx, sended(Some(&e.to_string()))),
            Ok(frame) => {
                core.send(ctx, sended(None));
                let (event, target) = publish::message(&self.me, &frame.data, frame.target);
                let topic = self.topic.clone();
                core.publish(ctx, &topic, event, target);
                if let Some(webhooks) = &self.webhooks {
                    // Pusher's client_event shape: `data` as the JSON text the client sent.
                    webhooks.send(serde_json::json!({
                        "name": "client_event",
                        "channel": self.channel,
                        "event": "message",
                        "data": frame.data.get(),
                        "user_id": self.me.id.to_string(),
                    }));
                }
            }
        }
    }

    fn error_frame(&self, _code: &str, reason: &str) -> String {
        sended(Some(reason))
    }
}
