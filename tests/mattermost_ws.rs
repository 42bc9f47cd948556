//! The Mattermost socket (seeds/002): authentication by header, cookie, query or challenge
//! (with and without `seq`), `hello`, per-connection `seq`, replies, the router's refusals,
//! and the events REST and socket operations publish, compared as exact JSON.

mod common;
mod mm;

use common::{TestApp, Ws};
use mm::{call, post, sqlite_url, world, World};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A socket authenticated by `Authorization: Bearer`.
async fn socket(app: &TestApp, token: &str) -> Ws {
    mm::socket(app, token, "").await
}

/// Checks a `hello` for `user` with sequence 0; returns its connection id.
fn hello(got: &Value, user: &str) -> String {
    let id = got["data"]["connection_id"]
        .as_str()
        .expect("connection_id")
        .to_string();
    assert!(mm::is_id(&json!(id)));
    assert!(got["data"]["server_hostname"].is_string());
    assert_eq!(
        got,
        &json!({
            "event": "hello",
            "data": {"connection_id": id, "server_version": "10.5.0.0.realtime-hub.false", "server_hostname": got["data"]["server_hostname"]},
            "broadcast": {"omit_users": null, "user_id": user, "channel_id": "", "team_id": "", "connection_id": "", "omit_connection_id": ""},
            "seq": 0
        })
    );
    id
}

/// Reads `hello` and the socket's own `status_change` to online (seq 1) that follows it.
async fn hello_online(ws: &mut Ws, user: &str) -> String {
    let id = hello(&ws.recv_json().await, user);
    assert_eq!(ws.recv_json().await, status_change(user, "online", 1));
    id
}

fn to_channel(channel: &str) -> Value {
    json!({"omit_users": null, "user_id": "", "channel_id": channel, "team_id": "", "connection_id": "", "omit_connection_id": ""})
}

async fn setup() -> (TestApp, World) {
    let app = TestApp::spawn();
    let w = world(&app, &sqlite_url(&app)).await;
    (app, w)
}

#[tokio::test]
async fn posts_made_over_rest_reach_the_other_members_numbered_per_connection() {
    let (app, w) = setup().await;
    let mut bob = socket(&app, &w.bob.1).await;
    hello_online(&mut bob, &w.bob.0).await;

    let created = call(
        &app,
        "POST",
        "/posts",
        Some(&w.alice.1),
        Some(json!({"channel_id": w.channel, "message": "hi bob", "pending_post_id": "p:1"})),
    )
    .await;
    assert_eq!(created.status, 201);
    let got = bob.recv_json().await;
    let post_json: Value = serde_json::from_str(
        got["data"]["post"]
            .as_str()
            .expect("data.post is a JSON string"),
    )
    .unwrap();
    assert_eq!(post_json, created.json);
    assert_eq!(
        got,
        json!({
            "event": "posted",
            "data": {
                "channel_display_name": "Town Square", "channel_name": "town-square", "channel_type": "O",
                "post": got["data"]["post"], "sender_name": "@alice", "set_online": true, "team_id": w.team,
                "channel_id": w.channel
            },
            "broadcast": to_channel(&w.channel),
            "seq": 2
        })
    );
    let id = created.json["id"].as_str().unwrap();
    let edited = call(
        &app,
        "PUT",
        &format!("/posts/{id}/patch"),
        Some(&w.alice.1),
        Some(json!({"message": "hi again"})),
    )
    .await;
    let got = bob.recv_json().await;
    assert_eq!(
        serde_json::from_str::<Value>(got["data"]["post"].as_str().unwrap()).unwrap(),
        edited.json
    );
    assert_eq!(
        got,
        json!({"event": "post_edited", "data": {"post": got["data"]["post"], "channel_id": w.channel}, "broadcast": to_channel(&w.channel), "seq": 3})
    );
    call(
        &app,
        "DELETE",
        &format!("/posts/{id}"),
        Some(&w.alice.1),
        None,
    )
    .await;
    let got = bob.recv_json().await;
    let deleted: Value = serde_json::from_str(got["data"]["post"].as_str().unwrap()).unwrap();
    assert!(deleted["delete_at"].as_i64().unwrap() > 0);
    let mut expected = post(&deleted, &w.alice.0, &w.channel, "hi again");
    expected["pending_post_id"] = json!("p:1");
    assert_eq!(deleted, expected);
    assert_eq!(
        got,
        json!({"event": "post_deleted", "data": {"post": got["data"]["post"], "channel_id": w.channel}, "broadcast": to_channel(&w.channel), "seq": 4})
    );
}

