//! The messages dialect (seeds/000): REST, both sockets, receipts and counts, exact JSON.

mod common;

use common::{api, fix_time, refused, TestApp, Ws};
use serde_json::{json, Value};

struct People {
    alice: String,
    bob: String,
    carol: String,
}

/// Three users, recorded by one authenticated request each (users appear when they first
/// authenticate).
async fn people(app: &TestApp) -> People {
    let p = People {
        alice: app.token(1, "alice"),
        bob: app.token(2, "bob"),
        carol: app.token(3, "carol"),
    };
    for t in [&p.alice, &p.bob, &p.carol] {
        assert_eq!(
            api(app, "GET", "/api/communities/", Some(t), None).await,
            (200, json!([]))
        );
    }
    p
}

fn message(
    id: i64,
    from: (i64, &str),
    to: (i64, &str),
    community: Value,
    subject: &str,
    body: &str,
) -> Value {
    json!({
        "id": id, "sender": {"id": from.0, "name": from.1, "username": from.1},
        "recipient": {"id": to.0, "name": to.1, "username": to.1},
        "community": community, "subject": subject, "body": body, "is_read": false, "read_at": null,
        "created_at": "", "updated_at": ""
    })
}

fn fix_times(got: &Value, expected: &mut Value, prefix: &str) {
    for field in ["created_at", "updated_at"] {
        fix_time(got, expected, &format!("{prefix}/{field}"));
    }
    if got
        .pointer(&format!("{prefix}/read_at"))
        .is_some_and(Value::is_string)
    {
        fix_time(got, expected, &format!("{prefix}/read_at"));
    }
}

async fn send(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, msg) = api(app, "POST", "/api/messages/", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{msg}");
    msg
}

#[tokio::test]
async fn messages_over_rest() {
    let app = TestApp::spawn();
    let p = people(&app).await;
    assert_eq!(
        api(
            &app,
            "POST",
            "/api/messages/",
            None,
            Some(json!({"recipient_id": 2, "body": "x"}))
        )
        .await,
        (401, json!({"error": "authentication required"}))
    );
    let got = send(
        &app,
        &p.alice,
        json!({"recipient_id": 2, "subject": "Hi", "body": "Hello"}),
    )
    .await;
    let mut expected = message(1, (1, "alice"), (2, "bob"), Value::Null, "Hi", "Hello");
    fix_times(&got, &mut expected, "");
    assert_eq!(got, expected);

    let post = |body: Value| api(&app, "POST", "/api/messages/", Some(&p.alice), Some(body));
    assert_eq!(
        post(json!({"recipient_id": 99, "body": "x"})).await,
        (404, json!({"error": "recipient not found"}))
    );
    assert_eq!(
        post(json!({"recipient_id": 2, "body": ""})).await,
        (422, json!({"error": "body must be 1 to 10000 characters"}))
    );
    assert_eq!(
        post(json!({"recipient_id": 2, "subject": "s".repeat(201), "body": "x"})).await,
        (
            422,
            json!({"error": "subject must be at most 200 characters"})
        )
    );
    assert_eq!(
        post(json!({"recipient_id": 2, "community_id": 9, "body": "x"})).await,
        (404, json!({"error": "community not found"}))
    );
    let (status, missing) = post(json!({"body": "x"})).await;
    assert_eq!(
        (
            status,
            missing["error"].as_str().unwrap().contains("recipient_id")
        ),
        (422, true)
    );
    let raw = reqwest::Client::new()
        .post(app.url("/api/messages/"))
        .bearer_auth(&p.alice)
        .header("Content-Type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (raw.status().as_u16(), raw.json::<Value>().await.unwrap()),
        (400, json!({"error": "invalid JSON"}))
    );

    for t in [&p.alice, &p.bob] {
        assert_eq!(
            api(&app, "GET", "/api/messages/1/", Some(t), None).await,
            (200, expected.clone())
        );
    }
    assert_eq!(
        api(&app, "GET", "/api/messages/1/", Some(&p.carol), None).await,
        (404, json!({"error": "message not found"}))
    );
    assert_eq!(
        api(&app, "GET", "/api/messages/abc/", Some(&p.bob), None).await,
        (404, json!({"error": "message not found"}))
    );

    assert_eq!(
        api(
            &app,
            "GET",
            "/api/messages/unread_count/",
            Some(&p.bob),
            None
        )
        .await,
        (200, json!({"count": 1}))
    );
    assert_eq!(
        api(&app, "POST", "/api/messages/1/read/", Some(&p.alice), None).await,
        (
            403,
            json!({"error": "only the recipient can mark a message read"})
        )
    );
    assert_eq!(
        api(&app, "POST", "/api/messages/1/read/", Some(&p.carol), None).await,
        (404, json!({"error": "message not found"}))
    );
    let (status, read) = api(&app, "POST", "/api/messages/1/read/", Some(&p.bob), None).await;
    assert_eq!(status, 200);
    let mut expected_read = expected.clone();
    expected_read["is_read"] = json!(true);
    expected_read["read_at"] = json!("");
    fix_times(&read, &mut expected_read, "");
    assert_eq!(read, expected_read);
    // Idempotent: the first read time stays.
    assert_eq!(
        api(&app, "POST", "/api/messages/1/read/", Some(&p.bob), None).await,
        (200, expected_read)
    );
    assert_eq!(
        api(
            &app,
            "GET",
            "/api/messages/unread_count/",
            Some(&p.bob),
            None
        )
        .await,
        (200, json!({"count": 0}))
    );
}

