//! Several nodes on one Redis and one PostgreSQL behave as one hub, for every dialect: events
//! cross exactly once, in order, never echoed; presence is shared; a node killed with
//! `kill -9` is announced gone by the others; a Redis outage costs nothing committed.
//!
//! Each test has its own `REDIS_PREFIX` and its own database, so they run in parallel on the
//! Redis and PostgreSQL that `scripts/test.sh` starts; the outage tests start a Redis of
//! their own, which they kill and restart.

mod common;
mod mm;

use std::time::Duration;

use common::{
    broadcast_token, eventually, fix_time, presence, redis_prefix, HubProcess, RedisServer,
    TestApp, Ws, SECRET,
};
use realtime_hub::auth::Auth;
use serde_json::{json, Value};

/// Nodes sharing a Redis (`redis`) and a fresh PostgreSQL database.
struct Cluster {
    nodes: Vec<TestApp>,
    prefix: String,
    redis: String,
    /// The nodes' PostgreSQL database.
    db: String,
}

/// The settings every node of a test cluster gets: short presence TTL and linger so that the
/// node-death and resubscription paths run within a test's patience.
fn node_env<'a>(redis: &'a str, prefix: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("REDIS_URL", redis),
        ("REDIS_PREFIX", prefix),
        ("HUB_PRESENCE_TTL_MS", "1000"),
        ("HUB_RELAY_LINGER_MS", "500"),
    ]
}

impl Cluster {
    /// `n` nodes on `redis` (the shared test Redis when `None`); `None` when a service is
    /// missing outside CI.
    fn start(n: usize, redis: Option<String>) -> Option<Cluster> {
        let redis = match redis {
            Some(url) => url,
            None => common::service("TEST_REDIS_URL")?,
        };
        let db = common::fresh_pg_database()?;
        let prefix = redis_prefix();
        let nodes = (0..n)
            .map(|_| TestApp::node(&node_env(&redis, &prefix), Some(db.clone())))
            .collect();
        Some(Cluster {
            nodes,
            prefix,
            redis,
            db,
        })
    }

    fn a(&self) -> &TestApp {
        &self.nodes[0]
    }

    fn b(&self) -> &TestApp {
        &self.nodes[1]
    }

    /// Waits until every node is subscribed to at least `topics` topics in Redis, so that what
    /// is published next reaches them.
    async fn subscribed(&self, topics: usize) {
        for node in &self.nodes {
            eventually(Duration::from_secs(5), "relay subscriptions", || async {
                node.metric("hub_relay_subscriptions").await >= topics as f64
            })
            .await;
        }
    }
}

async fn redis_publish(url: &str, channel: &str, payload: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(&mut conn)
        .await
        .unwrap()
}

// --- chat ------------------------------------------------------------------------------------

#[tokio::test]
async fn chat_crosses_nodes_exactly_once_in_order() {
    let Some(c) = Cluster::start(2, None) else {
        return;
    };
    let mut on_a = c.a().ws("/ws/chat/hall/").await;
    let mut on_b = c.b().ws("/ws/chat/hall/").await;
    on_a.chat_joined().await;
    on_b.chat_joined().await;
    c.subscribed(1).await;

    on_a.send_json(json!({"message": "from a"})).await;
    let got_a = on_a.recv_json().await;
    let got_b = on_b.recv_json().await;
    let mut expected = json!({"message": "from a", "user": "anonymous", "id": 1, "created_at": ""});
    fix_time(&got_a, &mut expected, "/created_at");
    assert_eq!(got_a, expected);
    assert_eq!(got_b, expected);

    // A burst from each side arrives everywhere once, each publisher's messages in order.
    for i in 0..20 {
        on_a.send_json(json!({"message": format!("a{i}")})).await;
        on_b.send_json(json!({"message": format!("b{i}")})).await;
    }
    for ws in [&mut on_a, &mut on_b] {
        let mut from_a = Vec::new();
        let mut from_b = Vec::new();
        for _ in 0..40 {
            let text = ws.recv_json().await["message"]
                .as_str()
                .unwrap()
                .to_string();
            if text.starts_with('a') {
                from_a.push(text);
            } else {
                from_b.push(text);
            }
        }
        let want = |p: &str| (0..20).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        assert_eq!((from_a, from_b), (want("a"), want("b")));
    }
    // No duplicate and no echo within 2 s.
    on_a.expect_silence(2000).await;
    on_b.expect_silence(0).await;
    assert_eq!(c.a().metric("hub_relay_received_total").await, 20.0);
    assert_eq!(c.b().metric("hub_relay_received_total").await, 21.0);
}

