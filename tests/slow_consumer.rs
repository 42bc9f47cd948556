//! A client that stops reading must not slow its room or grow the server's memory: its
//! session's bounded mailbox overflows, the room evicts it and resets its TCP connection, and
//! every other member keeps receiving everything.

mod common;

use std::time::Duration;

use common::{HubProcess, Ws};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Messages before the stalled readers are gone, then after.
const PHASE_ONE: usize = 1500;
const PHASE_TWO: usize = 5000;
const MESSAGES: usize = PHASE_ONE + PHASE_TWO;

/// Reads until `MESSAGES` chat messages arrived; returns their ids in arrival order.
async fn read_all(mut ws: Ws) -> Vec<i64> {
    let mut ids = Vec::with_capacity(MESSAGES);
    while ids.len() < MESSAGES {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.stream.next())
            .await
            .expect("healthy reader starved")
            .expect("healthy reader's stream ended")
            .expect("healthy reader's read failed");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            ids.push(v["id"].as_i64().expect("chat frame with id"));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_readers_are_evicted_while_the_room_carries_on() {
    let hub = HubProcess::start(&[
        ("HUB_RATE_PER_SEC", "1000000"),
        ("HUB_CHAT_HISTORY", "0"),
        ("HUB_DB_POOL", "2"),
        ("HUB_SLOW_CONSUMER_BYTES", "524288"),
        ("RUST_LOG", "warn"),
    ]);
    let path = hub.ws_url("/ws/chat/slow/");
    let stalled_a = Ws::connect(path.clone()).await;
    let stalled_b = Ws::connect(path.clone()).await;
    let healthy: Vec<_> =
        futures_util::future::join_all((0..3).map(|_| Ws::connect(path.clone()))).await;
    let readers: Vec<_> = healthy
        .into_iter()
        .map(|ws| tokio::spawn(read_all(ws)))
        .collect();

    let publisher = Ws::connect(path.clone()).await;
    let (mut tx, mut rx) = publisher.stream.split();
    // The publisher is a member too and must read its own echoes.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    let body = "x".repeat(4000);
    let frame = serde_json::json!({ "message": body }).to_string();
    // Paced at about 1,000 messages a second (4 MB/s to each reader): a rate healthy readers
    // keep up with, so only the stalled ones fall behind. (A publisher faster than a room's
    // readers makes every one of them a slow reader, which is the point of the policy.)
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for i in 0..PHASE_ONE {
        if i % 20 == 0 {
            pace.tick().await;
        }
        tx.send(Message::text(frame.clone())).await.unwrap();
    }
    // Both stalled readers are evicted (a bounded wait, not a speed assertion).
    let mut evicted = 0.0;
    for _ in 0..100 {
        evicted = hub.metric("hub_slow_consumer_evictions_total").await;
        if evicted >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(evicted, 2.0);
    let rss_after_eviction = hub.rss_kib();
    for i in 0..PHASE_TWO {
        if i % 20 == 0 {
            pace.tick().await;
        }
        tx.send(Message::text(frame.clone())).await.unwrap();
    }

    for reader in readers {
        let ids = reader.await.unwrap();
        assert_eq!(ids.len(), MESSAGES);
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "healthy reader got messages out of order"
        );
    }
    // A stalled reader that finally reads finds what the kernel had buffered, then a reset
    // connection: never the whole stream.
    for mut stalled in [stalled_a, stalled_b] {
        let mut got = 0;
        let ended = loop {
            match tokio::time::timeout(Duration::from_secs(10), stalled.stream.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => got += 1,
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_))) | Ok(None) => break true,
                Err(_) => break false,
            }
        };
        assert!(ended, "a stalled reader's connection was left open");
        assert!(got < PHASE_ONE, "a stalled reader received {got} messages");
    }
    let rss_end = hub.rss_kib();
    eprintln!("server RSS: {rss_after_eviction} KiB after the evictions, {rss_end} KiB at the end");
    // Had the stalled sessions kept their queues, the second phase's bodies (4 KB × 5000 =
    // 20 MB) would still be held for them. Bounded, what remains is the healthy members'
    // transient queues (mailbox + backlog), which do not grow with the number of messages.
    assert!(
        rss_end < rss_after_eviction + 10 * 1024,
        "server memory grew from {rss_after_eviction} KiB to {rss_end} KiB"
    );
    drain.abort();
}

/// A client that floods without reading must not make the server buffer what it sends: the
/// chat writer's bounded queue makes its session wait, the session stops reading, and TCP flow
/// control holds the rest in the client's own buffers (or the client is evicted as a reader
/// that never reads its echoes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_cannot_grow_server_memory() {
    let hub = HubProcess::start(&[
        ("HUB_RATE_PER_SEC", "1000000"),
        ("HUB_CHAT_HISTORY", "0"),
        ("RUST_LOG", "warn"),
    ]);
    let rss_before = hub.rss_kib();
    let ws = Ws::connect(hub.ws_url("/ws/chat/flood/")).await;
    let (mut tx, _rx) = ws.stream.split();
    let frame = serde_json::json!({ "message": "y".repeat(4000) }).to_string();
    let flood = async {
        // 240 MB offered; the server may take some, stall the rest, or reset the connection.
        for _ in 0..60_000 {
            if tx.send(Message::text(frame.clone())).await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), flood).await;
    let rss_after = hub.rss_kib();
    eprintln!("server RSS: {rss_before} KiB before the flood, {rss_after} KiB after");
    // Bounded queues (the writer's 4 MB, mailboxes, one member backlog) plus SQLite's cache and
    // the allocator's arenas stay in the tens of MB; holding what was offered would be hundreds.
    assert!(
        rss_after < rss_before + 32 * 1024,
        "server memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    // The server still serves others.
    let mut other = Ws::connect(hub.ws_url("/ws/chat/calm/")).await;
    other
        .send_json(serde_json::json!({"message": "still here"}))
        .await;
    assert_eq!(other.recv_json().await["message"], "still here");
}