#[tokio::test]
async fn the_challenge_authenticates_with_or_without_seq_and_only_once() {
    let (app, w) = setup().await;
    let mut official = app
        .ws("/api/v4/websocket?connection_id=&sequence_number=0")
        .await;
    official
        .send_json(
            json!({"seq": 1, "action": "authentication_challenge", "data": {"token": w.bob.1}}),
        )
        .await;
    hello(&official.recv_json().await, &w.bob.0);
    assert_eq!(
        official.recv_json().await,
        json!({"status": "OK", "seq_reply": 1})
    );
    assert_eq!(
        official.recv_json().await,
        status_change(&w.bob.0, "online", 1)
    );
    official
        .send_json(
            json!({"seq": 2, "action": "authentication_challenge", "data": {"token": w.alice.1}}),
        )
        .await;
    official
        .send_json(json!({"seq": 3, "action": "ping"}))
        .await;
    let pong = official.recv_json().await;
    assert_eq!(
        pong["seq_reply"], 3,
        "the second challenge is ignored without a reply: {pong}"
    );
    let t = pong["data"]["server_time"].as_i64().unwrap();
    assert_eq!(
        pong,
        json!({"status": "OK", "seq_reply": 3, "data": {"text": "pong", "version": "10.5.0", "server_time": t, "node_id": ""}})
    );

    // The seed's client: no seq.
    let mut seed = app.ws("/api/v4/websocket").await;
    seed.send_json(json!({"action": "authentication_challenge", "data": {"token": w.alice.1}}))
        .await;
    hello(&seed.recv_json().await, &w.alice.0);
    assert_eq!(seed.recv_json().await, json!({"status": "OK"}));
    assert_eq!(
        seed.recv_json().await,
        status_change(&w.alice.0, "online", 1)
    );
}

#[tokio::test]
async fn tokens_are_read_from_the_cookie_and_the_query_too() {
    let (app, w) = setup().await;
    let mut q = app
        .ws(&format!("/api/v4/websocket?access_token={}", w.bob.1))
        .await;
    hello(&q.recv_json().await, &w.bob.0);
    let mut req = app
        .ws_url("/api/v4/websocket/")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Cookie",
        format!("MMAUTHTOKEN={}", w.alice.1).parse().unwrap(),
    );
    let mut c = Ws::connect(req).await;
    hello(&c.recv_json().await, &w.alice.0);
    let mut req = app
        .ws_url("/api/v4/websocket")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Authorization",
        format!("Token {}", w.alice.1).parse().unwrap(),
    );
    let mut t = Ws::connect(req).await;
    hello(&t.recv_json().await, &w.alice.0);
}

#[tokio::test]
async fn the_router_refuses_bad_requests_and_the_socket_stays_open() {
    let (app, w) = setup().await;
    let mut ws = app.ws("/api/v4/websocket").await;
    ws.send_json(json!({"seq": 1, "action": "ping"})).await;
    assert_eq!(
        ws.recv_json().await,
        json!({"status": "FAIL", "seq_reply": 1, "error": {"id": "api.web_socket_router.not_authenticated.app_error", "message": "Connection is not authenticated. Please log in and try again.", "detailed_error": "", "status_code": 401}})
    );
    ws.send_json(
        json!({"seq": 2, "action": "authentication_challenge", "data": {"token": w.bob.1}}),
    )
    .await;
    hello(&ws.recv_json().await, &w.bob.0);
    assert_eq!(
        ws.recv_json().await,
        json!({"status": "OK", "seq_reply": 2})
    );
    assert_eq!(ws.recv_json().await, status_change(&w.bob.0, "online", 1));
    ws.send_json(json!({"seq": 3, "action": "no_such_action"}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"status": "FAIL", "seq_reply": 3, "error": {"id": "api.web_socket_router.bad_action.app_error", "message": "Unknown WebSocket action.", "detailed_error": "", "status_code": 500}})
    );
    ws.send_json(json!({"seq": 0, "action": "ping"})).await;
    assert_eq!(
        ws.recv_json().await,
        json!({"status": "FAIL", "error": {"id": "api.web_socket_router.bad_seq.app_error", "message": "Invalid sequence for WebSocket message.", "detailed_error": "", "status_code": 400}})
    );
    ws.send_json(json!({"seq": -4, "action": "ping"})).await;
    assert_eq!(
        ws.recv_json().await["error"]["id"],
        "api.web_socket_router.bad_seq.app_error"
    );
    ws.send_json(json!({"seq": 5, "data": {}})).await;
    assert_eq!(
        ws.recv_json().await,
        json!({"status": "FAIL", "seq_reply": 5, "error": {"id": "api.web_socket_router.no_action.app_error", "message": "No websocket action.", "detailed_error": "", "status_code": 400}})
    );
    ws.send_json(json!({"seq": 6, "action": "user_typing", "data": {"channel_id": "nope"}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"status": "FAIL", "seq_reply": 6, "error": {"id": "api.context.invalid_param.app_error", "message": "Invalid channel_id parameter.", "detailed_error": "", "status_code": 400}})
    );
    ws.send_json(json!({"seq": 7, "action": "ping"})).await;
    assert_eq!(ws.recv_json().await["seq_reply"], 7);

    // Over Mattermost's 8 KiB read limit: closed, 1009.
    ws.send_text(
        &json!({"seq": 8, "action": "ping", "data": {"pad": "x".repeat(8200)}}).to_string(),
    )
    .await;
    assert_eq!(ws.recv_close().await.0, 1009);

    // A wrong token in the challenge closes the socket.
    let mut wrong = app.ws("/api/v4/websocket").await;
    wrong.send_json(json!({"seq": 1, "action": "authentication_challenge", "data": {"token": "ybndrfg8ejkmcpqxot1uwisza3"}})).await;
    assert_eq!(wrong.recv_close().await.0, 1008);
}

