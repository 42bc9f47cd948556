//! The chat dialect (seeds/003) over the real server and a real client, with exact JSON.

mod common;

use common::{refused, TestApp, Ws};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Checks `created_at` is RFC 3339 UTC to the second and returns the frame with it fixed, so
/// the rest can be compared whole.
fn with_time(mut v: Value, expected: Value) -> (Value, Value) {
    let t = v["created_at"]
        .as_str()
        .expect("created_at is a string")
        .to_string();
    assert!(t.ends_with('Z') && t.len() == 20, "bad created_at {t}");
    chrono::DateTime::parse_from_rfc3339(&t).expect("RFC 3339");
    let mut expected = expected;
    expected["created_at"] = json!(t);
    v["created_at"] = json!(t);
    (v, expected)
}

macro_rules! assert_frame {
    ($got:expr, $expected:expr) => {{
        let (got, expected) = with_time($got, $expected);
        assert_eq!(got, expected);
    }};
}

#[tokio::test]
async fn members_receive_every_message_sender_included() {
    let app = TestApp::spawn();
    let token = app.token(1, "alice");
    let mut alice = app.ws(&format!("/ws/chat/lobby/?token={token}")).await;
    // Alice's own echo proves she has joined; the anonymous member's history proves it has.
    alice.send_json(json!({"message": "first"})).await;
    let first = json!({"message": "first", "user": "alice", "id": 1, "created_at": ""});
    assert_frame!(alice.recv_json().await, first.clone());
    let mut anon = app.ws("/ws/chat/lobby").await;
    let mut first_history = first;
    first_history["history"] = json!(true);
    assert_frame!(anon.recv_json().await, first_history);

    alice.send_json(json!({"message": "hello"})).await;
    let expected = json!({"message": "hello", "user": "alice", "id": 2, "created_at": ""});
    assert_frame!(alice.recv_json().await, expected.clone());
    assert_frame!(anon.recv_json().await, expected);

    anon.send_json(json!({"message": "hi alice", "ignored": true}))
        .await;
    let expected = json!({"message": "hi alice", "user": "anonymous", "id": 3, "created_at": ""});
    assert_frame!(alice.recv_json().await, expected.clone());
    assert_frame!(anon.recv_json().await, expected);

    let mut other_room = app.ws("/ws/chat/elsewhere/").await;
    alice.send_json(json!({"message": "only lobby"})).await;
    alice.recv_json().await;
    anon.recv_json().await;
    other_room.expect_silence(300).await;
}

#[tokio::test]
async fn joiners_get_history_oldest_first_then_live() {
    let app = TestApp::with(&[("HUB_CHAT_HISTORY", "2")]);
    let mut writer = app.ws("/ws/chat/hist/").await;
    for text in ["one", "two", "three"] {
        writer.send_json(json!({"message": text})).await;
        writer.recv_json().await;
    }
    let mut late = app.ws("/ws/chat/hist/").await;
    assert_frame!(
        late.recv_json().await,
        json!({"message": "two", "user": "anonymous", "id": 2, "created_at": "", "history": true})
    );
    assert_frame!(
        late.recv_json().await,
        json!({"message": "three", "user": "anonymous", "id": 3, "created_at": "", "history": true})
    );
    writer.send_json(json!({"message": "four"})).await;
    assert_frame!(
        late.recv_json().await,
        json!({"message": "four", "user": "anonymous", "id": 4, "created_at": ""})
    );
    late.expect_silence(200).await;
}

#[tokio::test]
async fn a_reconnect_with_since_id_gets_what_was_stored_after_it_then_live() {
    let app = TestApp::with(&[("HUB_CHAT_HISTORY", "1")]);
    let mut writer = app.ws("/ws/chat/resume/").await;
    for text in ["one", "two", "three", "four"] {
        writer.send_json(json!({"message": text})).await;
        writer.recv_json().await;
    }
    // It saw "two" last: "three" and "four", not the newest one HUB_CHAT_HISTORY gives.
    let mut back = app.ws("/ws/chat/resume/?since_id=2").await;
    assert_frame!(
        back.recv_json().await,
        json!({"message": "three", "user": "anonymous", "id": 3, "created_at": "", "history": true})
    );
    assert_frame!(
        back.recv_json().await,
        json!({"message": "four", "user": "anonymous", "id": 4, "created_at": "", "history": true})
    );
    writer.send_json(json!({"message": "five"})).await;
    assert_frame!(
        back.recv_json().await,
        json!({"message": "five", "user": "anonymous", "id": 5, "created_at": ""})
    );
    back.expect_silence(200).await;
    // Up to date: nothing replayed.
    let mut current = app.ws("/ws/chat/resume/?since_id=5").await;
    current.expect_silence(200).await;

    for bad in ["-1", "abc", "1.5", ""] {
        assert_eq!(
            common::refused(app.ws_url(&format!("/ws/chat/resume/?since_id={bad}"))).await,
            (
                400,
                json!({"error": "since_id must be a non-negative integer"})
            ),
            "since_id={bad}"
        );
    }
}

