//! The broadcast dialect (seeds/004) over the real server, a real WebSocket client and a real
//! Redis, with exact frames.

mod common;

use std::time::Duration;

use common::{broadcast_token as token, presence, refused, TestApp, Ws, SECRET};
use realtime_hub::auth::Auth;
use serde_json::{json, Value};

async fn join(app: &TestApp, id: i64, name: &str, channel: &str) -> Ws {
    app.ws(&format!(
        "/ws/broadcast/?token={}",
        token(id, name, channel)
    ))
    .await
}

#[tokio::test]
async fn presence_is_per_user_not_per_connection() {
    let app = TestApp::spawn();
    let mut alice = join(&app, 1, "alice", "room:7").await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "connected", "users": [{"id": 1, "name": "alice"}]})
    );

    let mut bob = join(&app, 2, "bob", "room:7").await;
    let both = json!({"type": "connected", "users": [{"id": 1, "name": "alice"}, {"id": 2, "name": "bob"}]});
    assert_eq!(bob.recv_json().await, both);
    assert_eq!(alice.recv_json().await, presence("connectOther", 2, "bob"));

    // Bob's second connection: listed once, announced to nobody.
    let mut bob_again = join(&app, 2, "bob", "room:7").await;
    assert_eq!(bob_again.recv_json().await, both);
    alice.expect_silence(200).await;
    bob.expect_silence(0).await;

    bob_again.close().await;
    alice.expect_silence(300).await;
    bob.close().await;
    assert_eq!(
        alice.recv_json().await,
        presence("disconnectOther", 2, "bob")
    );

    // Another channel sees none of it.
    let mut other = join(&app, 3, "cy", "room:8").await;
    assert_eq!(
        other.recv_json().await,
        json!({"type": "connected", "users": [{"id": 3, "name": "cy"}]})
    );
}

