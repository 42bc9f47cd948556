//! The WebSocket transport under every session: the upgrade, frames in, frames out.
//!
//! actix-web keeps the HTTP side (the handshake answer, the socket); frames are the hub's own
//! ([`super::frame`]). A session is a plain actix actor whose context never waits on the socket:
//!
//! - **Out**: the session pushes encoded frames ([`Bytes`], shared by every member of a room
//!   for one event) into its [`Outbound`] queue; the response body ([`OutboundBody`]) hands them
//!   to actix-http, which copies as many as fit in its write buffer and writes them with one
//!   syscall. The queue is bounded in bytes by the session: a client that stops reading lets it
//!   grow, the session sees that (it keeps running) and closes with 4102 (slow consumer) before
//!   the TCP connection is reset.
//! - **In**: [`Inbound`] pulls bytes from the request payload only when its decoder needs
//!   more to produce the next frame, and the session handles one item at a time, so a client
//!   sending faster than its session works is slowed by TCP flow control, not buffered.
//!
//! The close handshake follows RFC 6455 §7.1.1: on a client's close the session echoes it and
//! ends the body, and the server closes the TCP connection first (the HTTP server is told not
//! to linger for unread request bytes); on a close the server starts, it waits a moment for
//! the client's answer and then resets the connection.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_web::error::PayloadError;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::Stream;

use super::frame::{Decoded, Decoder, Violation};

#[derive(Default)]
struct Queue {
    /// Byte strings to write, each marked whether it ends a frame (a frame may be queued in
    /// parts that share memory with other frames: see [`Outbound::push_parts`]).
    frames: VecDeque<(Bytes, bool)>,
    /// The HTTP layer took the first part of a frame whose other parts are still queued.
    mid_frame: bool,
    bytes: usize,
    waker: Option<Waker>,
    /// No more frames will be pushed: the body ends once the queue is empty.
    finished: bool,
    /// The body was dropped (the connection is gone).
    gone: bool,
}

/// The session's end of its outbound queue.
pub struct Outbound(Rc<RefCell<Queue>>);

/// What became of a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued; this many bytes now wait.
    Queued(usize),
    /// The connection is gone; nothing will be written.
    Gone,
}

impl Outbound {
    /// Queues a frame for writing.
    pub fn push(&self, frame: Bytes) -> Pushed {
        self.push_parts(std::iter::once(frame))
    }

    /// Queues one frame given in parts (a header, a body shared with other frames, a tail of
    /// per-connection bytes), written back to back and never separated.
    pub fn push_parts(&self, parts: impl IntoIterator<Item = Bytes>) -> Pushed {
        let mut q = self.0.borrow_mut();
        if q.gone {
            return Pushed::Gone;
        }
        if q.finished {
            return Pushed::Queued(q.bytes);
        }
        let mut parts = parts.into_iter().peekable();
        while let Some(part) = parts.next() {
            q.bytes += part.len();
            let last = parts.peek().is_none();
            q.frames.push_back((part, last));
        }
        if let Some(w) = q.waker.take() {
            w.wake();
        }
        Pushed::Queued(q.bytes)
    }

    /// Drops what is queued and not yet taken by the HTTP layer, and queues `frame` instead:
    /// for a reader that is being dropped, whose close should not wait behind what it will
    /// never read. The rest of a frame already begun on the wire is kept.
    pub fn replace_with(&self, frame: Bytes) {
        {
            let mut q = self.0.borrow_mut();
            let keep = if q.mid_frame {
                q.frames
                    .iter()
                    .position(|(_, last)| *last)
                    .map_or(0, |i| i + 1)
            } else {
                0
            };
            q.frames.truncate(keep);
            q.bytes = q.frames.iter().map(|(b, _)| b.len()).sum();
        }
        self.push(frame);
    }

    /// Bytes queued and not yet taken by the HTTP layer.
    pub fn queued(&self) -> usize {
        self.0.borrow().bytes
    }