#[tokio::test]
async fn communities_and_their_rules() {
    let app = TestApp::spawn();
    let p = people(&app).await;
    let (status, c) = api(
        &app,
        "POST",
        "/api/communities/",
        Some(&p.alice),
        Some(json!({"name": "guitarists"})),
    )
    .await;
    assert_eq!(status, 201);
    let mut expected = json!({"id": 1, "name": "guitarists", "created_by": 1, "created_at": ""});
    fix_time(&c, &mut expected, "/created_at");
    assert_eq!(c, expected);
    assert_eq!(
        api(
            &app,
            "POST",
            "/api/communities/",
            Some(&p.alice),
            Some(json!({"name": " "}))
        )
        .await,
        (422, json!({"error": "name must be 1 to 100 characters"}))
    );
    assert_eq!(
        api(&app, "GET", "/api/communities/", Some(&p.alice), None).await,
        (200, json!([expected]))
    );
    assert_eq!(
        api(&app, "GET", "/api/communities/", Some(&p.bob), None).await,
        (200, json!([]))
    );

    let add = |token: &str, user: i64, community: &str| {
        let token = token.to_string();
        let path = format!("/api/communities/{community}/members/");
        let app = &app;
        async move {
            api(
                app,
                "POST",
                &path,
                Some(&token),
                Some(json!({"user_id": user})),
            )
            .await
        }
    };
    assert_eq!(
        add(&p.bob, 2, "1").await,
        (403, json!({"error": "not a member of this community"}))
    );
    assert_eq!(
        add(&p.alice, 2, "1").await,
        (201, json!({"community_id": 1, "user_id": 2}))
    );
    assert_eq!(
        add(&p.alice, 2, "1").await,
        (200, json!({"community_id": 1, "user_id": 2}))
    );
    assert_eq!(
        add(&p.alice, 99, "1").await,
        (404, json!({"error": "user not found"}))
    );
    assert_eq!(
        add(&p.alice, 2, "7").await,
        (404, json!({"error": "community not found"}))
    );

    let (status, err) = api(
        &app,
        "POST",
        "/api/messages/",
        Some(&p.alice),
        Some(json!({"recipient_id": 3, "community_id": 1, "body": "x"})),
    )
    .await;
    assert_eq!(
        (status, err),
        (
            403,
            json!({"error": "sender and recipient must both be members of the community"})
        )
    );
    let got = send(
        &app,
        &p.alice,
        json!({"recipient_id": 2, "community_id": 1, "subject": "Jam", "body": "Friday?"}),
    )
    .await;
    let mut expected = message(
        1,
        (1, "alice"),
        (2, "bob"),
        json!({"id": 1, "name": "guitarists"}),
        "Jam",
        "Friday?",
    );
    fix_times(&got, &mut expected, "");
    assert_eq!(got, expected);
    assert_eq!(
        api(
            &app,
            "GET",
            "/api/messages/unread_count/?community_id=1",
            Some(&p.bob),
            None
        )
        .await,
        (200, json!({"count": 1, "community_id": 1}))
    );
    assert_eq!(
        api(
            &app,
            "GET",
            "/api/messages/unread_count/?community_id=1",
            Some(&p.carol),
            None
        )
        .await,
        (403, json!({"error": "not a member of this community"}))
    );
}

