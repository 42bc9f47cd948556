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
