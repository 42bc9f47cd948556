//! Backpressure on what a client sends.
//!
//! actix-web-actors' frame reader pulls every byte the connection has into its own buffer each
//! time it is polled, and decodes one frame per poll. A session that takes a while per frame
//! (a database write) would so read ahead without bound: a client sending faster than the
//! session works grows the server's memory, a flooding client grows it fast. [`GatedPayload`]
//! sits between the connection and that reader and stops reading once the bytes read but not
//! yet handled pass a limit; the session reports each handled frame, which reopens the gate.
//! The kernel's receive buffer and TCP flow control then slow the client down instead.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;

/// Counts bytes read from a connection and not yet handled.
pub struct InputGate {
    outstanding: AtomicUsize,
    limit: usize,
    waker: Mutex<Option<Waker>>,
}

impl InputGate {
    /// A gate that stops reading at `limit` unhandled bytes; it must hold at least one frame of
    /// the largest allowed size, or a large frame could never be completed.
    pub fn new(limit: usize) -> Arc<InputGate> {
        Arc::new(InputGate {
            outstanding: AtomicUsize::new(0),
            limit,
            waker: Mutex::new(None),
        })
    }

    /// A frame with `payload` bytes of payload was handled: its bytes on the wire (header,
    /// client mask and payload) leave the count.
    pub fn handled(&self, payload: usize) {
        let wire = payload + client_header_len(payload);
        let before = self
            .outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(wire))
            })
            .unwrap_or(0);
        if before >= self.limit && before.saturating_sub(wire) < self.limit {
            if let Some(w) = self.waker.lock().expect("gate lock").take() {
                w.wake();
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) >= self.limit
    }
}

/// The header of a masked client frame with minimal length encoding (RFC 6455 §5.2).
fn client_header_len(payload: usize) -> usize {
    let length_bytes = match payload {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    2 + length_bytes + 4
}

/// The request body of a WebSocket connection, read only while its [`InputGate`] is open.
pub struct GatedPayload<S> {
    inner: S,
    gate: Arc<InputGate>,
}

impl<S> GatedPayload<S> {
    /// Wraps `inner`, counting what it yields against `gate`.
    pub fn new(inner: S, gate: Arc<InputGate>) -> Self {
        GatedPayload { inner, gate }
    }
}

impl<S> Stream for GatedPayload<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.gate.is_closed() {
            *self.gate.waker.lock().expect("gate lock") = Some(cx.waker().clone());
            // Handled frames may have reopened the gate before the waker was stored.
            if self.gate.is_closed() {
                return Poll::Pending;
            }
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.gate
                .outstanding
                .fetch_add(chunk.len(), Ordering::AcqRel);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn header_lengths_follow_rfc_6455() {
        assert_eq!(client_header_len(0), 6);
        assert_eq!(client_header_len(125), 6);
        assert_eq!(client_header_len(126), 8);
        assert_eq!(client_header_len(65_536), 14);
    }

    #[actix_web::test]
    async fn stops_at_the_limit_and_reopens_when_frames_are_handled() {
        let gate = InputGate::new(100);
        let chunks = futures_util::stream::iter((0..4).map(|_| Ok(Bytes::from(vec![0u8; 60]))));
        let mut payload = GatedPayload::new(chunks, gate.clone());
        assert!(payload.next().await.is_some());
        assert!(payload.next().await.is_some());
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut payload).poll_next(&mut cx).is_pending());
        gate.handled(54); // one 60-byte frame on the wire: 6 header + 54 payload
        assert!(matches!(
            Pin::new(&mut payload).poll_next(&mut cx),
            Poll::Ready(Some(Ok(_)))
        ));
    }
}
