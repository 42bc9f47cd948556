//! The storage keys a room delivered lately, so that what a catch-up reads back from the
//! database, or an event that reaches the room both live and from storage, is delivered once.
//!
//! Bounded in count: a busy room forgets its oldest keys. It remembers when the newest
//! forgotten key was delivered, so a catch-up reaching further back than that knows it cannot
//! tell repeats apart (the room then asks its members to resynchronise, 4203).

use std::collections::{HashSet, VecDeque};

/// Keys a room remembers at most.
pub const SEEN_KEYS: usize = 4096;

/// Recently delivered keys, with when each was delivered.
#[derive(Debug, Default)]
pub struct SeenKeys {
    order: VecDeque<(i64, i64)>,
    keys: HashSet<i64>,
    /// Delivery time (Unix ms) of the newest forgotten key, once one was forgotten.
    floor_ms: Option<i64>,
}

impl SeenKeys {
    /// Records `key` as delivered at `now_ms`; false when it already was (a repeat).
    pub fn insert(&mut self, key: i64, now_ms: i64) -> bool {
        if !self.keys.insert(key) {
            return false;
        }
        if self.order.len() == SEEN_KEYS {
            if let Some((old, at)) = self.order.pop_front() {
                self.keys.remove(&old);
                self.floor_ms = Some(self.floor_ms.map_or(at, |f| f.max(at)));
            }
        }
        self.order.push_back((key, now_ms));
        true
    }

    /// Whether every key delivered since `since_ms` is still remembered.
    pub fn covers(&self, since_ms: i64) -> bool {
        self.floor_ms.is_none_or(|floor| floor < since_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_refused_and_forgetting_is_tracked() {
        let mut seen = SeenKeys::default();
        assert!(seen.insert(1, 100));
        assert!(!seen.insert(1, 101));
        assert!(seen.covers(0));
        for k in 2..=(SEEN_KEYS as i64 + 1) {
            assert!(seen.insert(k, 100 + k));
        }
        // Key 1, delivered at 100, was forgotten: a catch-up from 100 on can no longer be told
        // apart from what was delivered, one from 101 can.
        assert!(!seen.covers(100));
        assert!(seen.covers(101));
        assert!(seen.insert(1, 5000));
    }
}