#[tokio::test]
async fn the_list_is_newest_first_with_a_cursor() {
    let app = TestApp::spawn();
    let p = people(&app).await;
    for i in 1..=5 {
        send(
            &app,
            &p.alice,
            json!({"recipient_id": 2, "body": format!("a{i}")}),
        )
        .await;
    }
    send(&app, &p.bob, json!({"recipient_id": 1, "body": "b6"})).await;
    send(&app, &p.carol, json!({"recipient_id": 2, "body": "c7"})).await;

    let ids = |v: &Value| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let (status, page) = api(&app, "GET", "/api/messages/?limit=4", Some(&p.alice), None).await;
    assert_eq!(
        (status, ids(&page), page["next_before"].clone()),
        (200, vec![6, 5, 4, 3], json!(3))
    );
    let (_, page) = api(
        &app,
        "GET",
        "/api/messages/?limit=4&before=3",
        Some(&p.alice),
        None,
    )
    .await;
    assert_eq!(
        (ids(&page), page["next_before"].clone()),
        (vec![2, 1], Value::Null)
    );
    let (_, first) = api(&app, "GET", "/api/messages/", Some(&p.alice), None).await;
    let mut expected = message(6, (2, "bob"), (1, "alice"), Value::Null, "", "b6");
    fix_times(&first["results"][0], &mut expected, "");
    assert_eq!(first["results"][0], expected);

    api(&app, "POST", "/api/messages/7/read/", Some(&p.bob), None).await;
    let (_, unread) = api(
        &app,
        "GET",
        "/api/messages/?unread=true",
        Some(&p.bob),
        None,
    )
    .await;
    assert_eq!(ids(&unread), vec![5, 4, 3, 2, 1]);
    for (query, status) in [("limit=0", 422), ("limit=101", 422), ("limit=x", 400)] {
        let (got, _) = api(
            &app,
            "GET",
            &format!("/api/messages/?{query}"),
            Some(&p.alice),
            None,
        )
        .await;
        assert_eq!(got, status, "{query}");
    }
}

/// Community 1, "band": alice created it and added bob.
async fn band(app: &TestApp, p: &People) {
    let create = json!({"name": "band"});
    assert_eq!(
        api(
            app,
            "POST",
            "/api/communities/",
            Some(&p.alice),
            Some(create)
        )
        .await
        .0,
        201
    );
    let add = json!({"user_id": 2});
    assert_eq!(
        api(
            app,
            "POST",
            "/api/communities/1/members/",
            Some(&p.alice),
            Some(add)
        )
        .await
        .0,
        201
    );
}

async fn socket(app: &TestApp, path: &str, token: &str) -> Ws {
    app.ws(&format!("{path}?token={token}")).await
}

