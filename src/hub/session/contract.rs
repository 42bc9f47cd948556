//! What a session offers the dialects that need more than a socket: authentication after
//! opening, a per-connection event sequence with its replay buffer, and parking for a resume
//! (Mattermost first, Pusher next). Kept apart from the socket handling in [`super`].

use std::time::Duration;

use actix::prelude::*;

use super::{Ctx, Dialect, SessionCore};
use crate::auth::unix_now;
use crate::error::{ApiError, CloseCode};
use crate::hub::event::{Event, UserRef};
use crate::hub::parking::{Keep, ParkedState};
use crate::hub::sequence::{Resume, Sequence};

impl SessionCore {
    /// Writes an event with this connection's next sequence number spliced into it (see
    /// [`super::sequence`]), keeping it for a resume; without a sequence, as it is.
    pub fn write_sequenced<A>(&mut self, ctx: &mut Context<A>, event: &Event)
    where
        A: Actor<Context = Context<A>>,
    {
        if self.closing {
            return;
        }
        match &mut self.sequence {
            Some(sequence) => {
                if let Some(parts) = sequence.number(event) {
                    self.write_parts(ctx, parts);
                }
            }
            None => self.write_event(ctx, event),
        }
    }

    /// Starts numbering this connection's events from 0, keeping the last `capacity` for
    /// a resume.
    pub fn enable_sequence(&mut self, capacity: usize) {
        self.sequence = Some(Sequence::new(capacity));
    }

    /// The connection's sequence, to hand to a later connection that resumes this one.
    pub fn take_sequence(&mut self) -> Option<Sequence> {
        self.sequence.take()
    }

    /// Continues a sequence another connection started, writing what a client expecting
    /// `next_expected` missed. On [`Resume::Lost`] nothing is written and the sequence is not
    /// taken over; the caller starts afresh.
    pub fn resume_sequence<A>(
        &mut self,
        ctx: &mut Context<A>,
        sequence: Sequence,
        next_expected: u64,
    ) -> Resume
    where
        A: Actor<Context = Context<A>>,
    {
        let outcome = sequence.resume(next_expected);
        if outcome == Resume::Lost {
            return outcome;
        }
        self.sequence = Some(sequence);
        if let Resume::Replay(frames) = &outcome {
            for parts in frames {
                self.write_parts(ctx, parts.clone());
            }
        }
        outcome
    }

    /// Keeps this connection's sequence under `key` for `keep` after the socket is gone (call
    /// it from [`Dialect::stopped`]): it stays a member of the topics joined and goes on
    /// numbering the events `filter` keeps, for a client that resumes with `key`
    /// ([`super::parking`]). Without a sequence there is nothing to keep; a connection the
    /// server closed has left its rooms already and would number nothing, so it is not kept
    /// either (its client then starts afresh rather than miss events unawares).
    pub fn park(&mut self, key: String, keep: Duration, filter: Keep) {
        if self.rooms.is_empty() {
            return;
        }
        let Some(sequence) = self.sequence.take() else {
            return;
        };
        let state = ParkedState {
            user: self.user.clone(),
            sequence,
            // Events only: the connection's presence ends with it.
            topics: self
                .rooms
                .iter()
                .map(|(t, _)| t)
                .filter(|t| !self.announced.contains(t))
                .cloned()
                .collect(),
        };
        let hub = &self.state.hub;
        hub.parking().park(
            hub.registry().clone(),
            key,
            state,
            keep,
            filter,
            self.state.config.session_queue,
        );
    }

    /// Whether the connection is someone's (authenticated at the handshake or since).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Makes a connection that opened unauthenticated `user`'s, once: takes the user's place
    /// in the connection quota (429 when full) and closes the connection with 4202 at
    /// `expires_at` (Unix seconds). Refused when the connection already has a user.
    pub fn authenticate<D: Dialect>(
        &mut self,
        ctx: &mut Ctx<D>,
        user: UserRef,
        expires_at: i64,
    ) -> Result<(), ApiError> {
        if self.authenticated {
            return Err(ApiError::Forbidden("already authenticated".into()));
        }
        self.permit.take_user(user.key.clone())?;
        log::info!(
            "authenticated conn={} dialect={} user={}",
            self.conn.0,
            self.dialect,
            user.name
        );
        self.user = user;
        self.authenticated = true;
        Self::expire_at(ctx, expires_at);
        Ok(())
    }

    /// Closes the connection with 4202 when its credentials expire (Unix seconds), for
    /// dialects that authenticate with something other than a JWT.
    pub fn expire_at<D: Dialect>(ctx: &mut Ctx<D>, expires_at: i64) {
        let left = Duration::from_secs((expires_at - unix_now()).max(0) as u64);
        ctx.run_later(left, |act, ctx| {
            act.core
                .close(ctx, CloseCode::TokenExpired, "token expired");
        });
    }
}
