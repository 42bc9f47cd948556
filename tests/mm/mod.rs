//! Helpers for the Mattermost tests: accounts made with the real command line, REST calls
//! that return status, headers and JSON, and comparisons of Mattermost objects whose ids and
//! times the server chooses.
#![allow(dead_code)]

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{TestApp, Ws};

/// A Mattermost socket on `app` (`query` after the path, e.g. `?connection_id=…`),
/// authenticated by `Authorization: Bearer`.
pub async fn socket(app: &TestApp, token: &str, query: &str) -> Ws {
    let mut req = app
        .ws_url(&format!("/api/v4/websocket{query}"))
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", format!("Bearer {token}").parse().unwrap());
    Ws::connect(req).await
}

/// Creates a Mattermost account with `realtime-hub user add --username … --password …` on the
/// database at `db_url`; returns its id.
pub fn add_user(db_url: &str, username: &str, password: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_realtime-hub"))
        .args([
            "user",
            "add",
            "--username",
            username,
            "--password",
            password,
        ])
        .env("DATABASE_URL", db_url)
        .env("JWT_SECRET", crate::common::SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run realtime-hub user add");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "user add failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .trim()
        .rsplit(' ')
        .next()
        .expect("the id at the end")
        .to_string()
}

/// The SQLite URL of a test server's database.
pub fn sqlite_url(app: &TestApp) -> String {
    format!("sqlite://{}", app.db_path().display())
}

/// A REST answer.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The JSON body (`null` when empty).
    pub json: Value,
}

impl Reply {
    /// One header's value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Calls `/api/v4{path}` with an optional `Authorization: Bearer` token and JSON body.
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = reqwest::Client::new().request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        app.url(&format!("/api/v4{path}")),
    );
    if let Some(t) = token {
        req = req.header("Authorization", format!("BEARER {t}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    reply(req).await
}

/// Sends a prepared request and reads the answer.
pub async fn reply(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    if !json.is_null() {
        assert_eq!(
            headers.get("content-type").unwrap(),
            "application/json",
            "Client4 parses only exactly application/json"
        );
    }
    Reply {
        status,
        headers,
        json,
    }
}

/// Logs in; returns the session token from the `Token` header.
pub async fn login(app: &TestApp, username: &str, password: &str) -> String {
    let r = call(
        app,
        "POST",
        "/users/login",
        None,
        Some(json!({"login_id": username, "password": password, "token": "", "deviceId": ""})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.header("token").to_string()
}

/// Whether `s` is a Mattermost id.
pub fn is_id(s: &Value) -> bool {
    s.as_str()
        .is_some_and(realtime_hub::services::mattermost::is_id)
}

/// An AppError as the server sends it, with the request id it chose copied in.
pub fn app_error(got: &Value, id: &str, message: &str, status: u16) -> Value {
    assert!(is_id(&got["request_id"]), "request_id in {got}");
    json!({"id": id, "message": message, "detailed_error": "", "request_id": got["request_id"], "status_code": status})
}

/// Asserts a reply is the given AppError.
pub fn assert_error(r: &Reply, status: u16, id: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.json);
    assert_eq!(r.json, app_error(&r.json, id, message, status));
}

/// Copies what the server chose (times at `fields`) from `got` into `expected`, checking each
/// is a positive number.
pub fn fix_times(got: &Value, expected: &mut Value, fields: &[&str]) {
    for f in fields {
        let t = got
            .get(*f)
            .and_then(Value::as_i64)
            .unwrap_or_else(|| panic!("{f} in {got}"));
        assert!(t > 1_600_000_000_000, "{f} = {t} is not a time in ms");
        expected[*f] = json!(t);
    }
}

/// A user object as Mattermost sends it.
pub fn user(got: &Value, id: &str, username: &str) -> Value {
    let mut u = json!({
        "id": id, "create_at": 0, "update_at": 0, "delete_at": 0, "username": username,
        "auth_service": "", "email": "", "email_verified": true, "nickname": "", "first_name": "",
        "last_name": "", "position": "", "roles": "system_user", "locale": "en",
        "timezone": {"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"}
    });
    fix_times(got, &mut u, &["create_at", "update_at"]);
    u
}

/// A post object as Mattermost sends it; ids and times copied from `got`.
pub fn post(got: &Value, user: &str, channel: &str, message: &str) -> Value {
    assert!(is_id(&got["id"]), "post id in {got}");
    let mut p = json!({
        "id": got["id"], "create_at": 0, "update_at": 0, "edit_at": got["edit_at"], "delete_at": got["delete_at"],
        "is_pinned": got["is_pinned"], "user_id": user, "channel_id": channel, "root_id": "", "original_id": "",
        "message": message, "type": "", "props": {}, "hashtags": "", "pending_post_id": got["pending_post_id"],
        "reply_count": 0, "last_reply_at": 0, "participants": null, "metadata": {}
    });
    fix_times(got, &mut p, &["create_at", "update_at"]);
    p
}

/// Two users who share a team and an open channel.
pub struct World {
    /// alice's id and token.
    pub alice: (String, String),
    /// bob's id and token.
    pub bob: (String, String),
    /// The team.
    pub team: String,
    /// An open channel both are in.
    pub channel: String,
}

/// Makes the [`World`] on `app`, whose database is at `db_url`.
pub async fn world(app: &TestApp, db_url: &str) -> World {
    let alice_id = add_user(db_url, "alice", "alice-pw");
    let bob_id = add_user(db_url, "bob", "bob-pw1");
    let alice = login(app, "alice", "alice-pw").await;
    let bob = login(app, "bob", "bob-pw1").await;
    let team = call(
        app,
        "POST",
        "/teams",
        Some(&alice),
        Some(json!({"name": "core", "display_name": "Core", "type": "O"})),
    )
    .await;
    assert_eq!(team.status, 201, "{}", team.json);
    let team = team.json["id"].as_str().unwrap().to_string();
    let joined = call(
        app,
        "POST",
        &format!("/teams/{team}/members"),
        Some(&bob),
        Some(json!({"team_id": team, "user_id": bob_id})),
    )
    .await;
    assert_eq!(joined.status, 201, "{}", joined.json);
    let channel = call(app, "POST", "/channels", Some(&alice), Some(json!({"team_id": team, "name": "town-square", "display_name": "Town Square", "type": "O"}))).await;
    assert_eq!(channel.status, 201, "{}", channel.json);
    let channel = channel.json["id"].as_str().unwrap().to_string();
    let added = call(
        app,
        "POST",
        &format!("/channels/{channel}/members"),
        Some(&alice),
        Some(json!({"user_id": bob_id})),
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.json);
    World {
        alice: (alice_id, alice),
        bob: (bob_id, bob),
        team,
        channel,
    }
}
