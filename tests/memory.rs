//! Memory that comes back: after a burst of large messages in many rooms (40 channels × 128
//! messages of 24 KB), once every room has emptied, the process's resident memory returns to
//! within 10 % of what it was before.

mod common;

use std::time::Duration;

use common::{broadcast_token, eventually, HubProcess, Ws};
use serde_json::json;

/// A member of broadcast channel `room:{n}` (one member per channel).
async fn member(hub: &HubProcess, n: usize) -> Ws {
    let token = broadcast_token(n as i64 + 1, "someone", &format!("room:{n}"));
    let mut ws = Ws::connect(hub.ws_url(&format!("/ws/broadcast/?token={token}"))).await;
    assert_eq!(ws.recv_json().await["type"], "connected");
    ws
}

/// Sends 24 KB of data and reads the acknowledgement and the message back.
async fn round_trip(ws: &mut Ws, data: &str) {
    ws.send_json(json!({ "data": { "blob": data } })).await;
    assert_eq!(ws.recv_json().await, json!({"type": "sended", "ok": true}));
    assert_eq!(
        ws.recv_json().await["data"]["blob"].as_str().unwrap().len(),
        data.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_memory_returns_after_the_rooms_empty() {
    let hub = HubProcess::start(&[
        ("HUB_RATE_PER_SEC", "100000"),
        ("HUB_CHAT_HISTORY", "0"),
        ("RUST_LOG", "warn"),
    ]);
    // Warm up what a running hub keeps anyway (threads, pools, the database's pages) with the
    // same kinds of work, then measure.
    for room in 100..104 {
        let mut ws = member(&hub, room).await;
        round_trip(&mut ws, &"x".repeat(24_000)).await;
        ws.close().await;
    }
    eventually(Duration::from_secs(10), "warm-up rooms gone", || async {
        hub.metric("hub_rooms").await == 0.0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = hub.rss_kib();

    let body = "y".repeat(24_000);
    let mut members = Vec::new();
    for room in 0..40 {
        members.push(member(&hub, room).await);
    }
    for _ in 0..128 {
        for ws in members.iter_mut() {
            round_trip(ws, &body).await;
        }
    }
    let peak = hub.rss_kib();
    for ws in members {
        ws.close().await;
    }
    eventually(Duration::from_secs(10), "rooms gone", || async {
        hub.metric("hub_rooms").await == 0.0
    })
    .await;
    let mut after = hub.rss_kib();
    for _ in 0..50 {
        if after * 10 <= before * 11 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = hub.rss_kib();
    }
    eprintln!("RSS KiB: before {before}, peak {peak}, after {after}");
    assert!(
        after * 10 <= before * 11,
        "RSS {after} KiB after the rooms emptied, {before} KiB before (peak {peak} KiB)"
    );
}
