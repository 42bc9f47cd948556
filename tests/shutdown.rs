//! SIGTERM and SIGINT: every socket is closed with 1001 and the process exits 0; the log has
//! one line per connection open and close, and never a token.

mod common;

use std::time::Duration;

use common::{HubProcess, Ws};
use serde_json::json;

async fn closes_everything_on(signal: &str) {
    let mut hub = HubProcess::start(&[]);
    let token = realtime_hub::auth::Auth::new(common::SECRET).mint(42, "dora", None, 600);
    let mut a = Ws::connect(hub.ws_url(&format!("/ws/chat/bye/?token={token}"))).await;
    let mut b = Ws::connect(hub.ws_url("/ws/chat/bye/")).await;
    a.send_json(json!({"message": "before the end"})).await;
    assert_eq!(a.recv_json().await["message"], "before the end");
    assert_eq!(b.recv_json().await["message"], "before the end");

    hub.signal(signal);
    assert_eq!(a.recv_close().await, (1001, "server shutting down".into()));
    assert_eq!(b.recv_close().await, (1001, "server shutting down".into()));
    let status = hub
        .wait_exit(Duration::from_secs(10))
        .expect("still running 10 s after the signal");
    assert!(status.success(), "exit status {status}");

    let log = hub.log();
    let opened: Vec<_> = log.iter().filter(|l| l.contains(" open conn=")).collect();
    let closed: Vec<_> = log.iter().filter(|l| l.contains(" close conn=")).collect();
    assert_eq!(
        (opened.len(), closed.len()),
        (2, 2),
        "log:\n{}",
        log.join("\n")
    );
    assert!(opened.iter().any(|l| l.contains("dialect=chat user=dora")));
    assert!(closed
        .iter()
        .all(|l| l.contains("dialect=chat") && l.contains("duration_ms=")));
    assert!(
        log.iter().all(|l| !l.contains(&token)),
        "a token reached the log"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("GET /ws/chat/bye/?token=[redacted] HTTP/1.1 101")),
        "no redacted access log line:\n{}",
        log.join("\n")
    );
}

#[tokio::test]
async fn sigterm_closes_every_socket_with_1001_and_exits_0() {
    closes_everything_on("TERM").await;
}

#[tokio::test]
async fn sigint_closes_every_socket_with_1001_and_exits_0() {
    closes_everything_on("INT").await;
}

/// A drain: from SIGTERM the node says it is not ready and refuses new sockets with 503, while
/// the open ones are closed with 1001 at moments spread over the first half of the shutdown
/// timeout (so that their clients do not all reconnect elsewhere in one instant), then exit 0.
#[tokio::test]
async fn sigterm_drains_refusing_newcomers_and_spreading_the_closes() {
    let mut hub = HubProcess::start(&[("HUB_SHUTDOWN_TIMEOUT_MS", "4000")]);
    let mut sockets = Vec::new();
    for _ in 0..40 {
        sockets.push(Ws::connect(hub.ws_url("/ws/chat/drain/")).await);
    }
    let http = reqwest::Client::new();
    let ready = http.get(hub.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    hub.signal("TERM");
    let signalled = std::time::Instant::now();
    let closes = sockets.into_iter().map(|mut ws| async move {
        let close = ws.recv_close().await;
        (close, signalled.elapsed())
    });
    let closes = tokio::spawn(futures_util::future::join_all(closes));

    // While the sockets are being closed: not ready (once the signal is handled), and no new
    // socket.
    common::eventually(Duration::from_secs(2), "readyz 503", || async {
        http.get(hub.url("/readyz")).send().await.unwrap().status() == 503
    })
    .await;
    let ready = http.get(hub.url("/readyz")).send().await.unwrap();
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap(),
        json!({"error": "shutting down", "database": "ok"})
    );
    assert_eq!(
        common::refused(hub.ws_url("/ws/chat/drain/")).await,
        (503, json!({"error": "server shutting down"}))
    );

    let closes = closes.await.unwrap();
    assert!(closes
        .iter()
        .all(|(close, _)| *close == (1001, "server shutting down".to_string())));
    let first = closes.iter().map(|(_, at)| *at).min().unwrap();
    let last = closes.iter().map(|(_, at)| *at).max().unwrap();
    // 40 moments drawn over 2 s: all within half a second of each other would mean no spread
    // (the chance of that by draw is below 1e-20).
    assert!(
        last - first >= Duration::from_millis(500),
        "closes not spread: first {first:?}, last {last:?}"
    );
    let status = hub
        .wait_exit(Duration::from_secs(10))
        .expect("still running 10 s after the signal");
    assert!(status.success(), "exit status {status}");
}