    /// Ends the stream of frames after what is queued.
    pub fn finish(&self) {
        let mut q = self.0.borrow_mut();
        q.finished = true;
        if let Some(w) = q.waker.take() {
            w.wake();
        }
    }
}

/// The response body: the frames, as actix-http asks for them.
pub struct OutboundBody(Rc<RefCell<Queue>>);

impl Stream for OutboundBody {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut q = self.0.borrow_mut();
        if let Some((frame, last)) = q.frames.pop_front() {
            q.bytes -= frame.len();
            q.mid_frame = !last;
            return Poll::Ready(Some(Ok(frame)));
        }
        if q.finished {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for OutboundBody {
    fn drop(&mut self) {
        let mut q = self.0.borrow_mut();
        q.gone = true;
        q.frames.clear();
        q.bytes = 0;
    }
}

/// A connected pair: the session's queue and the body that drains it.
pub fn outbound() -> (Outbound, OutboundBody) {
    let q = Rc::new(RefCell::new(Queue::default()));
    (Outbound(q.clone()), OutboundBody(q))
}

/// What the session reads: decoded frames, or the violation that ends the connection.
pub type InboundItem = Result<Decoded, Violation>;

/// Frames decoded from the request payload, read only as fast as they are handled.
pub struct Inbound<S> {
    payload: S,
    decoder: Decoder,
    done: bool,
}

impl<S> Inbound<S> {
    /// Decodes `payload` with messages of at most `max_message` bytes.
    pub fn new(payload: S, max_message: usize) -> Self {
        Inbound {
            payload,
            decoder: Decoder::new(max_message),
            done: false,
        }
    }
}

impl<S> Stream for Inbound<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = InboundItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.decoder.decode() {
                Ok(Some(item)) => return Poll::Ready(Some(Ok(item))),
                Err(violation) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(violation)));
                }
                Ok(None) => {}
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.decoder.feed(&chunk),
                // The connection broke or ended: the session's stream ends with it.
                Poll::Ready(Some(Err(_)) | None) => this.done = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Why a request cannot be upgraded.
#[derive(Debug, thiserror::Error)]
#[error("WebSocket upgrade expected: {0}")]
pub struct NotAnUpgrade(String);

/// The 101 answer to a WebSocket handshake, streaming `body`.
pub fn upgrade(req: &HttpRequest, body: OutboundBody) -> Result<HttpResponse, NotAnUpgrade> {
    let mut res = actix_web_actors::ws::handshake(req).map_err(|e| NotAnUpgrade(e.to_string()))?;
    Ok(res.streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[actix_web::test]
    async fn frames_leave_in_order_and_the_body_ends_after_finish() {
        let (out, mut body) = outbound();
        assert_eq!(out.push(Bytes::from_static(b"ab")), Pushed::Queued(2));
        assert_eq!(out.push(Bytes::from_static(b"c")), Pushed::Queued(3));
        assert_eq!(body.next().await.unwrap().unwrap(), "ab");
        assert_eq!(out.queued(), 1);
        out.finish();
        assert_eq!(body.next().await.unwrap().unwrap(), "c");
        assert!(body.next().await.is_none());
        drop(body);
        assert_eq!(out.push(Bytes::from_static(b"d")), Pushed::Gone);
    }

    #[actix_web::test]
    async fn a_frame_in_parts_is_never_cut_by_a_replacement() {
        let (out, mut body) = outbound();
        let parts = [b"h" as &[u8], b"body", b"t"].map(Bytes::from_static);
        out.push_parts(parts.clone());
        out.push_parts(parts);
        assert_eq!(body.next().await.unwrap().unwrap(), "h");
        out.replace_with(Bytes::from_static(b"close"));
        assert_eq!(out.queued(), 10);
        for expected in ["body", "t", "close"] {
            assert_eq!(body.next().await.unwrap().unwrap(), expected);
        }
    }
}
