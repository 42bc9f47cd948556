//! A per-connection event sequence and replay buffer, for protocols whose clients count the
//! events they receive and resume after a dropped connection (Mattermost's `seq`, Pusher's
//! resumable connections).
//!
//! An event is serialized once for all its recipients ([`Event`]); what differs per
//! connection is only its number. So the number is spliced in: a JSON object body
//! `{…}` goes out as `{…,"seq":N}` — a new frame header, the shared body up to its closing
//! brace (a slice of the same allocation, not a copy), and a tail of a few bytes. The three
//! parts are queued as one frame ([`super::transport::Outbound::push_parts`]).
//!
//! The last `capacity` events written keep their numbers in a ring buffer. A client that
//! reconnects saying which number it expects next gets what it missed from there, each event
//! with its original number, exactly once and in order ([`Sequence::resume`]); when the
//! buffer no longer covers that number, the caller is told to start afresh.

use std::collections::VecDeque;

use bytes::Bytes;

use super::event::Event;
use super::frame;

/// A connection's event numbering and its recent events.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// The number the next event gets.
    next: u64,
    /// Recent events with their numbers, oldest first, at most `capacity`.
    recent: VecDeque<(u64, Event)>,
    capacity: usize,
}

/// What a resume from a given number finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The client has everything: nothing to replay.
    UpToDate,
    /// These frames (with their original numbers) are what the client missed, in order.
    Replay(Vec<Vec<Bytes>>),
    /// The buffer no longer reaches back to that number (or it was never sent): the client
    /// must start afresh.
    Lost,
}

impl Sequence {
    /// Numbering from 0, keeping the last `capacity` events.
    pub fn new(capacity: usize) -> Sequence {
        Sequence {
            next: 0,
            recent: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        }
    }

    /// The number the next event will get.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Numbers `event`, keeps it, and returns the frame to write as its parts; `None` when
    /// this very event (the same shared frame) was numbered already — delivered through two
    /// topics, or to a parked connection and to the session taking over from it.
    pub fn number(&mut self, event: &Event) -> Option<Vec<Bytes>> {
        let same = |e: &Event| {
            e.frame.as_ptr() == event.frame.as_ptr() && e.frame.len() == event.frame.len()
        };
        if self.recent.iter().rev().any(|(_, e)| same(e)) {
            return None;
        }
        let seq = self.next;
        self.next += 1;
        if self.capacity > 0 {
            if self.recent.len() == self.capacity {
                self.recent.pop_front();
            }
            self.recent.push_back((seq, event.clone()));
        }
        Some(spliced(event, seq))
    }

    /// What a client that expects `next_expected` next has missed.
    pub fn resume(&self, next_expected: u64) -> Resume {
        if next_expected == self.next {
            return Resume::UpToDate;
        }
        if next_expected > self.next {
            return Resume::Lost;
        }
        match self.recent.front() {
            Some((oldest, _)) if *oldest <= next_expected => Resume::Replay(
                self.recent
                    .iter()
                    .filter(|(seq, _)| *seq >= next_expected)
                    .map(|(seq, event)| spliced(event, *seq))
                    .collect(),
            ),
            _ => Resume::Lost,
        }
    }
}

/// `event`'s frame with `,"seq":N` spliced before the body's closing brace, as parts that
/// share the body's allocation. A body that is not a JSON object goes out unnumbered.
pub fn spliced(event: &Event, seq: u64) -> Vec<Bytes> {
    let body: &[u8] = event.body.as_bytes();
    if body.len() < 2 || body[0] != b'{' || body[body.len() - 1] != b'}' {
        return vec![event.frame.clone()];
    }
    let tail = if body == b"{}" {
        format!("\"seq\":{seq}}}")
    } else {
        format!(",\"seq\":{seq}}}")
    };
    let open = body.len() - 1;
    let len = open + tail.len();
    let mut header = vec![0u8; frame::header_len(len)];
    frame::write_text_header(&mut header, len);
    let start = event.frame.len() - body.len();
    vec![
        Bytes::from(header),
        event.frame.slice(start..start + open),
        Bytes::from(tail),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(parts: &[Bytes]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn the_number_is_spliced_around_the_shared_body() {
        let e = Event::json(&serde_json::json!({"event": "x", "data": {"k": 1}}));
        let parts = spliced(&e, 42);
        assert_eq!(
            joined(&parts),
            frame::text(br#"{"data":{"k":1},"event":"x","seq":42}"#)
        );
        // The body is not copied: the middle part points into the event's frame.
        let range = e.frame.as_ptr_range();
        assert!(range.contains(&parts[1].as_ptr()));
        assert_eq!(
            joined(&spliced(&Event::text("{}"), 0)),
            frame::text(br#"{"seq":0}"#)
        );
        assert_eq!(
            joined(&spliced(&Event::text("[1]"), 3)),
            frame::text(b"[1]")
        );
        // Across a header-size boundary (125 → 126 bytes of payload).
        let long = Event::json(&serde_json::json!({"k": "x".repeat(112)}));
        assert_eq!(long.body.len(), 120);
        let expected = format!("{},\"seq\":1}}", &long.body[..119]);
        assert_eq!(joined(&spliced(&long, 1)), frame::text(expected.as_bytes()));
    }

    #[test]
    fn numbers_count_from_zero_and_resume_replays_what_is_missing() {
        let mut s = Sequence::new(3);
        let events: Vec<Event> = (0..5)
            .map(|i| Event::text(format!("{{\"i\":{i}}}")))
            .collect();
        for e in &events {
            assert!(s.number(e).is_some());
        }
        assert!(
            s.number(&events[4]).is_none(),
            "the same event is numbered once"
        );
        assert_eq!(s.next(), 5);
        assert_eq!(s.resume(5), Resume::UpToDate);
        assert_eq!(s.resume(6), Resume::Lost);
        assert_eq!(s.resume(1), Resume::Lost, "seq 1 fell out of a buffer of 3");
        let Resume::Replay(frames) = s.resume(3) else {
            panic!("3 and 4 are buffered")
        };
        let frames: Vec<Vec<u8>> = frames.iter().map(|f| joined(f)).collect();
        assert_eq!(
            frames,
            vec![
                frame::text(br#"{"i":3,"seq":3}"#).to_vec(),
                frame::text(br#"{"i":4,"seq":4}"#).to_vec()
            ]
        );
        let Resume::Replay(all) = s.resume(2) else {
            panic!("2 is the oldest kept")
        };
        assert_eq!(all.len(), 3);
    }
}
