//! The Pusher dialect (protocol 7) over a real socket and the HTTP API, on one node: the
//! greeting, pings, subscriptions to public, private, encrypted and presence channels with
//! signatures made here from the secret, client events, malformed input, the API's signature
//! checks and queries, and webhooks to a receiver that checks every signature.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, TestApp, Ws};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::{json, Value};
use sha2::Sha256;

const KEY: &str = "app-key";
const SECRET: &str = "app-secret";

fn hmac_hex(secret: &str, text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The apps every test here serves: app 1 with defaults plus `extra` fields, and app 2.
fn apps(extra: Value) -> String {
    let mut one = json!({"id": "1", "key": KEY, "secret": SECRET});
    one.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!([one, {"id": "2", "key": "other-key", "secret": "other-secret"}]).to_string()
}

fn hub(extra: Value) -> TestApp {
    TestApp::with(&[("HUB_PUSHER_APPS", &apps(extra))])
}

/// A socket of app 1 that read its greeting; returns it with its socket id.
async fn connect(app: &TestApp) -> (Ws, String) {
    let mut ws = app
        .ws("/app/app-key?protocol=7&client=js&version=8.4.0&flash=false")
        .await;
    let hello = ws.recv_json().await;
    assert_eq!(hello["event"], "pusher:connection_established");
    let data: Value = serde_json::from_str(hello["data"].as_str().unwrap()).unwrap();
    let socket_id = data["socket_id"].as_str().unwrap().to_string();
    let (a, b) = socket_id.split_once('.').unwrap();
    assert!(
        a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) && !a.is_empty() && !b.is_empty()
    );
    assert_eq!(
        hello,
        json!({"event": "pusher:connection_established",
               "data": json!({"socket_id": socket_id, "activity_timeout": 30}).to_string()})
    );
    (ws, socket_id)
}

/// What an app's auth endpoint answers for a private channel (or presence, with data).
fn auth(socket_id: &str, channel: &str, data: Option<&str>) -> String {
    let text = match data {
        Some(d) => format!("{socket_id}:{channel}:{d}"),
        None => format!("{socket_id}:{channel}"),
    };
    format!("{KEY}:{}", hmac_hex(SECRET, &text))
}

async fn subscribe(ws: &mut Ws, socket_id: &str, channel: &str) -> Value {
    let auth = if channel.starts_with("private-") {
        auth(socket_id, channel, None)
    } else {
        String::new()
    };
    ws.send_json(json!({"event": "pusher:subscribe", "data": {"channel": channel, "auth": auth}}))
        .await;
    ws.recv_json().await
}

fn succeeded(channel: &str) -> Value {
    json!({"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"})
}

async fn join(ws: &mut Ws, socket_id: &str, channel: &str, member: &Value) -> Value {
    let data = member.to_string();
    ws.send_json(json!({"event": "pusher:subscribe", "data": {
        "channel": channel, "auth": auth(socket_id, channel, Some(&data)), "channel_data": data}}))
        .await;
    let got = ws.recv_json().await;
    let mut presence: Value =
        serde_json::from_str(got["data"].as_str().expect("data string")).unwrap();
    presence["event"] = got["event"].clone();
    presence["channel"] = got["channel"].clone();
    presence
}

/// A signed HTTP API request as the server SDKs make it; returns the status and JSON body.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    call_as(app, method, path, query, body, KEY, SECRET, 0).await
}

