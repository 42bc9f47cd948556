//! The chat session: join, replay history, store-then-broadcast each message.

use actix::fut::wrap_future;
use actix::prelude::*;
use bytestring::ByteString;

use super::protocol::{self, ChatOut};
use super::store::{ChatStore, Post};
use crate::error::CloseCode;
use crate::hub::{Ctx, Dialect, Event, SessionCore, Topic};
use crate::services;
use crate::services::chat::NewPost;

/// Per-connection chat state.
pub struct ChatDialect {
    room: String,
    store: Addr<ChatStore>,
    topic: Topic,
    /// The newest message id replayed as history; live events up to it were already shown
    /// (a message stored just before the join can arrive both ways).
    replayed_through: i64,
    /// The last message the client saw before it reconnected (`?since_id=`): it is sent what
    /// was stored after that instead of the newest `HUB_CHAT_HISTORY`.
    since_id: Option<i64>,
}

impl ChatDialect {
    /// A member of `room` whose messages go through `store`.
    pub fn new(room: String, store: Addr<ChatStore>, since_id: Option<i64>) -> ChatDialect {
        let topic = super::topic(&room);
        ChatDialect {
            room,
            store,
            topic,
            replayed_through: since_id.unwrap_or(0),
            since_id,
        }
    }
}

impl Dialect for ChatDialect {
    const NAME: &'static str = "chat";

    fn started(&mut self, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        // Join first, then read history: a message stored in between is then both in the
        // history and in the mailbox, and `replayed_through` drops the second copy. The other
        // order could lose it. `wait` holds live events back until the history is written.
        let (db, room, limit, since_id) = (
            core.state.db.clone(),
            self.room.clone(),
            core.state.config.chat_history,
            self.since_id,
        );
        let join = core.join(ctx, self.topic.clone(), None, None);
        ctx.wait(
            join.then(move |joined, _, _| {
                wrap_future(async move {
                    joined.map_err(|e| e.to_string())?;
                    let read = match since_id {
                        Some(id) => services::chat::missed(&db, room, id).await,
                        None => services::chat::history(&db, room, limit).await.map(Some),
                    };
                    read.map_err(|e| e.to_string())
                })
            })
            .map(
                |history, act: &mut crate::hub::Session<ChatDialect>, ctx| match history {
                    Ok(None) => {
                        // More was stored since than a resume replays: the client reloads.
                        act.core
                            .close(ctx, CloseCode::ResyncRequired, "resync required");
                    }
                    Ok(Some(messages)) => {
                        for m in &messages {
                            act.core
                                .write_event(ctx, &Event::json(&ChatOut::of(m, true)));
                            act.dialect.replayed_through = m.id;
                        }
                    }
                    Err(e) => {
                        log::error!("chat join failed conn={}: {e}", act.core.conn.0);
                        act.core
                            .close(ctx, CloseCode::Internal, "could not join the room");
                    }
                },
            ),
        );
    }

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        let body = match protocol::parse(&text) {
            Ok(body) => body,
            Err(e) => return core.send(ctx, protocol::error_frame(&e.to_string())),
        };
        let post = Post {
            post: NewPost {
                room: self.room.clone(),
                user_id: core.user.id,
                user_name: core.user.name.to_string(),
                body,
            },
            topic: self.topic.clone(),
            author: core.inbox(ctx),
        };
        // The writer stores and publishes in arrival order; only when its mailbox is full does
        // this connection wait (and its client with it).
        if let Err(SendError::Full(post)) = self.store.try_send(post) {
            ctx.wait(wrap_future(self.store.send(post)).map(|_, _, _| ()));
        }
    }

    fn deliver(&mut self, event: Event, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        if event.key.is_some_and(|k| k <= self.replayed_through) {
            return;
        }
        core.write_event(ctx, &event);
    }

    fn error_frame(&self, _code: &str, reason: &str) -> String {
        protocol::error_frame(reason)
    }
}
