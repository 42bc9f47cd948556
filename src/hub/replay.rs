//! A room's bounded replay buffer: the last N events with their sequence numbers, so a client
//! that reconnects quickly can be sent what it missed instead of refetching everything.

use std::collections::VecDeque;

use super::event::Event;

/// The newest `capacity` events of a room, oldest first.
#[derive(Debug)]
pub struct ReplayBuffer {
    events: VecDeque<Event>,
    capacity: usize,
}

impl ReplayBuffer {
    /// An empty buffer keeping at most `capacity` events (0 keeps none).
    pub fn new(capacity: usize) -> ReplayBuffer {
        ReplayBuffer {
            events: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    /// Remembers an event, forgetting the oldest when full.
    pub fn push(&mut self, event: Event) {
        if self.capacity == 0 {
            return;
        }
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The events after `seq`, or `None` when some of them were already forgotten (the client
    /// must resynchronise from storage instead).
    pub fn since(&self, seq: u64, current: u64) -> Option<Vec<Event>> {
        if seq >= current {
            return Some(Vec::new());
        }
        let oldest = self.events.front()?.seq;
        if seq + 1 < oldest {
            return None;
        }
        Some(
            self.events
                .iter()
                .filter(|e| e.seq > seq)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Event {
        let mut e = Event::text(format!("{seq}"));
        e.seq = seq;
        e
    }

    #[test]
    fn replays_what_is_covered_and_refuses_gaps() {
        let mut buf = ReplayBuffer::new(3);
        for s in 1..=5 {
            buf.push(ev(s));
        }
        let seqs = |v: Vec<Event>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(buf.since(2, 5).map(seqs), Some(vec![3, 4, 5]));
        assert_eq!(buf.since(4, 5).map(seqs), Some(vec![5]));
        assert_eq!(buf.since(5, 5).map(seqs), Some(vec![]));
        assert!(buf.since(1, 5).is_none());
    }
}