#[tokio::test]
async fn events_reach_every_socket_that_should_get_them_exactly_once() {
    let app = TestApp::spawn();
    let p = people(&app).await;
    band(&app, &p).await;

    let mut bob_a = socket(&app, "/ws/messages/", &p.bob).await;
    let mut bob_b = socket(&app, "/ws/messages", &p.bob).await;
    let mut bob_band = socket(&app, "/ws/messages/community/1/", &p.bob).await;
    let mut alice = socket(&app, "/ws/messages/", &p.alice).await;
    for ws in [&mut bob_a, &mut bob_b] {
        assert_eq!(
            ws.recv_json().await,
            json!({"type": "connection", "message": "connected", "user_id": 2})
        );
    }
    assert_eq!(
        bob_band.recv_json().await,
        json!({"type": "connection", "message": "connected", "user_id": 2, "community_id": 1})
    );
    assert_eq!(
        alice.recv_json().await,
        json!({"type": "connection", "message": "connected", "user_id": 1})
    );

    // A direct message: bob's global sockets and alice's; not the community socket.
    let direct = send(
        &app,
        &p.alice,
        json!({"recipient_id": 2, "subject": "s", "body": "direct"}),
    )
    .await;
    let new_direct = json!({"type": "new_message", "message": direct});
    for ws in [&mut bob_a, &mut bob_b] {
        assert_eq!(ws.recv_json().await, new_direct);
        assert_eq!(
            ws.recv_json().await,
            json!({"type": "unread_count", "count": 1})
        );
    }
    assert_eq!(alice.recv_json().await, new_direct);

    // A community message: also bob's community socket, with the community's count.
    let banded = send(
        &app,
        &p.alice,
        json!({"recipient_id": 2, "community_id": 1, "body": "in the band"}),
    )
    .await;
    let new_banded = json!({"type": "new_message", "message": banded});
    for ws in [&mut bob_a, &mut bob_b] {
        assert_eq!(ws.recv_json().await, new_banded);
        assert_eq!(
            ws.recv_json().await,
            json!({"type": "unread_count", "count": 2})
        );
    }
    assert_eq!(bob_band.recv_json().await, new_banded);
    assert_eq!(
        bob_band.recv_json().await,
        json!({"type": "unread_count", "count": 1, "community_id": 1})
    );
    assert_eq!(alice.recv_json().await, new_banded);

    // Bob reads the community message from his community socket: a receipt everywhere it
    // belongs, then his counts.
    bob_band
        .send_json(json!({"type": "mark_read", "message_id": banded["id"]}))
        .await;
    let receipt = bob_band.recv_json().await;
    assert_eq!(receipt["type"], "message_read");
    let read_at = receipt["read_at"].as_str().unwrap().to_string();
    let expected_receipt =
        json!({"type": "message_read", "message_id": banded["id"], "read_at": read_at});
    assert_eq!(receipt, expected_receipt);
    assert_eq!(
        bob_band.recv_json().await,
        json!({"type": "unread_count", "count": 0, "community_id": 1})
    );
    for ws in [&mut bob_a, &mut bob_b] {
        assert_eq!(ws.recv_json().await, expected_receipt);
        assert_eq!(
            ws.recv_json().await,
            json!({"type": "unread_count", "count": 1})
        );
    }
    assert_eq!(alice.recv_json().await, expected_receipt);

    // The direct one over REST: the same operation, the same events.
    let (status, _) = api(
        &app,
        "POST",
        &format!("/api/messages/{}/read/", direct["id"]),
        Some(&p.bob),
        None,
    )
    .await;
    assert_eq!(status, 200);
    for ws in [&mut bob_a, &mut bob_b, &mut alice] {
        let r = ws.recv_json().await;
        assert_eq!(
            (r["type"].clone(), r["message_id"].clone()),
            (json!("message_read"), direct["id"].clone())
        );
    }
    for ws in [&mut bob_a, &mut bob_b] {
        assert_eq!(
            ws.recv_json().await,
            json!({"type": "unread_count", "count": 0})
        );
    }
    // Exactly once: nothing else is on its way.
    for ws in [&mut bob_a, &mut bob_b, &mut bob_band, &mut alice] {
        ws.expect_silence(200).await;
    }
}

