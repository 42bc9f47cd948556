//! Authentication (SPEC §3) through the real server: which tokens are accepted, from where,
//! and what a refusal looks like — the same on REST and on sockets.

mod common;

use common::{refused, TestApp, Ws, SECRET};
use realtime_hub::auth::unix_now;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;

/// A token with exactly these claims, signed with the test secret.
fn sign(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// `GET /api/messages/` with an `Authorization` header as given and an optional query.
async fn rest(app: &TestApp, authorization: Option<&str>, query: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(app.url(&format!("/api/messages/{query}")));
    if let Some(value) = authorization {
        req = req.header("Authorization", value);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// A chat handshake with an optional `Authorization` header.
fn chat(app: &TestApp, authorization: Option<&str>, query: &str) -> Request {
    let mut req = app
        .ws_url(&format!("/ws/chat/auth/{query}"))
        .into_client_request()
        .unwrap();
    if let Some(value) = authorization {
        req.headers_mut()
            .insert("Authorization", value.parse().unwrap());
    }
    req
}

/// The name a chat member is shown under (its first message's `user`; the room's history,
/// replayed first, is passed over).
async fn chat_name(ws: &mut Ws) -> Value {
    ws.send_json(json!({"message": "who am i"})).await;
    loop {
        let frame = ws.recv_json().await;
        if frame.get("history").is_none() {
            return frame["user"].clone();
        }
    }
}

#[tokio::test]
async fn a_token_whose_nbf_is_ahead_is_refused_on_rest_and_sockets() {
    let app = TestApp::spawn();
    let now = unix_now();
    let later = sign(json!({"user_id": 1, "name": "early", "nbf": now + 3600, "exp": now + 7200}));
    let refusal = json!({"error": "token not yet valid"});
    assert_eq!(
        rest(&app, Some(&format!("Bearer {later}")), "").await,
        (401, refusal.clone())
    );
    assert_eq!(
        refused(chat(&app, None, &format!("?token={later}"))).await,
        (401, refusal)
    );
    let now_valid = sign(json!({"user_id": 1, "name": "on time", "nbf": now - 1, "exp": now + 60}));
    assert_eq!(
        rest(&app, Some(&format!("Bearer {now_valid}")), "").await.0,
        200
    );
}

#[tokio::test]
async fn the_user_id_is_the_first_claim_present_and_a_positive_integer() {
    let app = TestApp::spawn();
    let exp = unix_now() + 60;
    for (claims, claim) in [
        (json!({"user_id": "-5", "exp": exp}), "user_id"),
        (json!({"user_id": -5, "exp": exp}), "user_id"),
        (json!({"user_id": "abc", "sub": "7", "exp": exp}), "user_id"),
        (json!({"id": 0, "sub": "7", "exp": exp}), "id"),
        (json!({"sub": "7.0", "exp": exp}), "sub"),
    ] {
        let token = sign(claims.clone());
        let refusal = json!({"error": format!("token has an invalid {claim} claim")});
        assert_eq!(
            rest(&app, Some(&format!("Bearer {token}")), "").await,
            (401, refusal.clone()),
            "{claims}"
        );
        assert_eq!(
            refused(chat(&app, None, &format!("?token={token}"))).await,
            (401, refusal),
            "{claims}"
        );
    }
    // Numeric strings are ids (simplejwt emits them), and `user_id` wins over `sub`.
    let token = sign(json!({"user_id": "12", "sub": "7", "username": "lee", "exp": exp}));
    let mut ws = Ws::connect(chat(&app, None, &format!("?token={token}"))).await;
    assert_eq!(chat_name(&mut ws).await, "lee");
    let (status, page) = rest(&app, Some(&format!("Bearer {token}")), "").await;
    assert_eq!((status, page["results"].clone()), (200, json!([])));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_for_rest_sockets_and_the_api_key() {
    let app = TestApp::with(&[("HUB_API_KEY", "k3y")]);
    let token = app.token(3, "low");
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let (status, _) = rest(&app, Some(&format!("{scheme} {token}")), "").await;
        assert_eq!(status, 200, "{scheme}");
    }
    let mut ws = Ws::connect(chat(&app, Some(&format!("bearer {token}")), "")).await;
    assert_eq!(chat_name(&mut ws).await, "low");

    let resp = reqwest::Client::new()
        .post(app.url("/api/broadcast/"))
        .header("Authorization", "bearer k3y")
        .header("Content-Type", "application/json")
        .body(r#"{"channel":"jobs:1","data":{},"type":"message"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap()),
        (202, json!({"ok": true}))
    );
}

#[tokio::test]
async fn every_token_a_request_carries_must_be_valid() {
    let app = TestApp::spawn();
    let good = app.token(4, "dee");
    let header = format!("Bearer {good}");
    let invalid = json!({"error": "invalid token"});
    // A valid header beside a bad query token, and the reverse.
    assert_eq!(
        rest(&app, Some(&header), "?token=garbage").await,
        (401, invalid.clone())
    );
    assert_eq!(
        rest(&app, Some("Bearer garbage"), &format!("?token={good}")).await,
        (401, invalid.clone())
    );
    assert_eq!(
        refused(chat(&app, Some(&header), "?token=garbage")).await,
        (401, invalid.clone())
    );
    assert_eq!(
        refused(chat(
            &app,
            Some("Bearer garbage"),
            &format!("?token={good}")
        ))
        .await,
        (401, invalid)
    );
    // Two valid tokens must name the same user.
    let other = app.token(5, "eve");
    let conflict = json!({"error": "tokens name different users"});
    assert_eq!(
        rest(&app, Some(&header), &format!("?token={other}")).await,
        (401, conflict.clone())
    );
    assert_eq!(
        refused(chat(&app, Some(&header), &format!("?token={other}"))).await,
        (401, conflict)
    );
    // The same user twice, or one token in both places, is fine.
    assert_eq!(
        rest(&app, Some(&header), &format!("?token={good}")).await.0,
        200
    );
    let mut ws = Ws::connect(chat(&app, Some(&header), &format!("?token={good}"))).await;
    assert_eq!(chat_name(&mut ws).await, "dee");
}

/// The users row of `id` in a test server's SQLite file: its name and when it was last written.
fn user_row(app: &TestApp, id: i64) -> Option<(String, chrono::NaiveDateTime)> {
    use diesel::prelude::*;
    use realtime_hub::db::schema::users;
    let mut conn = diesel::SqliteConnection::establish(app.db_path().to_str().unwrap()).unwrap();
    users::table
        .find(id)
        .select((users::name, users::updated_at))
        .first(&mut conn)
        .optional()
        .unwrap()
}

#[tokio::test]
async fn the_user_row_is_written_only_when_the_token_says_something_new() {
    let app = TestApp::spawn();
    let gil = app.token(7, "gil");
    assert_eq!(rest(&app, Some(&format!("Bearer {gil}")), "").await.0, 200);
    let (name, written) = user_row(&app, 7).expect("the user is recorded");
    assert_eq!(name, "gil");

    // The same name again, over REST and over a socket: nothing is written.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for _ in 0..3 {
        assert_eq!(rest(&app, Some(&format!("Bearer {gil}")), "").await.0, 200);
    }
    let mut ws = Ws::connect(chat(&app, None, &format!("?token={gil}"))).await;
    assert_eq!(chat_name(&mut ws).await, "gil");
    assert_eq!(user_row(&app, 7), Some(("gil".to_string(), written)));

    // A new name is written; a token without a name keeps the stored one.
    let renamed = app.token(7, "gil2");
    assert_eq!(
        rest(&app, Some(&format!("Bearer {renamed}")), "").await.0,
        200
    );
    let (name, rewritten) = user_row(&app, 7).unwrap();
    assert_eq!(name, "gil2");
    assert!(rewritten > written);
    let nameless = sign(json!({"user_id": 7, "exp": unix_now() + 60}));
    assert_eq!(
        rest(&app, Some(&format!("Bearer {nameless}")), "").await.0,
        200
    );
    let mut ws = Ws::connect(chat(&app, None, &format!("?token={nameless}"))).await;
    assert_eq!(chat_name(&mut ws).await, "gil2");
    assert_eq!(user_row(&app, 7), Some(("gil2".to_string(), rewritten)));
    // A user first seen without a name is recorded under the decimal id.
    let first = sign(json!({"user_id": 8, "exp": unix_now() + 60}));
    assert_eq!(
        rest(&app, Some(&format!("Bearer {first}")), "").await.0,
        200
    );
    assert_eq!(user_row(&app, 8).unwrap().0, "8");
}

#[tokio::test]
async fn a_handshake_refused_by_the_quota_writes_no_user() {
    let app = TestApp::with(&[("HUB_MAX_CONN_PER_USER", "1")]);
    let first = app.token(9, "first");
    let open = Ws::connect(chat(&app, None, &format!("?token={first}"))).await;
    assert_eq!(user_row(&app, 9).unwrap().0, "first");
    let renamed = app.token(9, "renamed");
    assert_eq!(
        refused(chat(&app, None, &format!("?token={renamed}"))).await,
        (429, json!({"error": "too many connections for this user"}))
    );
    assert_eq!(user_row(&app, 9).unwrap().0, "first");
    // Once there is room, the same handshake goes through and records the new name.
    open.close().await;
    let url = format!("?token={renamed}");
    for _ in 0..100 {
        if tokio_tungstenite::connect_async(chat(&app, None, &url))
            .await
            .is_ok()
        {
            assert_eq!(user_row(&app, 9).unwrap().0, "renamed");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the quota place never came back");
}

/// An access token as djangorestframework-simplejwt mints it: `user_id` and no name at all.
fn simplejwt(user_id: i64) -> String {
    let now = unix_now();
    sign(json!({
        "token_type": "access", "exp": now + 300, "iat": now,
        "jti": "5f0c8f2e4b6a4d0e9a1b2c3d4e5f6a7b", "user_id": user_id
    }))
}

#[tokio::test]
async fn a_token_without_a_name_is_shown_under_the_stored_name_in_every_dialect() {
    let app = TestApp::spawn();
    let (gil, ann) = (app.token(7, "gil"), app.token(8, "ann"));
    for token in [&gil, &ann] {
        assert_eq!(
            rest(&app, Some(&format!("Bearer {token}")), "").await.0,
            200
        );
    }
    let nameless = simplejwt(7);
    let gil_object = json!({"id": 7, "name": "gil", "username": "gil"});

    // chat: the `user` of its messages.
    let mut ws = Ws::connect(chat(&app, None, &format!("?token={nameless}"))).await;
    assert_eq!(chat_name(&mut ws).await, "gil");

    // messages: `sender` over REST and in `new_message`, on the sender's own socket.
    let mut inbox = app.ws(&format!("/ws/messages/?token={nameless}")).await;
    assert_eq!(
        inbox.recv_json().await,
        json!({"type": "connection", "message": "connected", "user_id": 7})
    );
    let (status, sent) = common::api(
        &app,
        "POST",
        "/api/messages/",
        Some(&nameless),
        Some(json!({"recipient_id": 8, "subject": "", "body": "hi"})),
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(
        (sent["sender"].clone(), sent["recipient"].clone()),
        (
            gil_object.clone(),
            json!({"id": 8, "name": "ann", "username": "ann"})
        )
    );
    let pushed = inbox.recv_json().await;
    assert_eq!(pushed["type"], "new_message");
    assert_eq!(pushed["message"]["sender"], gil_object);

    // broadcast: the `connected` list and the `sender` of messages.
    let now = unix_now();
    let channel_token = sign(json!({"id": 7, "channel": "band:1", "iat": now, "exp": now + 60}));
    let mut bc = app
        .ws(&format!("/ws/broadcast/?token={channel_token}"))
        .await;
    assert_eq!(
        bc.recv_json().await,
        json!({"type": "connected", "users": [{"id": 7, "name": "gil"}]})
    );
    bc.send_json(json!({"data": {"text": "hi"}})).await;
    assert_eq!(bc.recv_json().await, json!({"type": "sended", "ok": true}));
    assert_eq!(
        bc.recv_json().await,
        json!({"type": "message", "sender": {"name": "gil", "id": 7}, "data": {"text": "hi"}})
    );
    assert_eq!(user_row(&app, 7).unwrap().0, "gil");
}

#[tokio::test]
async fn a_node_that_never_saw_the_user_reads_the_stored_name() {
    let first = TestApp::spawn();
    let gil = first.token(7, "gil");
    assert_eq!(
        rest(&first, Some(&format!("Bearer {gil}")), "").await.0,
        200
    );
    // A second node on the same database: nothing about user 7 in its memory.
    let db = format!("sqlite://{}", first.db_path().display());
    let second = TestApp::node(&[], Some(db));
    let mut ws = Ws::connect(chat(&second, None, &format!("?token={}", simplejwt(7)))).await;
    assert_eq!(chat_name(&mut ws).await, "gil");
    // A user first seen without a name is shown under its id, and keeps it only until a
    // token names it.
    let mut ws = Ws::connect(chat(&second, None, &format!("?token={}", simplejwt(9)))).await;
    assert_eq!(chat_name(&mut ws).await, "9");
    let mut ws = Ws::connect(chat(
        &second,
        None,
        &format!("?token={}", second.token(9, "ivy")),
    ))
    .await;
    assert_eq!(chat_name(&mut ws).await, "ivy");
    let mut ws = Ws::connect(chat(&second, None, &format!("?token={}", simplejwt(9)))).await;
    assert_eq!(chat_name(&mut ws).await, "ivy");
}
