//! What every REST endpoint shares: refusals that actix-web would answer itself (a body too
//! large, a body that is not declared JSON, a method the path does not serve) come back as
//! `{"error": …}` with the right status, like every other refusal of the hub.

mod common;

use common::TestApp;
use serde_json::{json, Value};

async fn send(req: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let allow = resp
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, allow, body)
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_json() {
    let app = TestApp::spawn();
    let token = app.token(1, "ann");
    let big = json!({"recipient_id": 2, "body": "x".repeat(300 * 1024)}).to_string();
    let (status, _, body) = send(
        reqwest::Client::new()
            .post(app.url("/api/messages/"))
            .bearer_auth(&token)
            .header("Content-Type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(
        (status, body),
        (413, json!({"error": "request body over 262144 bytes"}))
    );

    let app = TestApp::with(&[("HUB_MAX_BODY_BYTES", "2048")]);
    let token = app.token(1, "ann");
    let (status, _, body) = send(
        reqwest::Client::new()
            .post(app.url("/api/guitar/sessions/"))
            .bearer_auth(&token)
            .json(&json!({"members": vec![2; 2000]})),
    )
    .await;
    assert_eq!(
        (status, body),
        (413, json!({"error": "request body over 2048 bytes"}))
    );
}

#[tokio::test]
async fn json_bodies_must_be_declared_json() {
    let app = TestApp::with(&[("HUB_API_KEY", "k3y")]);
    let token = app.token(1, "ann");
    let unsupported = json!({"error": "Content-Type must be application/json"});
    let client = reqwest::Client::new();
    for (path, auth, body) in [
        ("/api/guitar/sessions/", token.as_str(), "{}"),
        (
            "/api/messages/",
            token.as_str(),
            r#"{"recipient_id": 2, "body": "hi"}"#,
        ),
        ("/api/communities/", token.as_str(), r#"{"name": "band"}"#),
        (
            "/api/communities/1/members/",
            token.as_str(),
            r#"{"user_id": 2}"#,
        ),
        (
            "/api/broadcast/",
            "k3y",
            r#"{"channel":"jobs:1","data":{},"type":"message"}"#,
        ),
    ] {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            None,
        ] {
            let mut req = client.post(app.url(path)).bearer_auth(auth).body(body);
            if let Some(ct) = content_type {
                req = req.header("Content-Type", ct);
            }
            assert_eq!(
                send(req).await,
                (415, None, unsupported.clone()),
                "{path} {content_type:?}"
            );
        }
    }
    // Declared JSON (with parameters) is read; an empty optional body needs no type.
    let (status, _, _) = send(
        client
            .post(app.url("/api/guitar/sessions/"))
            .bearer_auth(&token)
            .header("Content-Type", "application/json; charset=utf-8")
            .body("{}"),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, body) = send(
        client
            .post(app.url("/api/guitar/sessions/"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!((status, body["members"].clone()), (201, json!([])));
}

#[tokio::test]
async fn a_method_the_path_does_not_serve_is_405_in_json_with_allow() {
    let app = TestApp::with(&[("HUB_API_KEY", "k3y")]);
    let token = app.token(1, "ann");
    let client = reqwest::Client::new();
    let not_allowed = json!({"error": "method not allowed"});
    for (method, path, allow) in [
        ("PUT", "/api/messages/", "GET, POST"),
        ("DELETE", "/api/messages", "GET, POST"),
        ("POST", "/api/messages/unread_count/", "GET"),
        ("PATCH", "/api/messages/1/", "GET"),
        ("GET", "/api/messages/1/read/", "POST"),
        ("DELETE", "/api/communities/", "GET, POST"),
        ("GET", "/api/communities/1/members/", "POST"),
        ("GET", "/api/guitar/sessions/", "POST"),
        ("POST", "/api/guitar/sessions/abc/", "GET, DELETE"),
        ("GET", "/api/broadcast/", "POST"),
    ] {
        let req = client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&token);
        assert_eq!(
            send(req).await,
            (405, Some(allow.to_string()), not_allowed.clone()),
            "{method} {path}"
        );
    }
    // Paths that do not exist stay 404.
    let (status, _, body) = send(client.put(app.url("/api/nothing/"))).await;
    assert_eq!((status, body), (404, json!({"error": "not found"})));
}
