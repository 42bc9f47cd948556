//! A minimal chat broadcast server: every text frame `{"message": …}` sent to
//! `/ws/chat/{room}/` goes to every member of the room as `{"message": …, "user":
//! "anonymous"}`. Rooms are tokio broadcast channels; each connection's writer drains all
//! queued frames before one flush, so many frames share a write. No storage, no checks: the
//! reference for what the wire and the kernel allow on this machine.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

type Rooms = Arc<Mutex<HashMap<String, broadcast::Sender<Arc<str>>>>>;

#[tokio::main]
async fn main() {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8001".into());
    let listener = TcpListener::bind(&bind).await.expect("bind");
    println!("minimal peer listening on {bind}");
    let rooms: Rooms = Arc::default();
    while let Ok((tcp, _)) = listener.accept().await {
        tokio::spawn(serve(tcp, rooms.clone()));
    }
}

async fn serve(tcp: TcpStream, rooms: Rooms) {
    let _ = tcp.set_nodelay(true);
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_string();
        Ok(resp)
    };
    // Small buffers, as a lean server would configure them (tungstenite's defaults are 128 KiB
    // each, which would make this reference look heavier than it needs to be).
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config)).await
    else {
        return;
    };
    let tx = rooms
        .lock()
        .unwrap()
        .entry(path)
        .or_insert_with(|| broadcast::channel(4096).0)
        .clone();
    let mut rx = tx.subscribe();
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        loop {
            let first = match rx.recv().await {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if sink.feed(Message::text(&*first)).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(Message::text(&*more)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        if let Message::Text(text) = msg {
            let text = text.as_str().trim_end();
            if let Some(body) = text.strip_suffix('}') {
                let out: Arc<str> = format!("{body},\"user\":\"anonymous\"}}").into();
                let _ = tx.send(out);
            }
        }
    }
    writer.abort();
}
