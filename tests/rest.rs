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

/// The CORS headers of an answer, in a fixed order, absent ones left out.
fn cors_headers(resp: &reqwest::Response) -> Vec<(String, String)> {
    [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-max-age",
        "access-control-allow-credentials",
        "vary",
    ]
    .iter()
    .filter_map(|name| {
        let values: Vec<_> = resp
            .headers()
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        (!values.is_empty()).then(|| (name.to_string(), values.join(", ")))
    })
    .collect()
}

#[tokio::test]
async fn cors_lets_listed_origins_call_the_api_and_no_others() {
    let app = TestApp::with(&[("HUB_ALLOWED_ORIGINS", "https://app.example")]);
    let token = app.token(1, "ann");
    let client = reqwest::Client::new();
    // The recipient exists once the hub has seen its token.
    let bob = client
        .get(app.url("/api/messages/"))
        .bearer_auth(app.token(2, "bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 200);
    let preflight = |origin: &str| {
        client
            .request(reqwest::Method::OPTIONS, app.url("/api/messages/"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
    };

    // A listed origin: the preflight is answered, then the call carries the origin.
    let resp = preflight("https://app.example").send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let s = |v: &str| v.to_string();
    assert_eq!(
        cors_headers(&resp),
        [
            (s("access-control-allow-origin"), s("https://app.example")),
            (
                s("access-control-allow-methods"),
                s("GET, POST, PUT, PATCH, DELETE")
            ),
            (
                s("access-control-allow-headers"),
                s("authorization, content-type")
            ),
            (s("access-control-max-age"), s("600")),
            (
                s("vary"),
                s("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
            ),
        ]
    );
    let resp = client
        .post(app.url("/api/messages/"))
        .header("Origin", "https://app.example")
        .bearer_auth(&token)
        .json(&json!({"recipient_id": 2, "body": "across origins"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(
        cors_headers(&resp),
        [
            (s("access-control-allow-origin"), s("https://app.example")),
            (s("vary"), s("Origin")),
        ]
    );
    // Errors carry it too, so that the page can read them.
    let resp = client
        .get(app.url("/api/messages/"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(cors_headers(&resp)[0].1, "https://app.example");

    // Another origin: its preflight is refused in JSON and its answers carry no CORS header.
    let resp = preflight("https://evil.example").send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(cors_headers(&resp), []);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "origin not allowed"})
    );
    let resp = client
        .get(app.url("/api/messages/"))
        .header("Origin", "https://evil.example")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(cors_headers(&resp), []);
    // No Origin (a server calling): nothing changes.
    let resp = client
        .get(app.url("/api/messages/"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!((resp.status().as_u16(), cors_headers(&resp)), (200, vec![]));
}