#[tokio::test]
async fn a_reconnect_further_behind_than_a_resume_replays_is_told_to_reload() {
    let app = TestApp::with(&[("HUB_RATE_PER_SEC", "100000")]);
    let mut writer = app.ws("/ws/chat/behind/").await;
    let limit = realtime_hub::services::chat::RESUME_LIMIT;
    for i in 0..=limit {
        writer.send_json(json!({"message": format!("m{i}")})).await;
    }
    for _ in 0..=limit {
        writer.recv_json().await;
    }
    let mut far = app.ws("/ws/chat/behind/?since_id=0").await;
    assert_eq!(far.recv_close().await, (4203, "resync required".into()));
    // One message fewer missed is replayed.
    let mut near = app.ws("/ws/chat/behind/?since_id=1").await;
    for id in 2..=limit + 1 {
        assert_eq!(near.recv_json().await["id"], json!(id));
    }
    near.expect_silence(200).await;
}

#[tokio::test]
async fn bad_frames_get_errors_and_the_socket_stays_open() {
    let app = TestApp::spawn();
    let mut ws = app.ws("/ws/chat/errors/").await;
    let cases = [
        ("not json".to_string(), "invalid JSON"),
        (
            r#"{"msg": "x"}"#.to_string(),
            r#"expected {"message": "<text>"}"#,
        ),
        (
            r#"{"message": 42}"#.to_string(),
            r#"expected {"message": "<text>"}"#,
        ),
        (r#"[1, 2]"#.to_string(), r#"expected {"message": "<text>"}"#),
        (
            r#"{"message": ""}"#.to_string(),
            "message must be 1 to 4096 characters",
        ),
        (
            json!({"message": "x".repeat(4097)}).to_string(),
            "message must be 1 to 4096 characters",
        ),
    ];
    for (frame, reason) in cases {
        ws.send_text(&frame).await;
        assert_eq!(
            ws.recv_json().await,
            json!({"error": reason, "user": "system", "message": reason}),
            "for {frame:.40}"
        );
    }
    ws.send_json(json!({"message": "still here"})).await;
    assert_frame!(
        ws.recv_json().await,
        json!({"message": "still here", "user": "anonymous", "id": 1, "created_at": ""})
    );
    // Nothing refused was stored: a newcomer's history holds the one good message.
    let mut late = app.ws("/ws/chat/errors/").await;
    assert_eq!(late.recv_json().await["message"], "still here");
    late.expect_silence(200).await;

    // A binary frame on this text protocol ends the connection with 1003 (RFC 6455 §7.4.1).
    ws.stream
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .unwrap();
    assert_eq!(
        ws.recv_close().await,
        (1003, "binary frames are not supported".into())
    );
}

#[tokio::test]
async fn bad_room_names_are_refused_before_the_upgrade() {
    let app = TestApp::spawn();
    let long = "x".repeat(101);
    for room in ["bad%20room", "caf%C3%A9", long.as_str()] {
        let (status, body) = refused(app.ws_url(&format!("/ws/chat/{room}/"))).await;
        assert_eq!(
            (status, body),
            (400, json!({"error": "invalid room name"})),
            "room {room}"
        );
    }
    let ok = "x".repeat(100);
    app.ws(&format!("/ws/chat/{ok}/")).await;
}

#[tokio::test]
async fn tokens_are_checked_never_downgraded() {
    let app = TestApp::spawn();
    let forged = realtime_hub::auth::Auth::new("another-secret").mint(1, "mallory", None, 60);
    let (status, body) = refused(app.ws_url(&format!("/ws/chat/lobby/?token={forged}"))).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "invalid token signature"}))
    );
    let expired = realtime_hub::auth::Auth::new(common::SECRET).mint(1, "old", None, -10);
    let (status, body) = refused(app.ws_url(&format!("/ws/chat/lobby/?token={expired}"))).await;
    assert_eq!((status, body), (401, json!({"error": "token expired"})));
    let (status, body) = refused(app.ws_url("/ws/chat/lobby/?token=garbage")).await;
    assert_eq!((status, body), (401, json!({"error": "invalid token"})));
}

#[tokio::test]
async fn required_auth_refuses_anonymous_and_accepts_bearer_headers() {
    let app = TestApp::with(&[("HUB_CHAT_REQUIRE_AUTH", "true")]);
    let (status, body) = refused(app.ws_url("/ws/chat/lobby/")).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "authentication required"}))
    );

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = app.ws_url("/ws/chat/lobby/").into_client_request().unwrap();
    let bearer = format!("Bearer {}", app.token(5, "bea"));
    req.headers_mut()
        .insert("Authorization", bearer.parse().unwrap());
    let mut ws = Ws::connect(req).await;
    ws.send_json(json!({"message": "via header"})).await;
    assert_frame!(
        ws.recv_json().await,
        json!({"message": "via header", "user": "bea", "id": 1, "created_at": ""})
    );
}

#[tokio::test]
async fn the_chat_page_is_served_for_valid_rooms() {
    let app = TestApp::spawn();
    for path in ["/chat/lobby/", "/chat/lobby"] {
        let resp = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
        assert!(resp.text().await.unwrap().contains("chat-message-input"));
    }
    let resp = reqwest::get(app.url("/chat/no%20spaces/")).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "invalid room name"})
    );
}