#[tokio::test]
async fn a_chat_reconnect_to_another_node_resumes_after_the_last_message_seen() {
    let Some(c) = Cluster::start(2, None) else {
        return;
    };
    let mut writer = c.a().ws("/ws/chat/roam/").await;
    let mut member = c.a().ws("/ws/chat/roam/").await;
    writer.chat_joined().await;
    member.chat_joined().await;
    writer.send_json(json!({"message": "seen"})).await;
    assert_eq!(member.recv_json().await["id"], 1);
    member.close().await;
    writer.send_json(json!({"message": "missed"})).await;
    assert_eq!(writer.recv_json().await["id"], 1);
    assert_eq!(writer.recv_json().await["id"], 2);

    // Back on node b, after the last message it saw: what it missed, then live.
    let mut back = c.b().ws("/ws/chat/roam/?since_id=1").await;
    let missed = back.recv_json().await;
    let mut expected = json!({"message": "missed", "user": "anonymous", "id": 2, "created_at": "", "history": true});
    fix_time(&missed, &mut expected, "/created_at");
    assert_eq!(missed, expected);
    c.subscribed(1).await;
    writer.send_json(json!({"message": "live"})).await;
    let live = back.recv_json().await;
    assert_eq!(
        (live["message"].clone(), live.get("history")),
        (json!("live"), None)
    );
    back.expect_silence(500).await;
}

#[tokio::test]
async fn a_malformed_envelope_is_counted_and_the_relay_goes_on() {
    let Some(c) = Cluster::start(2, None) else {
        return;
    };
    let mut on_a = c.a().ws("/ws/chat/noise/").await;
    let mut on_b = c.b().ws("/ws/chat/noise/").await;
    on_a.chat_joined().await;
    on_b.chat_joined().await;
    c.subscribed(1).await;
    let channel = format!("{}hub:t:chat:noise", c.prefix);
    assert_eq!(
        redis_publish(&c.redis, &channel, "not an envelope").await,
        2
    );
    // An envelope for a topic nobody here has is dropped quietly.
    let stray =
        "{\"v\":1,\"o\":\"00000000000000aa\",\"t\":\"chat:elsewhere\"}\n{\"message\":\"x\"}";
    redis_publish(&c.redis, &channel, stray).await;
    for node in [c.a(), c.b()] {
        eventually(Duration::from_secs(5), "malformed counted", || async {
            node.metrics()
                .await
                .contains("hub_relay_malformed_total{expected=\"envelope\"} 1\n")
        })
        .await;
    }
    on_b.send_json(json!({"message": "still here"})).await;
    assert_eq!(on_a.recv_json().await["message"], "still here");
    assert_eq!(on_b.recv_json().await["message"], "still here");
    on_a.expect_silence(300).await;
}

// --- messages --------------------------------------------------------------------------------

