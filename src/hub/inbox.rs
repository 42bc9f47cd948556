//! A session's inbox as its senders see it: the session's mailbox plus a count of the events
//! waiting there.
//!
//! Rooms deliver events in batches (one per burst), so a mailbox bounded in messages would
//! hold an unknown number of events: 256 batches of 64 is 64 times what `HUB_SESSION_QUEUE`
//! promises, and a stalled reader would pin all of them before its room noticed. The count
//! bounds the queue in events instead, whatever the batching; a sender that finds it full gets
//! the batch back, exactly as from a full mailbox, and the room's slow-reader policy takes over.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use actix::prelude::*;

use super::room::Deliver;

/// Where events for one session go. Cloned into every room the session joins.
#[derive(Clone)]
pub struct Inbox {
    recipient: Recipient<Deliver>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl Inbox {
    /// An inbox for a session that counts its handled events down on `queued` (see
    /// [`Inbox::taken`]), holding at most `capacity` events.
    pub fn new(recipient: Recipient<Deliver>, queued: Arc<AtomicUsize>, capacity: usize) -> Inbox {
        Inbox {
            recipient,
            queued,
            capacity,
        }
    }

    /// Queues a batch unless the session already holds `capacity` events (a batch larger than
    /// the capacity is still taken by an empty queue, so no batch is refused forever).
    pub fn try_send(&self, deliver: Deliver) -> Result<(), SendError<Deliver>> {
        let n = deliver.0.len();
        // Counted before the send, so the session cannot count it down first.
        let before = self.queued.fetch_add(n, Relaxed);
        if before > 0 && before + n > self.capacity {
            self.queued.fetch_sub(n, Relaxed);
            return Err(SendError::Full(deliver));
        }
        self.recipient.try_send(deliver).inspect_err(|_| {
            self.queued.fetch_sub(n, Relaxed);
        })
    }

    /// Called by the session for each batch it handled.
    pub fn taken(queued: &AtomicUsize, events: usize) {
        queued.fetch_sub(events, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Event;

    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Deliver> for Sink {
        type Result = ();
        fn handle(&mut self, _: Deliver, _: &mut Context<Self>) {}
    }

    fn batch(n: usize) -> Deliver {
        Deliver((0..n).map(|i| Event::text(i.to_string())).collect())
    }

    #[actix::test]
    async fn bounds_the_queue_in_events_not_batches() {
        let queued = Arc::new(AtomicUsize::new(0));
        let inbox = Inbox::new(Sink.start().recipient(), queued.clone(), 10);
        assert!(inbox.try_send(batch(4)).is_ok());
        assert!(inbox.try_send(batch(6)).is_ok());
        assert!(matches!(inbox.try_send(batch(1)), Err(SendError::Full(d)) if d.0.len() == 1));
        assert_eq!(queued.load(Relaxed), 10);
        Inbox::taken(&queued, 4);
        assert!(inbox.try_send(batch(4)).is_ok());
        assert_eq!(queued.load(Relaxed), 10);
    }

    #[actix::test]
    async fn an_empty_queue_takes_an_oversized_batch() {
        let queued = Arc::new(AtomicUsize::new(0));
        let inbox = Inbox::new(Sink.start().recipient(), queued.clone(), 3);
        assert!(inbox.try_send(batch(5)).is_ok());
        assert!(matches!(inbox.try_send(batch(1)), Err(SendError::Full(_))));
        Inbox::taken(&queued, 5);
        assert!(inbox.try_send(batch(1)).is_ok());
    }
}