#[allow(clippy::too_many_arguments)]
async fn call_as(
    app: &TestApp,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&Value>,
    key: &str,
    secret: &str,
    skew_s: i64,
) -> (u16, Value) {
    let body = body.map(Value::to_string);
    let timestamp = (chrono::Utc::now().timestamp() + skew_s).to_string();
    let mut params: Vec<(String, String)> = vec![
        ("auth_key".into(), key.into()),
        ("auth_timestamp".into(), timestamp),
        ("auth_version".into(), "1.0".into()),
    ];
    if let Some(b) = &body {
        params.push(("body_md5".into(), hex::encode(Md5::digest(b.as_bytes()))));
    }
    params.extend(query.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    params.sort();
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let query = query.join("&");
    let signature = hmac_hex(secret, &format!("{method}\n{path}\n{query}"));
    let url = app.url(&format!("{path}?{query}&auth_signature={signature}"));
    raw(method, &url, body).await
}

async fn raw(method: &str, url: &str, body: Option<String>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn trigger(
    app: &TestApp,
    channels: &[&str],
    name: &str,
    data: &str,
    socket_id: Option<&str>,
) {
    let mut body = json!({"name": name, "channels": channels, "data": data});
    if let Some(id) = socket_id {
        body["socket_id"] = id.into();
    }
    let (status, answer) = call(app, "POST", "/apps/1/events", &[], Some(&body)).await;
    assert_eq!((status, answer), (200, json!({})));
}

#[actix_web::test]
async fn greeting_pings_and_malformed_frames_keep_the_socket_open() {
    let app = hub(json!({}));
    let (mut ws, _) = connect(&app).await;
    ws.send_json(json!({"event": "pusher:ping", "data": {}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:pong", "data": {}})
    );
    let invalid = json!({"event": "pusher:error", "data": {"code": 4200, "message": "Invalid message format"}});
    for bad in [
        "not json",
        "[1,2]",
        r#"{"data":{}}"#,
        r#"{"event":"pusher:subscribe"}"#,
        r#"{"event":"pusher:subscribe","data":{"auth":""}}"#,
    ] {
        ws.send_text(bad).await;
        assert_eq!(ws.recv_json().await, invalid, "{bad}");
    }
    ws.send_json(json!({"event": "pusher:nonsense", "data": {}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:error", "data": {"code": 4200, "message": "Unknown event"}})
    );
    ws.send_json(json!({"event": "pusher:ping"})).await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:pong", "data": {}})
    );
}

#[actix_web::test]
async fn an_unknown_key_hears_4001_and_is_closed() {
    let app = hub(json!({}));
    let mut ws = app.ws("/app/no-such-key?protocol=7").await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:error", "data": {"code": 4001, "message": "Application does not exist"}})
    );
    assert_eq!(ws.recv_close().await.0, 4001);
}

#[actix_web::test]
async fn origins_and_connection_quota_per_app() {
    let app = hub(json!({"allowed_origins": ["https://shop.test"], "max_connections": 1}));
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = app.ws_url("/app/app-key").into_client_request().unwrap();
    req.headers_mut()
        .insert("Origin", "https://evil.test".parse().unwrap());
    let mut evil = Ws::connect(req).await;
    assert_eq!(
        evil.recv_json().await,
        json!({"event": "pusher:error", "data": {"code": 4009, "message": "Origin not allowed"}})
    );
    assert_eq!(evil.recv_close().await.0, 4009);
    let mut req = app.ws_url("/app/app-key").into_client_request().unwrap();
    req.headers_mut()
        .insert("Origin", "https://shop.test".parse().unwrap());
    let mut shop = Ws::connect(req).await;
    assert_eq!(
        shop.recv_json().await["event"],
        "pusher:connection_established"
    );
    let mut second = app.ws("/app/app-key").await;
    assert_eq!(
        second.recv_json().await,
        json!({"event": "pusher:error", "data": {"code": 4004, "message": "Application is over connection quota"}})
    );
    assert_eq!(second.recv_close().await.0, 4004);
}

#[actix_web::test]
async fn public_and_private_channels_get_events_until_unsubscribed() {
    let app = hub(json!({}));
    let (mut ws, id) = connect(&app).await;
    assert_eq!(subscribe(&mut ws, &id, "orders").await, succeeded("orders"));
    assert_eq!(
        subscribe(&mut ws, &id, "private-orders.5").await,
        succeeded("private-orders.5")
    );

    trigger(
        &app,
        &["orders", "private-orders.5"],
        "App\\Events\\OrderShipped",
        r#"{"order":{"id":5}}"#,
        None,
    )
    .await;
    for channel in ["orders", "private-orders.5"] {
        assert_eq!(
            ws.recv_json().await,
            json!({"event": "App\\Events\\OrderShipped", "channel": channel, "data": "{\"order\":{\"id\":5}}"})
        );
    }
    // The data string is passed on byte for byte.
    trigger(&app, &["orders"], "e", "{ \"spaced\" : 1 }", None).await;
    assert_eq!(
        ws.recv_text().await,
        r#"{"event":"e","channel":"orders","data":"{ \"spaced\" : 1 }"}"#
    );

    ws.send_json(json!({"event": "pusher:unsubscribe", "data": {"channel": "orders"}}))
        .await;
    ws.send_json(json!({"event": "pusher:unsubscribe", "data": {"channel": "never-subscribed"}}))
        .await;
    // No answer to an unsubscribe: a ping's pong marks that the socket handled both.
    ws.send_json(json!({"event": "pusher:ping", "data": {}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:pong", "data": {}})
    );
    trigger(&app, &["orders"], "gone", "1", None).await;
    trigger(&app, &["private-orders.5"], "still", "2", None).await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "still", "channel": "private-orders.5", "data": "2"}),
        "nothing from the unsubscribed channel came first"
    );
    // Subscribing again works.
    assert_eq!(subscribe(&mut ws, &id, "orders").await, succeeded("orders"));
}

#[actix_web::test]
async fn bad_signatures_get_subscription_errors_and_no_subscription() {
    let app = hub(json!({}));
    let (mut ws, id) = connect(&app).await;
    let unauthorized = |channel: &str| {
        json!({"event": "pusher:subscription_error", "channel": channel,
        "data": {"type": "AuthError", "error": "The connection is unauthorized.", "status": 401}})
    };
    let other_socket = auth("1.2", "private-a", None);
    let wrong_secret = format!(
        "{KEY}:{}",
        hmac_hex("other-secret", &format!("{id}:private-a"))
    );
    let wrong_key = format!("other-key:{}", hmac_hex(SECRET, &format!("{id}:private-a")));
    for bad in [
        "",
        "nonsense",
        "app-key:",
        other_socket.as_str(),
        wrong_secret.as_str(),
        wrong_key.as_str(),
    ] {
        ws.send_json(
            json!({"event": "pusher:subscribe", "data": {"channel": "private-a", "auth": bad}}),
        )
        .await;
        assert_eq!(ws.recv_json().await, unauthorized("private-a"), "{bad:?}");
    }
    // Encrypted channels are private ones to the hub.
    ws.send_json(json!({"event": "pusher:subscribe", "data": {"channel": "private-encrypted-a"}}))
        .await;
    assert_eq!(ws.recv_json().await, unauthorized("private-encrypted-a"));
    let good = auth(&id, "private-encrypted-a", None);
    ws.send_json(json!({"event": "pusher:subscribe", "data": {"channel": "private-encrypted-a", "auth": good}})).await;
    assert_eq!(ws.recv_json().await, succeeded("private-encrypted-a"));
    // A presence signature must cover the channel_data sent.
    let signed = r#"{"user_id":"1"}"#;
    ws.send_json(
        json!({"event": "pusher:subscribe", "data": {"channel": "presence-a",
        "auth": auth(&id, "presence-a", Some(signed)), "channel_data": r#"{"user_id":"2"}"#}}),
    )
    .await;
    assert_eq!(ws.recv_json().await, unauthorized("presence-a"));
    ws.send_json(json!({"event": "pusher:subscribe", "data": {"channel": "bad channel!"}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:subscription_error", "channel": "bad channel!",
               "data": {"type": "InvalidChannel", "error": "The channel name is not valid.", "status": 400}})
    );

    // None of the refused subscriptions took: events for them do not arrive.
    trigger(&app, &["private-a", "presence-a"], "secret", "1", None).await;
    trigger(&app, &["private-encrypted-a"], "sealed", "\"x\"", None).await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "sealed", "channel": "private-encrypted-a", "data": "\"x\""})
    );
}

#[actix_web::test]
async fn presence_lists_members_and_announces_each_user_once() {
    let app = hub(json!({}));
    let ann = json!({"user_id": 42, "user_info": {"name": "Ann"}});
    let bob = json!({"user_id": "7", "user_info": {"name": "Bob"}});
    let (mut a, a_id) = connect(&app).await;
    let (mut b, b_id) = connect(&app).await;
    let (mut b2, b2_id) = connect(&app).await;
    assert_eq!(
        join(&mut a, &a_id, "presence-room.1", &ann).await,
        json!({"event": "pusher_internal:subscription_succeeded", "channel": "presence-room.1",
               "presence": {"ids": ["42"], "hash": {"42": {"name": "Ann"}}, "count": 1}})
    );
    assert_eq!(
        join(&mut b, &b_id, "presence-room.1", &bob).await,
        json!({"event": "pusher_internal:subscription_succeeded", "channel": "presence-room.1",
               "presence": {"ids": ["42", "7"], "hash": {"42": {"name": "Ann"}, "7": {"name": "Bob"}}, "count": 2}})
    );
    assert_eq!(
        a.recv_json().await,
        json!({"event": "pusher_internal:member_added", "channel": "presence-room.1",
               "data": json!({"user_id": "7", "user_info": {"name": "Bob"}}).to_string()})
    );
    // Bob's second socket: listed once, announced to nobody.
    let listed = join(&mut b2, &b2_id, "presence-room.1", &bob).await;
    assert_eq!(listed["presence"]["count"], 2);
    b2.close().await;
    a.expect_silence(300).await;
    b.send_json(json!({"event": "pusher:unsubscribe", "data": {"channel": "presence-room.1"}}))
        .await;
    assert_eq!(
        a.recv_json().await,
        json!({"event": "pusher_internal:member_removed", "channel": "presence-room.1",
               "data": json!({"user_id": "7"}).to_string()})
    );
    // channel_data that names nobody is refused even when signed.
    let data = r#"{"user_info":{}}"#;
    b.send_json(
        json!({"event": "pusher:subscribe", "data": {"channel": "presence-x",
        "auth": auth(&b_id, "presence-x", Some(data)), "channel_data": data}}),
    )
    .await;
    assert_eq!(
        b.recv_json().await,
        json!({"event": "pusher:subscription_error", "channel": "presence-x", "data": {
            "type": "AuthError", "error": "channel_data must be a JSON object with a user_id.", "status": 400}})
    );
}

#[actix_web::test]
async fn presence_members_have_a_size_limit() {
    let app = hub(json!({}));
    let (mut a, a_id) = connect(&app).await;
    let too_large = json!({"event": "pusher:subscription_error", "channel": "presence-big", "data": {
        "type": "LimitReached",
        "error": "The presence member is too large (user_id over 128 or user_info over 2048 bytes).",
        "status": 400}});
    for data in [
        json!({"user_id": "x".repeat(129)}).to_string(),
        json!({"user_id": "1", "user_info": {"bio": "x".repeat(2040)}}).to_string(),
    ] {
        a.send_json(
            json!({"event": "pusher:subscribe", "data": {"channel": "presence-big",
            "auth": auth(&a_id, "presence-big", Some(&data)), "channel_data": data}}),
        )
        .await;
        assert_eq!(a.recv_json().await, too_large);
    }
    let fits = json!({"user_id": "x".repeat(128), "user_info": {"bio": "x".repeat(2030)}});
    let joined = join(&mut a, &a_id, "presence-big", &fits).await;
    assert_eq!(joined["presence"]["count"], 1);
}

#[actix_web::test]
async fn presence_channels_have_a_member_limit() {
    let app = hub(json!({"max_presence_members": 1}));
    let (mut a, a_id) = connect(&app).await;
    let (mut b, b_id) = connect(&app).await;
    join(&mut a, &a_id, "presence-small", &json!({"user_id": "1"})).await;
    let data = r#"{"user_id":"2"}"#;
    b.send_json(
        json!({"event": "pusher:subscribe", "data": {"channel": "presence-small",
        "auth": auth(&b_id, "presence-small", Some(data)), "channel_data": data}}),
    )
    .await;
    assert_eq!(
        b.recv_json().await,
        json!({"event": "pusher:subscription_error", "channel": "presence-small", "data": {
            "type": "LimitReached", "error": "The maximum members per presence channel limit was reached.", "status": 4100}})
    );
}

#[actix_web::test]
async fn client_events_reach_the_others_on_private_and_presence_channels_only() {
    let app = hub(json!({"max_client_events_per_sec": 3}));
    let (mut a, a_id) = connect(&app).await;
    let (mut b, b_id) = connect(&app).await;
    for (ws, id) in [(&mut a, &a_id), (&mut b, &b_id)] {
        assert_eq!(
            subscribe(ws, id, "private-chat.1").await,
            succeeded("private-chat.1")
        );
        assert_eq!(subscribe(ws, id, "public").await, succeeded("public"));
    }
    a.send_json(
        json!({"event": "client-typing", "channel": "private-chat.1", "data": {"name": "Ann"}}),
    )
    .await;
    assert_eq!(
        b.recv_json().await,
        json!({"event": "client-typing", "channel": "private-chat.1", "data": {"name": "Ann"}})
    );
    a.expect_silence(200).await;

    let error = |code: u16, message: &str| json!({"event": "pusher:error", "data": {"code": code, "message": message}});
    a.send_json(json!({"event": "client-x", "channel": "public", "data": {}}))
        .await;
    assert_eq!(
        a.recv_json().await,
        error(
            4301,
            "Client events are only accepted on private and presence channels."
        )
    );
    a.send_json(json!({"event": "client-x", "channel": "private-elsewhere", "data": {}}))
        .await;
    assert_eq!(
        a.recv_json().await,
        error(4009, "The client is not a member of the specified channel.")
    );
    a.send_json(
        json!({"event": "client-x", "channel": "private-chat.1", "data": "x".repeat(11_000)}),
    )
    .await;
    assert_eq!(
        a.recv_json().await,
        error(4301, "The client event is over the size limit.")
    );
    // Three per second pass, the fourth is refused (a new second, past client-typing's).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for n in 0..3 {
        a.send_json(json!({"event": "client-n", "channel": "private-chat.1", "data": n}))
            .await;
    }
    a.send_json(json!({"event": "client-n", "channel": "private-chat.1", "data": 3}))
        .await;
    assert_eq!(
        a.recv_json().await,
        error(
            4301,
            "The rate limit for sending client events exceeded the quota."
        )
    );
    for n in 0..3 {
        assert_eq!(
            b.recv_json().await,
            json!({"event": "client-n", "channel": "private-chat.1", "data": n})
        );
    }

    // On presence channels the sender's user_id comes along.
    let ann = json!({"user_id": "42"});
    join(&mut a, &a_id, "presence-room", &ann).await;
    join(&mut b, &b_id, "presence-room", &json!({"user_id": "7"})).await;
    a.recv_json().await; // member_added
    tokio::time::sleep(Duration::from_millis(1100)).await;
    b.send_json(json!({"event": "client-wave", "channel": "presence-room", "data": {"hi": true}}))
        .await;
    assert_eq!(
        a.recv_json().await,
        json!({"event": "client-wave", "channel": "presence-room", "data": {"hi": true}, "user_id": "7"})
    );
}

#[actix_web::test]
async fn client_events_can_be_disabled_per_app() {
    let app = hub(json!({"client_events": false}));
    let (mut a, id) = connect(&app).await;
    subscribe(&mut a, &id, "private-x").await;
    a.send_json(json!({"event": "client-x", "channel": "private-x", "data": {}}))
        .await;
    assert_eq!(
        a.recv_json().await,
        json!({"event": "pusher:error", "data": {"code": 4301, "message": "The app does not have client messaging enabled."}})
    );
}

#[actix_web::test]
async fn the_server_pings_a_silent_socket_and_closes_it_after_twice_the_timeout() {
    let app = hub(json!({"activity_timeout": 1}));
    let mut ws = app.ws("/app/app-key").await;
    let hello = ws.recv_json().await;
    assert_eq!(
        serde_json::from_str::<Value>(hello["data"].as_str().unwrap()).unwrap()["activity_timeout"],
        1
    );
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:ping", "data": {}})
    );
    // Answered: no close.
    ws.send_json(json!({"event": "pusher:pong", "data": {}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:ping", "data": {}})
    );
    assert_eq!(
        ws.recv_json().await,
        json!({"event": "pusher:error", "data": {"code": 4201, "message": "Pong reply not received in time"}})
    );
    assert_eq!(ws.recv_close().await.0, 4201);
}

#[actix_web::test]
async fn the_api_checks_every_part_of_the_signature() {
    let app = hub(json!({}));
    let body = json!({"name": "e", "channel": "c", "data": "{}"});
    let ok = call(&app, "POST", "/apps/1/events", &[], Some(&body)).await;
    assert_eq!(ok, (200, json!({})));

    let status = |r: (u16, Value)| {
        assert!(r.1["error"].is_string(), "{r:?}");
        r.0
    };
    // Wrong secret, another app's key, a stale or future timestamp.
    assert_eq!(
        status(
            call_as(
                &app,
                "POST",
                "/apps/1/events",
                &[],
                Some(&body),
                KEY,
                "nope",
                0
            )
            .await
        ),
        401
    );
    assert_eq!(
        status(
            call_as(
                &app,
                "POST",
                "/apps/1/events",
                &[],
                Some(&body),
                "other-key",
                "other-secret",
                0
            )
            .await
        ),
        401
    );
    assert_eq!(
        status(
            call_as(
                &app,
                "POST",
                "/apps/1/events",
                &[],
                Some(&body),
                KEY,
                SECRET,
                -601
            )
            .await
        ),
        401
    );
    assert_eq!(
        status(
            call_as(
                &app,
                "POST",
                "/apps/1/events",
                &[],
                Some(&body),
                KEY,
                SECRET,
                601
            )
            .await
        ),
        401
    );
    assert_eq!(
        call_as(
            &app,
            "POST",
            "/apps/1/events",
            &[],
            Some(&body),
            KEY,
            SECRET,
            -590
        )
        .await
        .0,
        200
    );
    // The body is not the one signed (body_md5 for another body).
    let signed = call_url(
        &app,
        "POST",
        "/apps/1/events",
        &json!({"name": "x", "channel": "c", "data": "1"}),
    );
    let (code, answer) = raw("POST", &signed, Some(body.to_string())).await;
    assert_eq!(
        (code, answer),
        (401, json!({"error": "body_md5 does not match the body"}))
    );
    // No signature at all; an unknown app.
    let (code, answer) = raw("POST", &app.url("/apps/1/events"), Some(body.to_string())).await;
    assert_eq!(
        (code, answer),
        (
            401,
            json!({"error": "auth_key is missing or not this app's key"})
        )
    );
    let (code, answer) = call(&app, "POST", "/apps/9/events", &[], Some(&body)).await;
    assert_eq!(
        (code, answer),
        (404, json!({"error": "unknown app id \"9\""}))
    );
    // A signature for another path.
    let url =
        call_url(&app, "POST", "/apps/1/batch_events", &body).replace("batch_events", "events");
    assert_eq!(
        raw("POST", &url, Some(body.to_string())).await,
        (401, json!({"error": "invalid signature"}))
    );
}

/// A signed URL for `body` at `path`.
fn call_url(app: &TestApp, method: &str, path: &str, body: &Value) -> String {
    let md5 = hex::encode(Md5::digest(body.to_string().as_bytes()));
    let query = format!(
        "auth_key={KEY}&auth_timestamp={}&auth_version=1.0&body_md5={md5}",
        chrono::Utc::now().timestamp()
    );
    let signature = hmac_hex(SECRET, &format!("{method}\n{path}\n{query}"));
    app.url(&format!("{path}?{query}&auth_signature={signature}"))
}

#[actix_web::test]
async fn the_api_refuses_bad_events_with_reasons() {
    let app = hub(json!({}));
    for (body, code, error) in [
        (json!({"channel": "c", "data": "1"}), 400, None),
        (
            json!({"name": "e", "data": "1"}),
            400,
            Some("give either channels or channel"),
        ),
        (
            json!({"name": "e", "channels": [], "data": "1"}),
            400,
            Some("channels must name 1 to 100 channels"),
        ),
        (
            json!({"name": "e", "channel": "bad name", "data": "1"}),
            400,
            Some("invalid channel name \"bad name\""),
        ),
        (
            json!({"name": "e", "channel": "c", "data": "1", "socket_id": "x"}),
            400,
            Some("invalid socket_id \"x\""),
        ),
        (
            json!({"name": "e", "channel": "c", "data": "x".repeat(10_241)}),
            413,
            Some("event data is 10243 bytes, over the limit of 10240"),
        ),
        (
            json!({"name": "e", "channel": "c", "data": "1", "info": "colour"}),
            400,
            Some("unknown info attribute \"colour\""),
        ),
    ] {
        let (status, answer) = call(&app, "POST", "/apps/1/events", &[], Some(&body)).await;
        assert_eq!(status, code, "{body}: {answer}");
        match error {
            Some(e) => assert_eq!(answer, json!({"error": e}), "{body}"),
            None => assert!(
                answer["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("invalid body"),
                "{answer}"
            ),
        }
    }
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"name": "e", "channel": "c", "data": "1"}))
        .collect();
    let (status, answer) = call(
        &app,
        "POST",
        "/apps/1/batch_events",
        &[],
        Some(&json!({"batch": eleven})),
    )
    .await;
    assert_eq!(
        (status, answer),
        (400, json!({"error": "batch must hold 1 to 10 events"}))
    );
    let (status, _) = call(&app, "GET", "/apps/1/events", &[], None).await;
    assert_eq!(status, 405);
}

#[actix_web::test]
async fn socket_id_excludes_that_socket_and_batches_publish_each_event() {
    let app = hub(json!({}));
    let (mut a, a_id) = connect(&app).await;
    let (mut b, b_id) = connect(&app).await;
    subscribe(&mut a, &a_id, "news").await;
    subscribe(&mut b, &b_id, "news").await;
    trigger(&app, &["news"], "to-others", "1", Some(&a_id)).await;
    assert_eq!(
        b.recv_json().await,
        json!({"event": "to-others", "channel": "news", "data": "1"})
    );
    let batch = json!({"batch": [
        {"name": "one", "channel": "news", "data": "1"},
        {"name": "two", "channel": "news", "data": "2", "socket_id": b_id},
    ]});
    let (status, answer) = call(&app, "POST", "/apps/1/batch_events", &[], Some(&batch)).await;
    assert_eq!((status, answer), (200, json!({})));
    assert_eq!(
        a.recv_json().await,
        json!({"event": "one", "channel": "news", "data": "1"})
    );
    assert_eq!(
        a.recv_json().await,
        json!({"event": "two", "channel": "news", "data": "2"})
    );
    assert_eq!(
        b.recv_json().await,
        json!({"event": "one", "channel": "news", "data": "1"})
    );
    b.expect_silence(300).await;
}

#[actix_web::test]
async fn the_api_lists_channels_counts_and_presence_users() {
    let app = hub(json!({}));
    let (mut a, a_id) = connect(&app).await;
    let (mut b, b_id) = connect(&app).await;
    subscribe(&mut a, &a_id, "news").await;
    subscribe(&mut b, &b_id, "news").await;
    join(&mut a, &a_id, "presence-room", &json!({"user_id": "42"})).await;
    join(&mut b, &b_id, "presence-room", &json!({"user_id": "7"})).await;
    let get = |path: &'static str, query: &'static [(&'static str, &'static str)]| {
        call(&app, "GET", path, query, None)
    };

    assert_eq!(
        get("/apps/1/channels", &[]).await,
        (200, json!({"channels": {"news": {}, "presence-room": {}}}))
    );
    assert_eq!(
        get(
            "/apps/1/channels",
            &[("filter_by_prefix", "presence-"), ("info", "user_count")]
        )
        .await,
        (
            200,
            json!({"channels": {"presence-room": {"user_count": 2}}})
        )
    );
    assert_eq!(
        get("/apps/1/channels", &[("info", "user_count")]).await,
        (
            400,
            json!({"error": "user_count needs filter_by_prefix=presence-"})
        )
    );
    assert_eq!(
        get("/apps/1/channels/news", &[("info", "subscription_count")]).await,
        (200, json!({"occupied": true, "subscription_count": 2}))
    );
    assert_eq!(
        get(
            "/apps/1/channels/presence-room",
            &[("info", "user_count,subscription_count")]
        )
        .await,
        (
            200,
            json!({"occupied": true, "user_count": 2, "subscription_count": 2})
        )
    );
    assert_eq!(
        get("/apps/1/channels/empty", &[]).await,
        (200, json!({"occupied": false}))
    );
    assert_eq!(
        get("/apps/1/channels/presence-room/users", &[]).await,
        (200, json!({"users": [{"id": "42"}, {"id": "7"}]}))
    );
    assert_eq!(
        get("/apps/1/channels/news/users", &[]).await,
        (
            400,
            json!({"error": "users are only listed for presence channels"})
        )
    );
    // Another app's channels are its own.
    let (status, answer) = call_as(
        &app,
        "GET",
        "/apps/2/channels",
        &[],
        None,
        "other-key",
        "other-secret",
        0,
    )
    .await;
    assert_eq!((status, answer), (200, json!({"channels": {}})));
    a.close().await;
    b.close().await;
    eventually(Duration::from_secs(3), "channels vacated", || async {
        get("/apps/1/channels", &[]).await == (200, json!({"channels": {}}))
    })
    .await;
}

/// A webhook receiver: answers 500 to its first post (so the hub retries), then 200, and
/// keeps every body whose signature is right; a wrong one fails the test.
struct Receiver {
    url: String,
    events: Arc<Mutex<Vec<Value>>>,
    posts: Arc<Mutex<usize>>,
    _stop: actix_web::dev::ServerHandle,
}

async fn receiver() -> Receiver {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    let events = Arc::new(Mutex::new(Vec::new()));
    let posts = Arc::new(Mutex::new(0usize));
    let (e, p) = (events.clone(), posts.clone());
    let server = HttpServer::new(move || {
        let (e, p) = (e.clone(), p.clone());
        App::new().route(
            "/hooks",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let (e, p) = (e.clone(), p.clone());
                async move {
                    let header =
                        |h: &str| req.headers().get(h).unwrap().to_str().unwrap().to_string();
                    assert_eq!(header("x-pusher-key"), KEY);
                    let body_text = std::str::from_utf8(&body).unwrap();
                    assert_eq!(
                        header("x-pusher-signature"),
                        hmac_hex(SECRET, body_text),
                        "signature"
                    );
                    let mut posts = p.lock().unwrap();
                    *posts += 1;
                    if *posts == 1 {
                        return HttpResponse::InternalServerError().finish();
                    }
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    let sent = v["time_ms"].as_i64().unwrap();
                    assert!((chrono::Utc::now().timestamp_millis() - sent).abs() < 60_000);
                    e.lock()
                        .unwrap()
                        .extend(v["events"].as_array().unwrap().iter().cloned());
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/hooks", server.addrs()[0]);
    let server = server.run();
    let stop = server.handle();
    actix_web::rt::spawn(server);
    Receiver {
        url,
        events,
        posts,
        _stop: stop,
    }
}

#[actix_web::test]
async fn webhooks_are_signed_batched_and_retried() {
    let hooks = receiver().await;
    let app = hub(json!({"webhook_url": hooks.url}));
    let (mut a, a_id) = connect(&app).await;
    let (mut b, b_id) = connect(&app).await;
    join(&mut a, &a_id, "presence-room", &json!({"user_id": "42"})).await;
    join(&mut b, &b_id, "presence-room", &json!({"user_id": "7"})).await;
    a.recv_json().await;
    b.send_json(json!({"event": "client-wave", "channel": "presence-room", "data": {"hi": 1}}))
        .await;
    a.recv_json().await;
    b.send_json(json!({"event": "pusher:unsubscribe", "data": {"channel": "presence-room"}}))
        .await;
    a.recv_json().await;
    a.close().await;
    let expected = vec![
        json!({"name": "channel_occupied", "channel": "presence-room"}),
        json!({"name": "member_added", "channel": "presence-room", "user_id": "42"}),
        json!({"name": "member_added", "channel": "presence-room", "user_id": "7"}),
        json!({"name": "client_event", "channel": "presence-room", "event": "client-wave",
               "data": "{\"hi\":1}", "socket_id": b_id, "user_id": "7"}),
        json!({"name": "member_removed", "channel": "presence-room", "user_id": "7"}),
        // The node posts the vacated channel as the socket closes; the room then says the
        // member left (webhooks are in the order they happen, not grouped).
        json!({"name": "channel_vacated", "channel": "presence-room"}),
        json!({"name": "member_removed", "channel": "presence-room", "user_id": "42"}),
    ];
    eventually(Duration::from_secs(10), "every webhook", || async {
        hooks.events.lock().unwrap().len() >= expected.len()
    })
    .await;
    assert_eq!(*hooks.events.lock().unwrap(), expected);
    assert!(
        *hooks.posts.lock().unwrap() >= 2,
        "the refused first post was retried"
    );
    let sent = app.metrics().await;
    assert!(
        sent.contains(r#"hub_webhook_events_total{app="pusher:1",result="sent"} 7"#),
        "{sent}"
    );
}

// --- two nodes on one Redis ------------------------------------------------------------------

/// Two nodes of one hub sharing the Redis of `TEST_REDIS_URL` under a prefix of their own;
/// `None` (skipped) without it outside CI.
fn cluster() -> Option<(TestApp, TestApp)> {
    cluster_of(json!({}))
}

/// [`cluster`] with app 1's `extra` fields.
fn cluster_of(extra: Value) -> Option<(TestApp, TestApp)> {
    let redis = common::service("TEST_REDIS_URL")?;
    let prefix = common::redis_prefix();
    let apps = apps(extra);
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("REDIS_PREFIX", prefix.as_str()),
        ("HUB_PRESENCE_TTL_MS", "1000"),
        ("HUB_RELAY_LINGER_MS", "500"),
        ("HUB_PUSHER_APPS", apps.as_str()),
    ];
    Some((TestApp::node(&env, None), TestApp::node(&env, None)))
}

/// Waits until `nodes` are subscribed to `topics` topics in Redis.
async fn relayed(nodes: &[&TestApp], topics: usize) {
    for node in nodes {
        eventually(Duration::from_secs(5), "relay subscriptions", || async {
            node.metric("hub_relay_subscriptions").await >= topics as f64
        })
        .await;
    }
}

#[actix_web::test]
async fn presence_is_one_across_nodes() {
    let Some((node_a, node_b)) = cluster() else {
        return;
    };
    let (mut a, a_id) = connect(&node_a).await;
    let (mut b, b_id) = connect(&node_b).await;
    let (mut b2, b2_id) = connect(&node_a).await;
    let ann = json!({"user_id": "42", "user_info": {"name": "Ann"}});
    let bob = json!({"user_id": "7", "user_info": {"name": "Bob"}});
    join(&mut a, &a_id, "presence-room", &ann).await;
    relayed(&[&node_a], 1).await;
    assert_eq!(
        join(&mut b, &b_id, "presence-room", &bob).await,
        json!({"event": "pusher_internal:subscription_succeeded", "channel": "presence-room",
               "presence": {"ids": ["42", "7"], "hash": {"42": {"name": "Ann"}, "7": {"name": "Bob"}}, "count": 2}}),
        "the member on the other node is listed"
    );
    let added = json!({"event": "pusher_internal:member_added", "channel": "presence-room",
                       "data": json!({"user_id": "7", "user_info": {"name": "Bob"}}).to_string()});
    assert_eq!(a.recv_json().await, added);
    relayed(&[&node_a, &node_b], 1).await;
    // Bob again, on the first node: one user, announced to nobody.
    let listed = join(&mut b2, &b2_id, "presence-room", &bob).await;
    assert_eq!(listed["presence"]["count"], 2);
    b2.send_json(json!({"event": "pusher:unsubscribe", "data": {"channel": "presence-room"}}))
        .await;
    a.expect_silence(500).await;
    b.expect_silence(0).await;
    // Bob's last socket leaves, on the second node: the first hears it once.
    b.close().await;
    assert_eq!(
        a.recv_json().await,
        json!({"event": "pusher_internal:member_removed", "channel": "presence-room",
               "data": json!({"user_id": "7"}).to_string()})
    );
    a.expect_silence(500).await;
}

#[actix_web::test]
async fn events_and_client_events_cross_nodes_and_skip_the_excluded_socket() {
    let Some((node_a, node_b)) = cluster() else {
        return;
    };
    let (mut a, a_id) = connect(&node_a).await;
    let (mut b, b_id) = connect(&node_b).await;
    let (mut c, c_id) = connect(&node_b).await;
    for (ws, id) in [(&mut a, &a_id), (&mut b, &b_id), (&mut c, &c_id)] {
        assert_eq!(
            subscribe(ws, id, "private-chat").await,
            succeeded("private-chat")
        );
    }
    relayed(&[&node_a, &node_b], 1).await;

    // Published on node a, for everyone but b (on node b).
    trigger(
        &node_a,
        &["private-chat"],
        "to-others",
        "\"hi\"",
        Some(&b_id),
    )
    .await;
    let event = json!({"event": "to-others", "channel": "private-chat", "data": "\"hi\""});
    assert_eq!(a.recv_json().await, event);
    assert_eq!(c.recv_json().await, event);
    b.expect_silence(300).await;

    // A whisper from node b reaches node a and b's neighbour, never b.
    b.send_json(json!({"event": "client-typing", "channel": "private-chat", "data": {"who": "b"}}))
        .await;
    let whisper =
        json!({"event": "client-typing", "channel": "private-chat", "data": {"who": "b"}});
    assert_eq!(a.recv_json().await, whisper);
    assert_eq!(c.recv_json().await, whisper);
    b.expect_silence(300).await;
    a.expect_silence(0).await;
}

#[actix_web::test]
async fn subscribing_twice_and_asking_for_info_when_triggering() {
    let app = hub(json!({}));
    let (mut a, a_id) = connect(&app).await;
    let (mut b, b_id) = connect(&app).await;
    assert_eq!(subscribe(&mut a, &a_id, "news").await, succeeded("news"));
    assert_eq!(
        subscribe(&mut a, &a_id, "news").await,
        succeeded("news"),
        "again: still one subscription"
    );
    join(&mut a, &a_id, "presence-room", &json!({"user_id": "1"})).await;
    join(&mut b, &b_id, "presence-room", &json!({"user_id": "2"})).await;
    a.recv_json().await; // member_added
    let data = r#"{"user_id":"1"}"#;
    a.send_json(
        json!({"event": "pusher:subscribe", "data": {"channel": "presence-room",
        "auth": auth(&a_id, "presence-room", Some(data)), "channel_data": data}}),
    )
    .await;
    assert_eq!(
        a.recv_json().await,
        json!({"event": "pusher:subscription_error", "channel": "presence-room", "data": {
            "type": "AlreadySubscribed", "error": "The socket is already subscribed to this channel.", "status": 400}})
    );

    let body = json!({"name": "e", "channels": ["news", "presence-room"], "data": "1",
                      "info": "subscription_count,user_count"});
    let (status, answer) = call(&app, "POST", "/apps/1/events", &[], Some(&body)).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"channels": {
            "news": {"subscription_count": 1},
            "presence-room": {"subscription_count": 2, "user_count": 2}}})
        )
    );
    assert_eq!(
        a.recv_json().await,
        json!({"event": "e", "channel": "news", "data": "1"})
    );
    assert_eq!(
        a.recv_json().await,
        json!({"event": "e", "channel": "presence-room", "data": "1"})
    );
    a.expect_silence(200).await;
}

#[actix_web::test]
async fn member_webhooks_are_posted_once_across_nodes() {
    let hooks = receiver().await;
    let Some((node_a, node_b)) = cluster_of(json!({"webhook_url": hooks.url})) else {
        return;
    };
    let bob = json!({"user_id": "7"});
    let (mut on_a, a_id) = connect(&node_a).await;
    let (mut on_b, b_id) = connect(&node_b).await;
    join(&mut on_a, &a_id, "presence-room", &bob).await;
    relayed(&[&node_a], 1).await;
    let listed = join(&mut on_b, &b_id, "presence-room", &bob).await;
    assert_eq!(listed["presence"]["count"], 1);
    on_a.close().await;
    on_b.expect_silence(500).await;
    on_b.close().await;
    let presence_hooks = || {
        hooks
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["name"].as_str().unwrap().starts_with("member_"))
            .cloned()
            .collect::<Vec<_>>()
    };
    eventually(Duration::from_secs(10), "member_removed", || async {
        presence_hooks().len() >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        presence_hooks(),
        vec![
            json!({"name": "member_added", "channel": "presence-room", "user_id": "7"}),
            json!({"name": "member_removed", "channel": "presence-room", "user_id": "7"}),
        ],
        "one user, two nodes: said once each"
    );
}
