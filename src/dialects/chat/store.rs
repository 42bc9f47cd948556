//! The chat writer: one actor per node that stores chat messages in batches and publishes
//! each one after its batch committed.
//!
//! A session that waited for its own insert before reading its next frame could post no faster
//! than one database round trip per message. Instead every session hands its messages here and
//! goes on; the writer puts whatever arrived while the previous batch was being written into one
//! transaction, then publishes the batch in arrival order — commit, then publish, and per
//! connection (and per room) in the order sent, since the mailbox is first in, first out.

use actix::fut::wrap_future;
use actix::prelude::*;

use super::protocol::{self, ChatOut};
use crate::db::Db;
use crate::hub::inbox::Inbox;
use crate::hub::room::Deliver;
use crate::hub::{Event, Hub, Target, Topic};
use crate::services::chat::{self, NewPost};

/// Most messages written in one transaction.
const MAX_BATCH: usize = 512;
/// Posts the mailbox holds while a batch is being written. It is the writer's only buffer: the
/// mailbox is paused during each write, so when it is full sending connections wait, and TCP
/// slows their clients.
const MAILBOX: usize = 512;

/// A message to store and then publish.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Post {
    /// What to store.
    pub post: NewPost,
    /// The room's topic.
    pub topic: Topic,
    /// The author's session, told when the message could not be stored.
    pub author: Inbox,
}

/// Answers once every message handed to the writer before it is stored and published: what
/// shutdown waits for, so that a message accepted just before the signal is not lost.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drained;

/// Starts a write once the mailbox has been drained into `pending`.
#[derive(Message)]
#[rtype(result = "()")]
struct WriteNow;

/// Batching writer state.
pub struct ChatStore {
    db: Db,
    hub: Hub,
    pending: Vec<Post>,
    /// A batch is being written, or a [`WriteNow`] is on its way.
    busy: bool,
    /// Told when nothing is pending any more ([`Drained`]).
    drain_waiters: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl ChatStore {
    /// A writer over `db` that publishes through `hub`.
    pub fn new(db: Db, hub: Hub) -> ChatStore {
        ChatStore {
            db,
            hub,
            pending: Vec::new(),
            busy: false,
            drain_waiters: Vec::new(),
        }
    }

    fn write(&mut self, ctx: &mut Context<Self>) {
        if self.pending.is_empty() {
            self.busy = false;
            for waiter in self.drain_waiters.drain(..) {
                let _ = waiter.send(());
            }
            return;
        }
        let take = self.pending.len().min(MAX_BATCH);
        // The texts go to the database and come back in the stored messages; where each one
        // is published, and whom to tell if it is not stored, stays here.
        let (rows, routes): (Vec<NewPost>, Vec<_>) = self
            .pending
            .drain(..take)
            .map(|p| (p.post, (p.topic, p.author)))
            .unzip();
        let db = self.db.clone();
        let write = wrap_future(async move { chat::post_batch(&db, rows).await }).map(
            move |stored, act: &mut ChatStore, ctx| {
                match stored {
                    Ok(messages) => {
                        for ((topic, author), m) in routes.into_iter().zip(messages) {
                            let event = Event::json(&ChatOut::of(&m, false)).with_key(m.id);
                            if let Err(e) = act.hub.publish(topic, event, Target::All) {
                                // Stored, so a member joining later sees it in the history.
                                log::warn!("chat: message {} stored but not published: {e}", m.id);
                                let refusal = Event::text(protocol::error_frame(
                                    "message stored but not delivered: server busy",
                                ));
                                let _ = author.try_send(Deliver::one(refusal));
                            }
                        }
                    }
                    Err(e) => {
                        log::error!(
                            "chat: a batch of {} messages was not stored: {e}",
                            routes.len()
                        );
                        let refusal =
                            Event::text(protocol::error_frame("message could not be stored"));
                        for (_, author) in routes {
                            let _ = author.try_send(Deliver::one(refusal.clone()));
                        }
                    }
                }
                // What arrived meanwhile is still in the (paused) mailbox: let it all into
                // `pending` first, so that it becomes one batch, not a batch of one.
                ctx.notify(WriteNow);
            },
        );
        // `wait` pauses the mailbox until the batch is stored and published: what arrives
        // meanwhile waits there (bounded), and becomes the next batch.
        ctx.wait(write);
    }
}

impl Actor for ChatStore {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Sessions that find it full wait (backpressure on their clients), see handler.rs.
        ctx.set_mailbox_capacity(MAILBOX);
    }
}

impl Handler<Post> for ChatStore {
    type Result = ();

    fn handle(&mut self, post: Post, ctx: &mut Self::Context) {
        self.pending.push(post);
        if !self.busy {
            // Runs after the mailbox is drained: everything that is waiting joins this batch.
            self.busy = true;
            ctx.notify(WriteNow);
        }
    }
}

impl Handler<WriteNow> for ChatStore {
    type Result = ();

    fn handle(&mut self, _: WriteNow, ctx: &mut Self::Context) {
        self.write(ctx);
    }
}

impl Handler<Drained> for ChatStore {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drained, _: &mut Self::Context) -> Self::Result {
        if !self.busy && self.pending.is_empty() {
            return Box::pin(async {});
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.drain_waiters.push(tx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}