#[tokio::test]
async fn data_is_acknowledged_and_passed_through_untouched() {
    let app = TestApp::spawn();
    let mut alice = join(&app, 1, "alice", "chat:1,2").await;
    alice.recv_json().await;
    let mut bob = join(&app, 2, "bob", "chat:1,2").await;
    bob.recv_json().await;
    alice.recv_json().await; // connectOther

    alice
        .send_text(
            r#"{"data": {"message": "hi", "name": "alice", "z": {"b": [1, 2.50]}, "a": null}}"#,
        )
        .await;
    assert_eq!(alice.recv_text().await, r#"{"type":"sended","ok":true}"#);
    let expected = r#"{"type":"message","sender":{"name":"alice","id":1},"data":{"message": "hi", "name": "alice", "z": {"b": [1, 2.50]}, "a": null}}"#;
    assert_eq!(alice.recv_text().await, expected);
    assert_eq!(bob.recv_text().await, expected);

    let tweet = json!({"tweet": {"id": 9, "content": "hello", "created_at": "2024-01-01T00:00:00Z", "user": {"id": 2, "name": "bob"}}});
    bob.send_json(json!({"data": tweet})).await;
    assert_eq!(bob.recv_json().await, json!({"type": "sended", "ok": true}));
    let frame = json!({"type": "message", "sender": {"name": "bob", "id": 2}, "data": tweet});
    assert_eq!(bob.recv_json().await, frame);
    assert_eq!(alice.recv_json().await, frame);
}

#[tokio::test]
async fn target_user_id_narrows_delivery_to_that_user_and_the_sender() {
    let app = TestApp::spawn();
    let mut members = Vec::new();
    for (id, name) in [(1, "alice"), (2, "bob"), (3, "carol")] {
        let mut ws = join(&app, id, name, "chat:dm").await;
        ws.recv_json().await;
        members.push(ws);
    }
    for (i, ws) in members.iter_mut().enumerate() {
        for _ in i + 1..3 {
            ws.recv_json().await; // connectOther of later arrivals
        }
    }
    let data = json!({"message": "psst", "name": "alice", "target_user_id": 2});
    members[0].send_json(json!({"data": data})).await;
    assert_eq!(
        members[0].recv_json().await,
        json!({"type": "sended", "ok": true})
    );
    let frame = json!({"type": "message", "sender": {"name": "alice", "id": 1}, "data": data});
    assert_eq!(members[0].recv_json().await, frame);
    assert_eq!(members[1].recv_json().await, frame);
    members[2].expect_silence(300).await;
}

#[tokio::test]
async fn bad_frames_are_refused_and_the_socket_stays_open() {
    let app = TestApp::spawn();
    let mut ws = join(&app, 1, "alice", "chat").await;
    ws.recv_json().await;
    let cases = [
        ("nope", "invalid JSON"),
        ("[1,2]", "expected {\"data\": {…}}"),
        (r#"{"data": 5}"#, "expected {\"data\": {…}}"),
        (r#"{"message": "no data"}"#, "expected {\"data\": {…}}"),
        (
            r#"{"data": {"target_user_id": "two"}}"#,
            "target_user_id must be an integer",
        ),
    ];
    for (frame, reason) in cases {
        ws.send_text(frame).await;
        assert_eq!(
            ws.recv_json().await,
            json!({"type": "sended", "ok": false, "error": reason}),
            "{frame}"
        );
    }
    ws.send_json(json!({"data": {"still": "open"}})).await;
    assert_eq!(ws.recv_json().await, json!({"type": "sended", "ok": true}));
    assert_eq!(ws.recv_json().await["data"], json!({"still": "open"}));
}

#[tokio::test]
async fn handshakes_need_a_token_with_a_valid_channel() {
    let app = TestApp::spawn();
    let url = |t: &str| app.ws_url(&format!("/ws/broadcast/?token={t}"));
    assert_eq!(
        refused(app.ws_url("/ws/broadcast/")).await,
        (401, json!({"error": "authentication required"}))
    );
    let no_channel = Auth::new(SECRET).mint(1, "a", None, 60);
    assert_eq!(
        refused(url(&no_channel)).await,
        (401, json!({"error": "token has no channel"}))
    );
    assert_eq!(
        refused(url(&token(1, "a", "bad channel"))).await,
        (400, json!({"error": "invalid channel name"}))
    );
    assert_eq!(
        refused(url(&token(1, "a", "chat:1,"))).await,
        (400, json!({"error": "invalid channel name"}))
    );
    let expired = Auth::new(SECRET).mint(1, "a", Some("chat"), -5);
    assert_eq!(
        refused(url(&expired)).await,
        (401, json!({"error": "token expired"}))
    );
    // Without the trailing slash too.
    let mut ws = app
        .ws(&format!("/ws/broadcast?token={}", token(1, "a", "chat")))
        .await;
    assert_eq!(ws.recv_json().await["type"], "connected");
}

async fn post(app: &TestApp, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(app.url("/api/broadcast/"))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn the_http_endpoint_needs_the_api_key() {
    let closed = TestApp::spawn();
    let body = r#"{"channel":"jobs:1","data":{},"type":"message"}"#;
    assert_eq!(
        post(&closed, Some("anything"), body).await,
        (
            403,
            json!({"error": "broadcast API disabled: HUB_API_KEY is not set"})
        )
    );

    let app = TestApp::with(&[("HUB_API_KEY", "k3y")]);
    let mut member = join(&app, 5, "eve", "jobs:1").await;
    member.recv_json().await;
    assert_eq!(
        post(&app, None, body).await,
        (401, json!({"error": "invalid API key"}))
    );
    assert_eq!(
        post(&app, Some("wrong"), body).await,
        (401, json!({"error": "invalid API key"}))
    );
    assert_eq!(
        post(&app, Some("k3y"), "{nope").await,
        (400, json!({"error": "invalid JSON"}))
    );
    assert_eq!(
        post(&app, Some("k3y"), r#"{"channel":"jobs:1","data":{}}"#).await,
        (422, json!({"error": "type must be \"message\""}))
    );
    member.expect_silence(100).await;

    let progress = json!({"info": {"type": "sample_job_progress", "title": "Import", "detail": {"cursor": 3, "total": 10}}});
    let body = json!({"channel": "jobs:1", "data": progress, "type": "message"}).to_string();
    assert_eq!(
        post(&app, Some("k3y"), &body).await,
        (202, json!({"ok": true}))
    );
    assert_eq!(
        member.recv_json().await,
        json!({"type": "message", "sender": {"name": "system", "id": 0}, "data": progress})
    );
}

async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Waits until the hub's subscriber is listening on `channel` (no blind sleep).
async fn await_subscriber(conn: &mut redis::aio::MultiplexedConnection, channel: &str) {
    for _ in 0..200 {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async(conn)
            .await
            .unwrap();
        if counts.first().is_some_and(|(_, n)| *n >= 1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the hub never subscribed to {channel}");
}

#[tokio::test]
async fn laravel_publishes_through_redis() {
    let Some(url) = common::service("TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("t{:x}_", rand::random::<u32>());
    let app = TestApp::with(&[("REDIS_URL", &url), ("REDIS_PREFIX", &prefix)]);
    let mut conn = redis_connection(&url).await;
    let channel = format!("{prefix}broadcast");
    await_subscriber(&mut conn, &channel).await;

    let mut alice = join(&app, 1, "alice", "chat:1,2").await;
    alice.recv_json().await;
    let mut bob = join(&app, 2, "bob", "chat:1,2").await;
    bob.recv_json().await;
    alice.recv_json().await;

    let publish = |payload: String| {
        let mut conn = conn.clone();
        let channel = channel.clone();
        async move {
            let _: i64 = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(payload)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    };
    // Garbage first: counted, logged, and the subscriber carries on.
    publish("not json".into()).await;
    publish(r#"{"channel":"chat:1,2","data":[],"type":"message"}"#.into()).await;
    let chat = json!({"message": "from laravel", "name": "admin"});
    publish(json!({"channel": "chat:1,2", "data": chat, "type": "message"}).to_string()).await;
    let frame = json!({"type": "message", "sender": {"name": "system", "id": 0}, "data": chat});
    assert_eq!(alice.recv_json().await, frame);
    assert_eq!(bob.recv_json().await, frame);

    let private = json!({"message": "for bob", "name": "admin", "target_user_id": 2});
    let sender = json!({"id": 99, "name": "admin"});
    publish(
        json!({"channel": "chat:1,2", "data": private, "type": "message", "sender": sender})
            .to_string(),
    )
    .await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "message", "sender": {"name": "admin", "id": 99}, "data": private})
    );
    alice.expect_silence(300).await;

    let text = app.metrics().await;
    assert!(
        text.contains("hub_broadcast_ingress_total{source=\"redis\",result=\"malformed\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("hub_broadcast_ingress_total{source=\"redis\",result=\"ok\"} 2"),
        "{text}"
    );
    let ready: Value = reqwest::get(app.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready,
        json!({"status": "ready", "database": "ok", "redis": "ok"})
    );
}

#[tokio::test]
async fn a_missing_redis_makes_the_node_unready_not_down() {
    // A port nobody listens on: the subscriber retries in the background.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", dead.local_addr().unwrap());
    drop(dead);
    let app = TestApp::with(&[("REDIS_URL", &url)]);
    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "redis unavailable", "database": "ok", "redis": "unavailable"})
    );
    let mut a = join(&app, 1, "alice", "chat").await;
    assert_eq!(a.recv_json().await["type"], "connected");
    a.send_json(json!({"data": {"local": "delivery goes on"}}))
        .await;
    assert_eq!(a.recv_json().await, json!({"type": "sended", "ok": true}));
    assert_eq!(
        a.recv_json().await["data"],
        json!({"local": "delivery goes on"})
    );
}

/// A redis-server of the test's own, to take away and bring back.
struct OwnRedis {
    port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> Option<OwnRedis> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(child) => Some(OwnRedis { port, child }),
            Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("redis-server is missing and CI=true")
            }
            Err(_) => {
                eprintln!("skipped: redis-server is not installed");
                None
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect_retrying(url: &str) -> redis::aio::MultiplexedConnection {
    for _ in 0..100 {
        if let Ok(client) = redis::Client::open(url) {
            if let Ok(conn) = client.get_multiplexed_async_connection().await {
                return conn;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("redis at {url} never came up");
}

#[tokio::test]
async fn the_subscriber_comes_back_after_redis_restarts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(redis) = OwnRedis::start(port) else {
        return;
    };
    let url = redis.url();
    let mut conn = connect_retrying(&url).await;
    let app = TestApp::with(&[("REDIS_URL", &url)]);
    await_subscriber(&mut conn, "broadcast").await;
    let mut member = join(&app, 1, "alice", "jobs").await;
    member.recv_json().await;

    redis.stop();
    let down = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(down.status(), 503);
    let redis = OwnRedis::start(port).unwrap();
    let mut conn = connect_retrying(&redis.url()).await;
    await_subscriber(&mut conn, "broadcast").await;

    let data = json!({"after": "restart"});
    let _: i64 = redis::cmd("PUBLISH")
        .arg("broadcast")
        .arg(json!({"channel": "jobs", "data": data, "type": "message"}).to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        member.recv_json().await,
        json!({"type": "message", "sender": {"name": "system", "id": 0}, "data": data})
    );
    assert_eq!(
        reqwest::get(app.url("/readyz")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn every_node_subscribes_and_members_get_each_redis_message_once() {
    let Some(url) = common::service("TEST_REDIS_URL") else {
        return;
    };
    let prefix = format!("n{:x}_", rand::random::<u32>());
    let env = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_PREFIX", prefix.as_str()),
    ];
    let bus = realtime_hub::relay::local::LocalBus::default();
    let node_a = TestApp::on_bus(&env, bus.clone(), None);
    let node_b = TestApp::on_bus(&env, bus, None);
    let mut conn = redis_connection(&url).await;
    let channel = format!("{prefix}broadcast");
    for _ in 0..200 {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&channel)
            .query_async(&mut conn)
            .await
            .unwrap();
        if counts.first().is_some_and(|(_, n)| *n >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut on_a = join(&node_a, 1, "alice", "news").await;
    on_a.recv_json().await;
    let mut on_b = join(&node_b, 2, "bob", "news").await;
    on_b.recv_json().await;
    let data = json!({"headline": "once"});
    let _: i64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(json!({"channel": "news", "data": data, "type": "message"}).to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    let frame = json!({"type": "message", "sender": {"name": "system", "id": 0}, "data": data});
    assert_eq!(on_a.recv_json().await, frame);
    assert_eq!(on_b.recv_json().await, frame);
    on_a.expect_silence(300).await;
    on_b.expect_silence(0).await;
}
