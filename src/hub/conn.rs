//! Connection identity and the handle that aborts a TCP connection from outside its session.
//!
//! A session whose client stopped reading is frozen (actix-http stops polling it once the
//! socket's write buffer is full), so it cannot close itself. The room that notices the overflow
//! uses [`ConnAbort`] instead: `SO_LINGER=0` and `shutdown(Both)` on a duplicate of the accepted
//! socket make the kernel reset the connection, actix-http's next I/O fails, and the frozen
//! session is dropped with everything it held.

use std::any::Any;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Extensions;

/// The kernel send buffer of accepted sockets (the kernel doubles it for its bookkeeping):
/// ample for a fast reader on any network a hub serves, small next to what a slow one would
/// pin.
pub const SEND_BUFFER: usize = 256 * 1024;

/// A connection's id, unique within the process; appears in logs as `conn=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl ConnId {
    /// The next unused id.
    pub fn next() -> ConnId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A duplicate of the accepted socket's descriptor, shared by the connection's extensions and
/// its session; the duplicate closes when the last holder drops.
#[derive(Clone)]
pub struct ConnAbort(Option<Arc<socket2::Socket>>);

impl ConnAbort {
    /// A handle that aborts nothing (a connection that was not accepted over TCP).
    pub fn none() -> ConnAbort {
        ConnAbort(None)
    }

    /// Resets the connection: the peer sees RST, the server's pending writes are discarded.
    pub fn abort(&self) {
        if let Some(sock) = &self.0 {
            let _ = sock.set_linger(Some(Duration::ZERO));
            let _ = sock.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// `HttpServer::on_connect` hook: tunes the accepted socket and keeps an abort handle in the
/// connection's data, where WebSocket handshakes pick it up with `req.conn_data()`.
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    let sock = socket2::SockRef::from(tcp);
    let _ = sock.set_tcp_nodelay(true);
    // What the kernel holds for a peer is out of the hub's sight: without a cap it grows to
    // megabytes for a slow reader, and a 4102 close would wait behind all of it. The hub's own
    // queue (HUB_SLOW_CONSUMER_BYTES) is where a backlog belongs.
    let _ = sock.set_send_buffer_size(SEND_BUFFER);
    // The kernel's backstop for a peer that vanished with unacknowledged data in flight.
    let _ = sock.set_tcp_user_timeout(Some(Duration::from_secs(10)));
    if let Ok(fd) = tcp.as_fd().try_clone_to_owned() {
        ext.insert(ConnAbort(Some(Arc::new(socket2::Socket::from(fd)))));
    }
}