#[tokio::test]
async fn socket_frames_and_refusals() {
    let app = TestApp::spawn();
    let p = people(&app).await;
    band(&app, &p).await;
    send(
        &app,
        &p.alice,
        json!({"recipient_id": 2, "community_id": 1, "body": "one"}),
    )
    .await;
    send(&app, &p.alice, json!({"recipient_id": 2, "body": "two"})).await;
    send(
        &app,
        &p.alice,
        json!({"recipient_id": 3, "body": "not bob's"}),
    )
    .await;

    let mut bob = socket(&app, "/ws/messages/", &p.bob).await;
    bob.recv_json().await;
    bob.send_json(json!({"type": "ping"})).await;
    assert_eq!(bob.recv_json().await, json!({"type": "pong"}));
    bob.send_json(json!({"type": "get_unread_count"})).await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "unread_count", "count": 2})
    );
    bob.send_json(json!({"type": "get_unread_count", "community_id": 1}))
        .await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "unread_count", "count": 1, "community_id": 1})
    );

    let error =
        |message: &str, code: &str| json!({"type": "error", "message": message, "code": code});
    let cases = [
        ("nope".to_string(), error("invalid JSON", "invalid_json")),
        (
            "[1]".to_string(),
            error("expected {\"type\": \"…\"}", "invalid_frame"),
        ),
        (
            r#"{"type":"shout"}"#.to_string(),
            error("unknown type: shout", "unknown_type"),
        ),
        (
            r#"{"type":"mark_read","message_id":"1"}"#.to_string(),
            error("message_id must be an integer", "invalid_field"),
        ),
        (
            r#"{"type":"get_unread_count","community_id":"1"}"#.to_string(),
            error("community_id must be an integer", "invalid_field"),
        ),
        (
            r#"{"type":"mark_read","message_id":999}"#.to_string(),
            error("message not found", "not_found"),
        ),
        (
            r#"{"type":"mark_read","message_id":3}"#.to_string(),
            error("message not found", "not_found"),
        ),
        (
            r#"{"type":"get_unread_count","community_id":5}"#.to_string(),
            error("community not found", "not_found"),
        ),
    ];
    for (frame, expected) in cases {
        bob.send_text(&frame).await;
        assert_eq!(bob.recv_json().await, expected, "{frame}");
    }
    let mut alice = socket(&app, "/ws/messages/", &p.alice).await;
    alice.recv_json().await;
    alice
        .send_json(json!({"type": "mark_read", "message_id": 2}))
        .await;
    assert_eq!(
        alice.recv_json().await,
        error("only the recipient can mark a message read", "forbidden")
    );
    let mut carol = socket(&app, "/ws/messages/", &p.carol).await;
    carol.recv_json().await;
    carol
        .send_json(json!({"type": "get_unread_count", "community_id": 1}))
        .await;
    assert_eq!(
        carol.recv_json().await,
        error("not a member of this community", "forbidden")
    );

    // Nothing was written, and the sockets still work.
    bob.send_json(json!({"type": "get_unread_count"})).await;
    assert_eq!(
        bob.recv_json().await,
        json!({"type": "unread_count", "count": 2})
    );
    let mut band = socket(&app, "/ws/messages/community/1/", &p.bob).await;
    band.recv_json().await;
    band.send_json(json!({"type": "get_unread_count"})).await;
    assert_eq!(
        band.recv_json().await,
        json!({"type": "unread_count", "count": 1, "community_id": 1})
    );
}

#[tokio::test]
async fn sockets_are_refused_before_the_upgrade() {
    let app = TestApp::spawn();
    let p = people(&app).await;
    api(
        &app,
        "POST",
        "/api/communities/",
        Some(&p.alice),
        Some(json!({"name": "band"})),
    )
    .await;
    assert_eq!(
        refused(app.ws_url("/ws/messages/")).await,
        (401, json!({"error": "authentication required"}))
    );
    assert_eq!(
        refused(app.ws_url("/ws/messages/?token=bad")).await,
        (401, json!({"error": "invalid token"}))
    );
    let url = |path: &str, t: &str| app.ws_url(&format!("{path}?token={t}"));
    assert_eq!(
        refused(url("/ws/messages/community/9/", &p.alice)).await,
        (404, json!({"error": "community not found"}))
    );
    assert_eq!(
        refused(url("/ws/messages/community/x/", &p.alice)).await,
        (404, json!({"error": "community not found"}))
    );
    assert_eq!(
        refused(url("/ws/messages/community/1/", &p.bob)).await,
        (403, json!({"error": "not a member of this community"}))
    );
}
