//! Connections kept after their socket is gone, so that a client reconnecting soon resumes
//! where it was: the parked connection stays a member of its topics and keeps numbering what
//! it would have received ([`Sequence`]), until a new session takes its sequence over
//! ([`Parking::unpark`]) or it has been parked too long.
//!
//! A parked connection is an actor of its own with a bounded inbox like a session's, so a
//! room treats it as any member (a parked connection that cannot keep up is evicted like a
//! slow reader, and its client then starts afresh). Events are numbered once: an event already
//! in the sequence — the same frame, delivered through two topics, or to both the parked
//! connection and its successor while the hand-over is under way — is not numbered again.
//!
//! Parking is per node: a client that reconnects to another node finds nothing here and
//! starts afresh, as Mattermost's clients do after a failover.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::fut::wrap_future;
use actix::prelude::*;

use super::conn::{ConnAbort, ConnId};
use super::event::{Event, UserRef};
use super::inbox::Inbox;
use super::registry::{JoinTopic, Registry};
use super::room::{Deliver, Join, Leave, Member, Room};
use super::sequence::Sequence;
use super::topic::Topic;

/// Which events a parked connection keeps (a dialect's per-connection filter, e.g. typing
/// notices that leave the user out).
pub type Keep = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

/// The parked connections of this node, by the key their clients resume with.
#[derive(Clone, Default)]
pub struct Parking {
    parked: Arc<Mutex<HashMap<String, Addr<Parked>>>>,
}

/// What a parked connection was.
pub struct ParkedState {
    /// Who it belongs to; only they may resume it.
    pub user: UserRef,
    /// Its numbering and recent events.
    pub sequence: Sequence,
    /// The topics it was a member of.
    pub topics: Vec<Topic>,
}

impl Parking {
    /// Parks a connection under `key` for `keep`, joining `topics` through `registry`.
    pub(crate) fn park(
        &self,
        registry: Addr<Registry>,
        key: String,
        state: ParkedState,
        keep: Duration,
        filter: Keep,
        inbox_capacity: usize,
    ) {
        let parking = self.clone();
        let map_key = key.clone();
        let addr = Parked::create(move |ctx| {
            let inbox = Inbox::new(
                ctx.address().recipient(),
                Arc::new(AtomicUsize::new(0)),
                inbox_capacity,
            );
            let conn = ConnId::next();
            for topic in &state.topics {
                let member = Member {
                    conn,
                    user: state.user.clone(),
                    inbox: inbox.clone(),
                    abort: ConnAbort::none(),
                    farewell: None,
                };
                let join = JoinTopic {
                    topic: topic.clone(),
                    join: Join {
                        member,
                        hello: None,
                    },
                };
                ctx.wait(
                    wrap_future(registry.send(join)).map(|res, act: &mut Parked, _| {
                        if let Ok(Ok(joined)) = res {
                            act.rooms.push(joined.room);
                        }
                    }),
                );
            }
            ctx.run_later(keep, |_, ctx| ctx.stop());
            Parked {
                conn,
                key,
                state: Some(state),
                filter,
                rooms: Vec::new(),
                parking,
            }
        });
        let previous = self
            .parked
            .lock()
            .expect("parking lock")
            .insert(map_key, addr);
        if let Some(previous) = previous {
            // Parked twice under one key: the older one is of no more use.
            previous.do_send(Unpark { user: "".into() });
        }
    }

    /// Takes over the connection parked under `key`, if there is one and it is `user`'s.
    pub async fn unpark(&self, key: &str, user: &UserRef) -> Option<ParkedState> {
        let addr = self.parked.lock().expect("parking lock").remove(key)?;
        addr.send(Unpark {
            user: user.key.clone(),
        })
        .await
        .ok()
        .flatten()
    }

    /// How many connections are parked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.parked.lock().expect("parking lock").len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A connection waiting for its client to come back.
pub struct Parked {
    conn: ConnId,
    key: String,
    state: Option<ParkedState>,
    filter: Keep,
    rooms: Vec<Addr<Room>>,
    parking: Parking,
}

impl Actor for Parked {
    type Context = Context<Self>;

    fn stopped(&mut self, ctx: &mut Self::Context) {
        for room in self.rooms.drain(..) {
            room.do_send(Leave { conn: self.conn });
        }
        let mut parked = self.parking.parked.lock().expect("parking lock");
        if parked.get(&self.key).is_some_and(|a| *a == ctx.address()) {
            parked.remove(&self.key);
        }
    }
}

impl Handler<Deliver> for Parked {
    type Result = ();

    fn handle(&mut self, Deliver(batch): Deliver, _: &mut Self::Context) {
        let Some(state) = &mut self.state else { return };
        for event in batch.iter() {
            if event.close.is_some() {
                continue;
            }
            if (self.filter)(event) {
                state.sequence.number(event);
            }
        }
    }
}

/// Hands the parked state to a resuming session of `user` and stops.
#[derive(Message)]
#[rtype(result = "Option<ParkedState>")]
struct Unpark {
    user: Arc<str>,
}

impl Handler<Unpark> for Parked {
    type Result = Option<ParkedState>;

    fn handle(&mut self, msg: Unpark, ctx: &mut Self::Context) -> Self::Result {
        ctx.stop();
        let state = self.state.take()?;
        (state.user.key == msg.user).then_some(state)
    }
}
