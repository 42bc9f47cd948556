//! The messaging socket: global (`user:<id>`) or one community's (`community:<id>`).

use actix::fut::wrap_future;
use actix::prelude::*;
use bytestring::ByteString;

use super::notify;
use super::protocol::{self, ClientFrame, Connection};
use crate::error::CloseCode;
use crate::hub::{Ctx, Dialect, Session, SessionCore, Topic};
use crate::services::messages::{self, MessagesError};

/// Per-connection state.
pub struct MessagesDialect {
    user_id: i64,
    community: Option<i64>,
    topic: Topic,
}

impl MessagesDialect {
    /// A socket of `user_id`, limited to `community` when given.
    pub fn new(user_id: i64, community: Option<i64>) -> MessagesDialect {
        let topic = match community {
            Some(c) => super::community_topic(c),
            None => super::user_topic(user_id),
        };
        MessagesDialect {
            user_id,
            community,
            topic,
        }
    }
}

type Act = Session<MessagesDialect>;

fn refusal(conn: u64, e: &MessagesError) -> String {
    if let MessagesError::Db(cause) = e {
        log::error!("messages operation failed conn={conn}: {cause}");
        return protocol::error(e.code(), "internal error");
    }
    protocol::error(e.code(), &e.to_string())
}

impl Dialect for MessagesDialect {
    const NAME: &'static str = "messages";

    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let join = core.join(ctx, self.topic.clone(), None, None);
        ctx.wait(join.map(|joined, act: &mut Act, ctx| match joined {
            Ok(_) => {
                let frame = Connection {
                    kind: "connection",
                    message: "connected",
                    user_id: act.dialect.user_id,
                    community_id: act.dialect.community,
                };
                act.core
                    .send(ctx, serde_json::to_string(&frame).expect("plain struct"));
            }
            Err(e) => {
                log::error!("messages join failed conn={}: {e}", act.core.conn.0);
                act.core
                    .close(ctx, CloseCode::Internal, "could not subscribe");
            }
        }));
    }

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let frame = match protocol::parse(&text) {
            Ok(frame) => frame,
            Err(e) => return core.send(ctx, protocol::error(e.code, &e.message)),
        };
        let (db, user) = (core.state.db.clone(), self.user_id);
        match frame {
            ClientFrame::Ping => core.send(ctx, r#"{"type":"pong"}"#),
            // The same service call as POST /api/messages/{id}/read/; events follow the commit.
            ClientFrame::MarkRead { message_id } => ctx.wait(
                wrap_future(async move { messages::mark_read(&db, user, message_id).await }).map(
                    |result, act: &mut Act, ctx| match result {
                        Ok(delivery) => notify::message_read(&act.core.state, &delivery),
                        Err(e) => act.core.send(ctx, refusal(act.core.conn.0, &e)),
                    },
                ),
            ),
            ClientFrame::GetUnreadCount { community_id } => {
                let community = community_id.or(self.community);
                ctx.wait(
                    wrap_future(async move { messages::unread_count(&db, user, community).await })
                        .map(move |result, act: &mut Act, ctx| match result {
                            Ok(count) => act.core.send(ctx, protocol::unread(count, community)),
                            Err(e) => act.core.send(ctx, refusal(act.core.conn.0, &e)),
                        }),
                )
            }
        }
    }

    fn error_frame(&self, code: &str, reason: &str) -> String {
        protocol::error(code, reason)
    }
}
