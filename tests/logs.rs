//! What the process says about itself: JSON log lines when asked, and a malformed `.env` line
//! named by its number instead of half a configuration used in silence.

mod common;

use std::time::Duration;

use common::{HubProcess, Ws};
use serde_json::Value;

#[tokio::test]
async fn json_logs_carry_each_connection_open_and_close() {
    let hub = HubProcess::start(&[("HUB_LOG_FORMAT", "json")]);
    let mut ws = Ws::connect(hub.ws_url("/ws/chat/logged/")).await;
    ws.send_json(serde_json::json!({"message": "hi"})).await;
    ws.recv_json().await;
    let normal = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "bye".into(),
    };
    ws.stream.close(Some(normal)).await.unwrap();
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..100 {
        lines = hub
            .log()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
            .collect();
        if lines
            .iter()
            .any(|l| l["msg"].as_str().is_some_and(|m| m.starts_with("close ")))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open = lines
        .iter()
        .find(|l| l["msg"].as_str().is_some_and(|m| m.starts_with("open ")))
        .expect("an open line");
    let close = lines
        .iter()
        .find(|l| l["msg"].as_str().is_some_and(|m| m.starts_with("close ")))
        .expect("a close line");
    for line in [open, close] {
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["dialect"], "chat");
        assert_eq!(line["user"], "anonymous");
        assert_eq!(line["conn"], open["conn"]);
        assert_eq!(line["node"].as_str().map(str::len), Some(16));
        chrono::DateTime::parse_from_rfc3339(line["ts"].as_str().unwrap()).unwrap();
    }
    assert!(open["conn"].is_u64() && open["peer"] == "127.0.0.1");
    assert_eq!(close["close_code"], 1000);
    assert!(close["duration_ms"].is_u64());
}

#[test]
fn a_malformed_env_line_stops_the_start_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "HUB_BIND=127.0.0.1:0\nJWT_SECRET='unterminated\nHUB_RATE_PER_SEC=5\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_realtime-hub"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".env line 2: cannot read \"JWT_SECRET='unterminated\""),
        "{stderr}"
    );
}