#[tokio::test]
async fn direct_messages_and_receipts_reach_every_socket_on_any_node() {
    let Some(c) = Cluster::start(2, None) else {
        return;
    };
    let (alice, bob) = (c.a().token(1, "alice"), c.a().token(2, "bob"));
    for t in [&alice, &bob] {
        assert_eq!(
            common::api(c.a(), "GET", "/api/communities/", Some(t), None)
                .await
                .0,
            200
        );
    }
    let mut alice_a = c.a().ws(&format!("/ws/messages/?token={alice}")).await;
    let mut bob_b = c.b().ws(&format!("/ws/messages/?token={bob}")).await;
    let mut bob_a = c.a().ws(&format!("/ws/messages/?token={bob}")).await;
    for ws in [&mut alice_a, &mut bob_b, &mut bob_a] {
        assert_eq!(ws.recv_json().await["type"], "connection");
    }
    c.subscribed(1).await;

    let body = json!({"recipient_id": 2, "subject": "hi", "body": "across"});
    let (status, sent) =
        common::api(c.a(), "POST", "/api/messages/", Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{sent}");
    let new = json!({"type": "new_message", "message": sent});
    assert_eq!(alice_a.recv_json().await, new);
    for bob_ws in [&mut bob_b, &mut bob_a] {
        assert_eq!(bob_ws.recv_json().await, new);
        assert_eq!(
            bob_ws.recv_json().await,
            json!({"type": "unread_count", "count": 1})
        );
    }

    // Bob reads it on node B; Alice, on node A, gets the receipt.
    let id = sent["id"].as_i64().unwrap();
    bob_b
        .send_json(json!({"type": "mark_read", "message_id": id}))
        .await;
    let receipt = alice_a.recv_json().await;
    let mut expected = json!({"type": "message_read", "message_id": id, "read_at": ""});
    fix_time(&receipt, &mut expected, "/read_at");
    assert_eq!(receipt, expected);
    for bob_ws in [&mut bob_b, &mut bob_a] {
        assert_eq!(bob_ws.recv_json().await, expected);
        assert_eq!(
            bob_ws.recv_json().await,
            json!({"type": "unread_count", "count": 0})
        );
    }
    alice_a.expect_silence(1000).await;
    bob_b.expect_silence(0).await;
    bob_a.expect_silence(0).await;
}

// --- guitar ----------------------------------------------------------------------------------

async fn guitar_session(app: &TestApp, token: &str) -> String {
    let (status, body) = common::api(
        app,
        "POST",
        "/api/guitar/sessions/",
        Some(token),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn state(chord: Value, connections: usize) -> Value {
    json!({"type": "session_state", "data": {"chord": chord, "practicing": false, "started_at": null, "connections": connections}})
}

fn connection(status: &str) -> Value {
    json!({"type": "connection_update", "data": {"status": status, "user_id": 1}})
}

#[tokio::test]
async fn the_pc_on_one_node_follows_the_phone_on_another() {
    let Some(c) = Cluster::start(2, None) else {
        return;
    };
    let token = c.a().token(1, "ann");
    let id = guitar_session(c.a(), &token).await;
    let mut pc = c.a().ws(&format!("/ws/guitar/{id}/?token={token}")).await;
    // Each newcomer first hears of its own connection, as the seed's group send tells it.
    assert_eq!(pc.recv_json().await, connection("connected"));
    assert_eq!(pc.recv_json().await, state(json!(null), 1));
    let mut phone = c.b().ws(&format!("/ws/guitar/{id}/?token={token}")).await;
    assert_eq!(phone.recv_json().await, connection("connected"));
    // Connections on every node are counted.
    assert_eq!(phone.recv_json().await, state(json!(null), 2));
    c.subscribed(1).await;
    assert_eq!(pc.recv_json().await, connection("connected"));

    phone
        .send_json(json!({"type": "chord_change", "data": {"chord": "Am7"}}))
        .await;
    let got = pc.recv_json().await;
    let mut expected =
        json!({"type": "chord_change", "data": {"chord": "Am7", "user_id": 1, "timestamp": ""}});
    fix_time(&got, &mut expected, "/data/timestamp");
    assert_eq!(got, expected);
    phone.expect_silence(300).await;

    let at = common::at(common::now(), -60, 0);
    phone
        .send_json(json!({"type": "practice_start", "data": {"timestamp": at}}))
        .await;
    let started =
        json!({"type": "practice_update", "data": {"status": "started", "timestamp": at}});
    assert_eq!(phone.recv_json().await, started);
    assert_eq!(pc.recv_json().await, started);

    // Closing the session over REST on node A ends the phone's socket on node B too.
    let (status, _) = common::api(
        c.a(),
        "DELETE",
        &format!("/api/guitar/sessions/{id}/"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let closed = json!({"type": "session_closed", "data": {"session_id": id}});
    for ws in [&mut pc, &mut phone] {
        assert_eq!(ws.recv_json().await, closed);
        assert_eq!(ws.recv_close().await, (4003, "session closed".into()));
    }
}

// --- broadcast -------------------------------------------------------------------------------

async fn broadcast(app: &TestApp, id: i64, name: &str, channel: &str) -> Ws {
    app.ws(&format!(
        "/ws/broadcast/?token={}",
        broadcast_token(id, name, channel)
    ))
    .await
}

#[tokio::test]
async fn broadcast_presence_and_messages_span_the_nodes() {
    let Some(c) = Cluster::start(2, None) else {
        return;
    };
    let mut alice = broadcast(c.a(), 1, "alice", "room:1").await;
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "connected", "users": [{"id": 1, "name": "alice"}]})
    );
    let mut bob = broadcast(c.b(), 2, "bob", "room:1").await;
    let both = json!({"type": "connected", "users": [{"id": 1, "name": "alice"}, {"id": 2, "name": "bob"}]});
    assert_eq!(bob.recv_json().await, both);
    assert_eq!(alice.recv_json().await, presence("connectOther", 2, "bob"));
    // Bob's second connection, on the other node: listed once, announced to nobody.
    let mut bob_again = broadcast(c.a(), 2, "bob", "room:1").await;
    assert_eq!(bob_again.recv_json().await, both);
    c.subscribed(1).await;

    alice
        .send_text(r#"{"data": {"message": "hi", "n": [1, 2.50]}}"#)
        .await;
    assert_eq!(alice.recv_text().await, r#"{"type":"sended","ok":true}"#);
    let message = r#"{"type":"message","sender":{"name":"alice","id":1},"data":{"message": "hi", "n": [1, 2.50]}}"#;
    for ws in [&mut alice, &mut bob, &mut bob_again] {
        assert_eq!(ws.recv_text().await, message);
    }

    // The back end's Redis channel reaches every member once, not once per node.
    let ingress = json!({"channel": "room:1", "type": "message", "data": {"info": "job done"}});
    redis_publish(
        &c.redis,
        &format!("{}broadcast", c.prefix),
        &ingress.to_string(),
    )
    .await;
    let from_system = json!({"type": "message", "sender": {"id": 0, "name": "system"}, "data": {"info": "job done"}});
    for ws in [&mut alice, &mut bob, &mut bob_again] {
        assert_eq!(ws.recv_json().await, from_system);
    }

    // Bob's last connection anywhere leaving is announced once.
    bob_again.close().await;
    alice.expect_silence(500).await;
    bob.close().await;
    assert_eq!(
        alice.recv_json().await,
        presence("disconnectOther", 2, "bob")
    );
    alice.expect_silence(2000).await;
}

// --- a node killed ---------------------------------------------------------------------------

#[tokio::test]
async fn members_of_a_killed_node_are_announced_gone_by_the_others() {
    let Some(redis) = common::service("TEST_REDIS_URL") else {
        return;
    };
    let Some(db) = common::fresh_pg_database() else {
        return;
    };
    let prefix = redis_prefix();
    let mut env = node_env(&redis, &prefix);
    env.push(("DATABASE_URL", &db));
    let survivor = HubProcess::start(&env);
    let mut doomed = HubProcess::start(&env);

    let mut alice = Ws::connect(survivor.ws_url(&format!(
        "/ws/broadcast/?token={}",
        broadcast_token(1, "alice", "room:9")
    )))
    .await;
    alice.recv_json().await;
    let mut bob = Ws::connect(doomed.ws_url(&format!(
        "/ws/broadcast/?token={}",
        broadcast_token(2, "bob", "room:9")
    )))
    .await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "connected", "users": [{"id": 1, "name": "alice"}, {"id": 2, "name": "bob"}]})
    );
    assert_eq!(alice.recv_json().await, presence("connectOther", 2, "bob"));

    // Guitar too: a phone on the doomed node, the PC on the survivor.
    let token = Auth::new(SECRET).mint(1, "ann", None, 3600);
    let client = reqwest::Client::new();
    let created: Value = client
        .post(survivor.url("/api/guitar/sessions/"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let mut pc = Ws::connect(survivor.ws_url(&format!("/ws/guitar/{id}/?token={token}"))).await;
    assert_eq!(pc.recv_json().await, connection("connected"));
    pc.recv_json().await;
    let mut phone = Ws::connect(doomed.ws_url(&format!("/ws/guitar/{id}/?token={token}"))).await;
    assert_eq!(phone.recv_json().await, connection("connected"));
    assert_eq!(phone.recv_json().await, state(json!(null), 2));
    assert_eq!(pc.recv_json().await, connection("connected"));

    doomed.signal("KILL");
    doomed.wait_exit(Duration::from_secs(5)).expect("killed");
    // Within twice the TTL (1 s), plus the reaper's period.
    let deadline = Duration::from_millis(2 * 1000 + 1500);
    let gone = tokio::time::timeout(deadline, alice.recv_json())
        .await
        .expect("bob announced gone in time");
    assert_eq!(gone, presence("disconnectOther", 2, "bob"));
    let gone = tokio::time::timeout(deadline, pc.recv_json())
        .await
        .expect("the phone announced gone in time");
    assert_eq!(gone, connection("disconnected"));

    // Lists no longer show the dead node's members.
    let mut carol = Ws::connect(survivor.ws_url(&format!(
        "/ws/broadcast/?token={}",
        broadcast_token(3, "carol", "room:9")
    )))
    .await;
    assert_eq!(
        carol.recv_json().await,
        json!({"type": "connected", "users": [{"id": 1, "name": "alice"}, {"id": 3, "name": "carol"}]})
    );
    let mut pc2 = Ws::connect(survivor.ws_url(&format!("/ws/guitar/{id}/?token={token}"))).await;
    assert_eq!(pc2.recv_json().await, connection("connected"));
    assert_eq!(pc2.recv_json().await, state(json!(null), 2));
}

// --- Redis outages ---------------------------------------------------------------------------

async fn ready(app: &TestApp) -> (u16, Value) {
    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_redis_outage_loses_nothing_that_was_stored() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let Some(c) = Cluster::start(2, Some(redis.url())) else {
        return;
    };
    let mut on_a = c.a().ws("/ws/chat/outage/").await;
    let mut on_b = c.b().ws("/ws/chat/outage/").await;
    on_a.chat_joined().await;
    on_b.chat_joined().await;
    c.subscribed(1).await;
    on_a.send_json(json!({"message": "before"})).await;
    assert_eq!(on_a.recv_json().await["message"], "before");
    assert_eq!(on_b.recv_json().await["message"], "before");

    redis.kill();
    for node in [c.a(), c.b()] {
        eventually(Duration::from_secs(5), "relay down", || async {
            node.metric("hub_relay_connected").await == 0.0
        })
        .await;
        assert_eq!(
            ready(node).await,
            (
                503,
                json!({"error": "redis unavailable", "database": "ok", "redis": "unavailable"})
            )
        );
    }
    // Each node goes on serving its own members; what is sent is stored.
    on_b.send_json(json!({"message": "gap 1 from b"})).await;
    on_a.send_json(json!({"message": "gap from a"})).await;
    on_b.send_json(json!({"message": "gap 2 from b"})).await;
    assert_eq!(on_a.recv_json().await["message"], "gap from a");
    assert_eq!(on_b.recv_json().await["message"], "gap 1 from b");
    assert_eq!(on_b.recv_json().await["message"], "gap 2 from b");

    redis.resume();
    // Back within 5 s: what the other node stored meanwhile arrives from the database, in
    // order, once.
    let caught_a = tokio::time::timeout(Duration::from_secs(5), async {
        [on_a.recv_json().await, on_a.recv_json().await]
    })
    .await
    .expect("node A caught up within 5 s");
    assert_eq!(
        caught_a.map(|m| m["message"].clone()),
        [json!("gap 1 from b"), json!("gap 2 from b")]
    );
    let caught_b = tokio::time::timeout(Duration::from_secs(5), on_b.recv_json())
        .await
        .expect("node B caught up within 5 s");
    assert_eq!(caught_b["message"], "gap from a");
    on_a.expect_silence(1500).await;
    on_b.expect_silence(0).await;

    // Live delivery across nodes is back.
    c.subscribed(1).await;
    on_b.send_json(json!({"message": "after"})).await;
    assert_eq!(on_b.recv_json().await["message"], "after");
    assert_eq!(on_a.recv_json().await["message"], "after");
    assert_eq!(ready(c.a()).await.0, 200);
    assert!(c.a().metric("hub_relay_errors_total").await >= 1.0);
    assert_eq!(c.a().metric("hub_relay_connected").await, 1.0);
}

#[tokio::test]
async fn direct_messages_and_guitar_state_stored_during_an_outage_arrive_after_it() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let Some(c) = Cluster::start(2, Some(redis.url())) else {
        return;
    };
    let (alice, bob) = (c.a().token(1, "alice"), c.a().token(2, "bob"));
    for t in [&alice, &bob] {
        common::api(c.a(), "GET", "/api/communities/", Some(t), None).await;
    }
    let mut alice_a = c.a().ws(&format!("/ws/messages/?token={alice}")).await;
    alice_a.recv_json().await;
    let mut bob_b = c.b().ws(&format!("/ws/messages/?token={bob}")).await;
    bob_b.recv_json().await;
    let id = guitar_session(c.a(), &alice).await;
    let mut pc = c.b().ws(&format!("/ws/guitar/{id}/?token={alice}")).await;
    assert_eq!(pc.recv_json().await, connection("connected"));
    pc.recv_json().await;
    let mut phone = c.a().ws(&format!("/ws/guitar/{id}/?token={alice}")).await;
    assert_eq!(phone.recv_json().await, connection("connected"));
    phone.recv_json().await;
    c.subscribed(2).await;
    assert_eq!(pc.recv_json().await, connection("connected"));
    // A message Bob will read during the outage.
    let body = json!({"recipient_id": 2, "subject": "early", "body": "before the outage"});
    let (_, early) = common::api(c.a(), "POST", "/api/messages/", Some(&alice), Some(body)).await;
    assert_eq!(alice_a.recv_json().await["type"], "new_message");
    assert_eq!(bob_b.recv_json().await["type"], "new_message");
    assert_eq!(bob_b.recv_json().await["type"], "unread_count");

    redis.kill();
    for node in [c.a(), c.b()] {
        eventually(Duration::from_secs(5), "relay down", || async {
            node.metric("hub_relay_connected").await == 0.0
        })
        .await;
    }
    // Bob reads on node B (his socket there hears it at once) ...
    let read_path = format!("/api/messages/{}/read/", early["id"]);
    let (status, _) = common::api(c.b(), "POST", &read_path, Some(&bob), None).await;
    assert_eq!(status, 200);
    assert_eq!(bob_b.recv_json().await["type"], "message_read");
    assert_eq!(
        bob_b.recv_json().await,
        json!({"type": "unread_count", "count": 0})
    );
    // ... Alice writes again on node A, and the phone changes chord and starts practising.
    let body = json!({"recipient_id": 2, "subject": "gap", "body": "sent while redis was down"});
    let (status, sent) =
        common::api(c.a(), "POST", "/api/messages/", Some(&alice), Some(body)).await;
    assert_eq!(status, 201);
    assert_eq!(alice_a.recv_json().await["type"], "new_message");
    phone
        .send_json(json!({"type": "chord_change", "data": {"chord": "G7"}}))
        .await;
    phone
        .send_json(json!({"type": "practice_start", "data": {}}))
        .await;
    assert_eq!(phone.recv_json().await["type"], "practice_update");
    bob_b.expect_silence(300).await;
    alice_a.expect_silence(0).await;
    pc.expect_silence(0).await;

    redis.resume();
    let got = tokio::time::timeout(Duration::from_secs(5), bob_b.recv_json())
        .await
        .expect("Bob's message arrived within 5 s");
    assert_eq!(got, json!({"type": "new_message", "message": sent}));
    assert_eq!(
        bob_b.recv_json().await,
        json!({"type": "unread_count", "count": 1})
    );
    let receipt = tokio::time::timeout(Duration::from_secs(5), alice_a.recv_json())
        .await
        .expect("the receipt reached Alice within 5 s");
    let mut expected = json!({"type": "message_read", "message_id": early["id"], "read_at": ""});
    fix_time(&receipt, &mut expected, "/read_at");
    assert_eq!(receipt, expected);
    let chord = tokio::time::timeout(Duration::from_secs(5), pc.recv_json())
        .await
        .expect("the chord arrived within 5 s");
    assert_eq!(
        (chord["type"].clone(), chord["data"]["chord"].clone()),
        (json!("chord_change"), json!("G7"))
    );
    let practice = pc.recv_json().await;
    assert_eq!(
        (practice["type"].clone(), practice["data"]["status"].clone()),
        (json!("practice_update"), json!("started"))
    );
    // Nothing twice, though both nodes reported the gap.
    bob_b.expect_silence(1500).await;
    alice_a.expect_silence(0).await;
    pc.expect_silence(0).await;
}

#[tokio::test]
async fn a_node_starts_without_redis_and_joins_when_it_comes() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    redis.kill();
    let Some(c) = Cluster::start(2, Some(redis.url())) else {
        return;
    };
    assert_eq!(
        ready(c.a()).await,
        (
            503,
            json!({"error": "redis unavailable", "database": "ok", "redis": "unavailable"})
        )
    );
    // Local service works without Redis.
    let mut on_a = c.a().ws("/ws/chat/late/").await;
    let mut on_b = c.b().ws("/ws/chat/late/").await;
    on_a.chat_joined().await;
    on_b.chat_joined().await;
    on_a.send_json(json!({"message": "alone"})).await;
    assert_eq!(on_a.recv_json().await["message"], "alone");

    redis.resume();
    for node in &c.nodes {
        eventually(Duration::from_secs(5), "relay up", || async {
            node.metric("hub_relay_connected").await == 1.0
        })
        .await;
    }
    // What was stored before the relay joined reaches the other node once.
    assert_eq!(on_b.recv_json().await["message"], "alone");
    c.subscribed(1).await;
    on_b.send_json(json!({"message": "together"})).await;
    assert_eq!(on_b.recv_json().await["message"], "together");
    assert_eq!(on_a.recv_json().await["message"], "together");
    on_a.expect_silence(500).await;
    assert_eq!(ready(c.a()).await.0, 200);
}

// --- mattermost ------------------------------------------------------------------------------

/// A Mattermost socket on `node`, authenticated by header; its `hello` is read.
async fn mm_socket(node: &TestApp, token: &str) -> Ws {
    let mut ws = mm::socket(node, token, "").await;
    assert_eq!(ws.recv_json().await["event"], "hello");
    ws
}

fn mm_status_change(user: &str, status: &str, seq: u64) -> Value {
    json!({
        "event": "status_change", "data": {"status": status, "user_id": user},
        "broadcast": {"omit_users": null, "user_id": user, "channel_id": "", "team_id": "", "connection_id": "", "omit_connection_id": ""},
        "seq": seq
    })
}

/// `user`'s status as `node` reads it over REST.
async fn mm_status(node: &TestApp, token: &str, user: &str) -> Value {
    let got = mm::call(
        node,
        "GET",
        &format!("/users/{user}/status"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(got.status, 200);
    let at = got.json["last_activity_at"].clone();
    assert!(at.is_i64());
    let status = got.json["status"].clone();
    assert_eq!(
        got.json,
        json!({"user_id": user, "status": status, "manual": false, "last_activity_at": at, "dnd_end_time": 0})
    );
    status
}

#[tokio::test]
async fn a_mattermost_user_is_online_while_any_node_has_a_socket_of_theirs() {
    let Some(c) = Cluster::start(2, None) else {
        return;
    };
    let w = mm::world(c.a(), &c.db).await;
    let ((alice, alice_token), (bob, bob_token)) = (&w.alice, &w.bob);
    let mut watcher = mm_socket(c.a(), alice_token).await;
    assert_eq!(
        watcher.recv_json().await,
        mm_status_change(alice, "online", 1)
    );

    // Bob's first socket, on node a, makes him online: he and his channel peer hear it.
    let mut on_a = mm_socket(c.a(), bob_token).await;
    assert_eq!(on_a.recv_json().await, mm_status_change(bob, "online", 1));
    assert_eq!(
        watcher.recv_json().await,
        mm_status_change(bob, "online", 2)
    );
    // His second, on node b, changes nothing; nor does closing the first.
    let mut on_b = mm_socket(c.b(), bob_token).await;
    on_a.close().await;
    watcher.expect_silence(1000).await;
    on_b.expect_silence(0).await;
    assert_eq!(mm_status(c.a(), alice_token, bob).await, "online");
    assert_eq!(mm_status(c.b(), alice_token, bob).await, "online");

    // His last socket anywhere leaving makes him offline, heard on the other node.
    on_b.close().await;
    assert_eq!(
        watcher.recv_json().await,
        mm_status_change(bob, "offline", 3)
    );
    assert_eq!(mm_status(c.b(), alice_token, bob).await, "offline");
}

#[tokio::test]
async fn a_mattermost_user_whose_only_node_died_is_offline() {
    let Some(redis) = common::service("TEST_REDIS_URL") else {
        return;
    };
    let Some(db) = common::fresh_pg_database() else {
        return;
    };
    let prefix = redis_prefix();
    let env = node_env(&redis, &prefix);
    let survivor = TestApp::node(&env, Some(db.clone()));
    let w = mm::world(&survivor, &db).await;
    let ((alice, alice_token), (bob, bob_token)) = (&w.alice, &w.bob);
    let mut watcher = mm_socket(&survivor, alice_token).await;
    assert_eq!(
        watcher.recv_json().await,
        mm_status_change(alice, "online", 1)
    );

    let mut env = env;
    env.push(("DATABASE_URL", &db));
    let mut doomed = HubProcess::start(&env);
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        doomed.ws_url("/api/v4/websocket"),
    )
    .unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {bob_token}").parse().unwrap(),
    );
    let mut on_doomed = Ws::connect(req).await;
    assert_eq!(on_doomed.recv_json().await["event"], "hello");
    assert_eq!(
        on_doomed.recv_json().await,
        mm_status_change(bob, "online", 1)
    );
    assert_eq!(
        watcher.recv_json().await,
        mm_status_change(bob, "online", 2)
    );

    // kill -9: no close, no farewell of its own; the survivor reaps it within 2 x TTL.
    doomed.signal("KILL");
    doomed.wait_exit(Duration::from_secs(5)).expect("killed");
    assert_eq!(
        watcher.recv_json().await,
        mm_status_change(bob, "offline", 3)
    );
    assert_eq!(mm_status(&survivor, alice_token, bob).await, "offline");
}
