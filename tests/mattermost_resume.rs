//! Mattermost's reliable reconnect on one node: a client that comes back with its
//! `connection_id` and the `sequence_number` it expects next gets what it missed — what was in
//! flight when the connection broke and what was published while it was away — exactly once,
//! in order, with the original numbers and no `hello`; a number the buffer no longer covers
//! gets a fresh `hello` with a new `connection_id`.

mod common;
mod mm;

use std::time::Duration;

use common::{TestApp, Ws};
use mm::{call, socket, sqlite_url, world, World};
use serde_json::{json, Value};

/// The world, with bob's status set by hand so that his connecting and leaving publish no
/// `status_change` of their own (the events counted below are then all posts).
async fn setup() -> (TestApp, World) {
    let app = TestApp::spawn();
    let w = world(&app, &sqlite_url(&app)).await;
    let set = call(
        &app,
        "PUT",
        &format!("/users/{}/status", w.bob.0),
        Some(&w.bob.1),
        Some(json!({"user_id": w.bob.0, "status": "dnd"})),
    )
    .await;
    assert_eq!(set.status, 200);
    (app, w)
}

async fn say(app: &TestApp, w: &World, message: &str) {
    let r = call(
        app,
        "POST",
        "/posts",
        Some(&w.alice.1),
        Some(json!({"channel_id": w.channel, "message": message})),
    )
    .await;
    assert_eq!(r.status, 201);
}

fn posted(frame: &Value) -> (String, i64) {
    assert_eq!(frame["event"], "posted", "{frame}");
    let post: Value = serde_json::from_str(frame["data"]["post"].as_str().unwrap()).unwrap();
    (
        post["message"].as_str().unwrap().to_string(),
        frame["seq"].as_i64().unwrap(),
    )
}

/// Drops the TCP connection without a close frame, and waits until the server has noticed.
async fn drop_tcp(app: &TestApp, ws: Ws) {
    drop(ws);
    common::eventually(
        Duration::from_secs(5),
        "the server notices the drop",
        || async { app.metric("hub_connections{dialect=\"mattermost\"}").await == 0.0 },
    )
    .await;
}

#[tokio::test]
async fn a_resumed_connection_gets_what_it_missed_exactly_once_in_order() {
    let (app, w) = setup().await;
    let mut bob = socket(&app, &w.bob.1, "?connection_id=&sequence_number=0").await;
    let hello = bob.recv_json().await;
    assert_eq!(
        (hello["event"].as_str(), hello["seq"].as_i64()),
        (Some("hello"), Some(0))
    );
    let id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    say(&app, &w, "one").await;
    assert_eq!(posted(&bob.recv_json().await), ("one".into(), 1));

    // "two" is sent to bob but never read; then the connection breaks; "three" and "four"
    // are posted while he is away.
    say(&app, &w, "two").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop_tcp(&app, bob).await;
    say(&app, &w, "three").await;
    say(&app, &w, "four").await;

    let mut again = socket(
        &app,
        &w.bob.1,
        &format!("?connection_id={id}&sequence_number=2"),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(posted(&again.recv_json().await));
    }
    assert_eq!(
        got,
        vec![("two".into(), 2), ("three".into(), 3), ("four".into(), 4)]
    );
    again.expect_silence(300).await;
    say(&app, &w, "five").await;
    assert_eq!(posted(&again.recv_json().await), ("five".into(), 5));

    // Up to date: nothing replayed, numbering goes on.
    drop_tcp(&app, again).await;
    let mut third = socket(
        &app,
        &w.bob.1,
        &format!("?connection_id={id}&sequence_number=6"),
    )
    .await;
    third.expect_silence(300).await;
    say(&app, &w, "six").await;
    assert_eq!(posted(&third.recv_json().await), ("six".into(), 6));
}

#[tokio::test]
async fn a_sequence_no_longer_covered_gets_a_new_connection_id() {
    let (app, w) = setup().await;
    let mut bob = socket(&app, &w.bob.1, "").await;
    let id = bob.recv_json().await["data"]["connection_id"]
        .as_str()
        .unwrap()
        .to_string();
    drop_tcp(&app, bob).await;
    let mut ahead = socket(
        &app,
        &w.bob.1,
        &format!("?connection_id={id}&sequence_number=50"),
    )
    .await;
    let hello = ahead.recv_json().await;
    assert_eq!(
        (hello["event"].as_str(), hello["seq"].as_i64()),
        (Some("hello"), Some(0))
    );
    assert_ne!(
        hello["data"]["connection_id"],
        json!(id),
        "a new connection id says: refetch"
    );

    // Another user cannot take bob's parked connection, and an unknown id starts afresh.
    drop_tcp(&app, ahead).await;
    let id = hello["data"]["connection_id"].as_str().unwrap().to_string();
    let mut thief = socket(
        &app,
        &w.alice.1,
        &format!("?connection_id={id}&sequence_number=1"),
    )
    .await;
    let hello = thief.recv_json().await;
    assert_eq!(hello["event"], "hello");
    assert_ne!(hello["data"]["connection_id"], json!(id));
    let (status, body) =
        common::refused(app.ws_url("/api/v4/websocket?connection_id=nope&sequence_number=1")).await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "invalid connection_id"}))
    );
}