#[tokio::test]
async fn an_unauthenticated_socket_is_closed_after_five_seconds() {
    let app = TestApp::spawn();
    let mut ws = app.ws("/api/v4/websocket").await;
    let started = std::time::Instant::now();
    // Past the harness's 5 s wait for a frame: read the close with a longer one.
    let close = tokio::time::timeout(std::time::Duration::from_secs(7), async {
        use futures_util::StreamExt;
        loop {
            match ws.stream.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(Some(f)))) => {
                    return (u16::from(f.code), f.reason.to_string())
                }
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await;
    assert_eq!(
        close.expect("closed within 7 s"),
        (1008, "authentication required".into())
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(4900));
}

#[tokio::test]
async fn typing_reaches_the_other_members_but_not_the_typer() {
    let (app, w) = setup().await;
    let mut alice = socket(&app, &w.alice.1).await;
    hello_online(&mut alice, &w.alice.0).await;
    let mut bob = socket(&app, &w.bob.1).await;
    hello_online(&mut bob, &w.bob.0).await;
    assert_eq!(
        alice.recv_json().await,
        status_change(&w.bob.0, "online", 2)
    );
    bob.send_json(json!({"seq": 1, "action": "user_typing", "data": {"channel_id": w.channel, "parent_id": ""}})).await;
    assert_eq!(
        bob.recv_json().await,
        json!({"status": "OK", "seq_reply": 1})
    );
    let mut omit = serde_json::Map::new();
    omit.insert(w.bob.0.clone(), json!(true));
    assert_eq!(
        alice.recv_json().await,
        json!({
            "event": "typing", "data": {"parent_id": "", "user_id": w.bob.0, "channel_id": w.channel},
            "broadcast": {"omit_users": omit, "user_id": "", "channel_id": w.channel, "team_id": "", "connection_id": "", "omit_connection_id": ""},
            "seq": 3
        })
    );
    bob.expect_silence(300).await;
}

#[tokio::test]
async fn viewing_a_channel_tells_the_viewers_sockets_and_a_new_member_joins_live() {
    let (app, w) = setup().await;
    let mut bob = socket(&app, &w.bob.1).await;
    hello_online(&mut bob, &w.bob.0).await;
    let view = call(
        &app,
        "POST",
        "/channels/members/me/view",
        Some(&w.bob.1),
        Some(json!({"channel_id": w.channel})),
    )
    .await;
    let at = view.json["last_viewed_at_times"][&w.channel].clone();
    let to_bob = json!({"omit_users": null, "user_id": w.bob.0, "channel_id": "", "team_id": "", "connection_id": "", "omit_connection_id": ""});
    let mut times = serde_json::Map::new();
    times.insert(w.channel.clone(), at);
    assert_eq!(
        bob.recv_json().await,
        json!({"event": "multiple_channels_viewed", "data": {"channel_times": times}, "broadcast": to_bob, "seq": 2})
    );
    assert_eq!(
        bob.recv_json().await,
        json!({"event": "channel_viewed", "data": {"channel_id": w.channel}, "broadcast": to_bob, "seq": 3})
    );

    // carol joins the team, connects, and is added to the channel: her socket follows it.
    let carol = mm::add_user(&sqlite_url(&app), "carol", "carol-pw");
    let carol_token = mm::login(&app, "carol", "carol-pw").await;
    let joined = call(
        &app,
        "POST",
        &format!("/teams/{}/members", w.team),
        Some(&carol_token),
        Some(json!({"team_id": w.team, "user_id": carol})),
    )
    .await;
    assert_eq!(joined.status, 201);
    let mut ws = socket(&app, &carol_token).await;
    hello_online(&mut ws, &carol).await;
    let added = call(
        &app,
        "POST",
        &format!("/channels/{}/members", w.channel),
        Some(&w.alice.1),
        Some(json!({"user_id": carol})),
    )
    .await;
    assert_eq!(added.status, 201);
    let got = ws.recv_json().await;
    assert_eq!(
        got,
        json!({"event": "user_added", "data": {"user_id": carol, "team_id": w.team, "channel_id": w.channel}, "broadcast": to_channel(&w.channel), "seq": 2})
    );
    call(
        &app,
        "POST",
        "/posts",
        Some(&w.alice.1),
        Some(json!({"channel_id": w.channel, "message": "welcome"})),
    )
    .await;
    let got = ws.recv_json().await;
    assert_eq!(
        (got["event"].as_str(), got["seq"].as_i64()),
        (Some("posted"), Some(3))
    );
}

fn status_change(user: &str, status: &str, seq: u64) -> Value {
    json!({
        "event": "status_change", "data": {"status": status, "user_id": user},
        "broadcast": {"omit_users": null, "user_id": user, "channel_id": "", "team_id": "", "connection_id": "", "omit_connection_id": ""},
        "seq": seq
    })
}

#[tokio::test]
async fn statuses_follow_connections_and_reach_the_user_and_channel_peers() {
    let (app, w) = setup().await;
    let (a, b) = (&w.alice.0, &w.bob.0);
    let mut alice = socket(&app, &w.alice.1).await;
    hello_online(&mut alice, a).await;
    let got = call(
        &app,
        "GET",
        &format!("/users/{a}/status"),
        Some(&w.bob.1),
        None,
    )
    .await;
    let t = got.json["last_activity_at"].clone();
    assert_eq!(
        got.json,
        json!({"user_id": a, "status": "online", "manual": false, "last_activity_at": t, "dnd_end_time": 0})
    );

    let mut bob = socket(&app, &w.bob.1).await;
    hello_online(&mut bob, b).await;
    assert_eq!(alice.recv_json().await, status_change(b, "online", 2));

    let unknown = "ybndrfg8ejkmcpqxot1uwisza3";
    bob.send_json(
        json!({"seq": 1, "action": "get_statuses_by_ids", "data": {"user_ids": [a, b, unknown]}}),
    )
    .await;
    let mut map = serde_json::Map::new();
    map.insert(a.clone(), json!("online"));
    map.insert(b.clone(), json!("online"));
    let mut with_unknown = map.clone();
    with_unknown.insert(unknown.into(), json!("offline"));
    assert_eq!(
        bob.recv_json().await,
        json!({"status": "OK", "seq_reply": 1, "data": with_unknown})
    );
    bob.send_json(json!({"seq": 2, "action": "get_statuses"}))
        .await;
    assert_eq!(
        bob.recv_json().await,
        json!({"status": "OK", "seq_reply": 2, "data": map})
    );
    bob.send_json(json!({"seq": 3, "action": "get_statuses_by_ids", "data": {"user_ids": []}}))
        .await;
    assert_eq!(
        bob.recv_json().await["error"]["id"],
        "api.context.invalid_param.app_error"
    );

    let set = call(
        &app,
        "PUT",
        &format!("/users/{b}/status"),
        Some(&w.bob.1),
        Some(json!({"user_id": b, "status": "dnd", "dnd_end_time": 0})),
    )
    .await;
    assert_eq!(
        (
            set.status,
            set.json["status"].clone(),
            set.json["manual"].clone()
        ),
        (200, json!("dnd"), json!(true))
    );
    assert_eq!(bob.recv_json().await, status_change(b, "dnd", 2));
    assert_eq!(alice.recv_json().await, status_change(b, "dnd", 3));
    let other = call(
        &app,
        "PUT",
        &format!("/users/{a}/status"),
        Some(&w.bob.1),
        Some(json!({"user_id": a, "status": "away"})),
    )
    .await;
    assert_eq!(other.status, 403);
    let bad = call(
        &app,
        "PUT",
        &format!("/users/{b}/status"),
        Some(&w.bob.1),
        Some(json!({"user_id": b, "status": "asleep"})),
    )
    .await;
    assert_eq!(
        (bad.status, bad.json["message"].clone()),
        (400, json!("Invalid status parameter."))
    );

    // alice's last socket leaves: offline, and bob hears of it.
    alice.close().await;
    assert_eq!(bob.recv_json().await, status_change(a, "offline", 3));
    let list = call(
        &app,
        "POST",
        "/users/status/ids",
        Some(&w.bob.1),
        Some(json!([a, b])),
    )
    .await;
    assert_eq!(
        list.json
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["user_id"].clone(), s["status"].clone()))
            .collect::<Vec<_>>(),
        vec![(json!(a), json!("offline")), (json!(b), json!("dnd"))]
    );
}
