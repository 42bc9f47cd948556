//! The guitar dialect (seeds/001): sessions over REST, the phone-to-PC socket, with exact JSON.

mod common;

use common::{refused, TestApp, Ws};
use serde_json::{json, Value};

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    common::api(app, method.as_str(), path, token, body).await
}

use common::fix_time;

async fn new_session(app: &TestApp, token: &str) -> String {
    let (status, body) = call(
        app,
        reqwest::Method::POST,
        "/api/guitar/sessions/",
        Some(token),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// `connection_update` about `user_id`'s device.
fn connection(status: &str, user_id: i64) -> Value {
    json!({"type": "connection_update", "data": {"status": status, "user_id": user_id}})
}

/// A device of user `user_id` joined to session `id`, past its own `connection_update` (the
/// first frame every newcomer gets, as the seed's group send gives it).
async fn device(app: &TestApp, id: &str, token: &str, user_id: i64) -> Ws {
    let mut ws = app.ws(&format!("/ws/guitar/{id}/?token={token}")).await;
    assert_eq!(ws.recv_json().await, connection("connected", user_id));
    ws
}

#[tokio::test]
async fn sessions_are_created_read_and_closed_over_rest() {
    let app = TestApp::spawn();
    let (owner, member, stranger) = (app.token(1, "ann"), app.token(2, "ben"), app.token(3, "cy"));
    use reqwest::Method;

    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/guitar/sessions/",
            None,
            Some(json!({}))
        )
        .await,
        (401, json!({"error": "authentication required"}))
    );
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/guitar/sessions/",
        Some(&owner),
        Some(json!({"members": [2, 2, 1]})),
    )
    .await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 22);
    assert!(id
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    let mut expected = json!({
        "id": id, "owner_id": 1, "created_at": "", "closed_at": null, "members": [2],
        "current_chord": null, "practicing": false, "total_practice_seconds": 0, "logs": []
    });
    fix_time(&body, &mut expected, "/created_at");
    assert_eq!(body, expected);
    let (status, bad) = call(
        &app,
        Method::POST,
        "/api/guitar/sessions/",
        Some(&owner),
        Some(json!({"members": "all"})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");

    let path = format!("/api/guitar/sessions/{id}/");
    assert_eq!(
        call(&app, Method::GET, &path, Some(&owner), None).await,
        (200, expected.clone())
    );
    assert_eq!(
        call(&app, Method::GET, &path, Some(&member), None).await,
        (200, expected.clone())
    );
    assert_eq!(
        call(&app, Method::GET, &path, Some(&stranger), None).await,
        (403, json!({"error": "not allowed in this session"}))
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/guitar/sessions/nope/",
            Some(&owner),
            None
        )
        .await,
        (404, json!({"error": "session not found"}))
    );

    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&member), None).await,
        (403, json!({"error": "not allowed in this session"}))
    );
    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&owner), None).await,
        (204, Value::Null)
    );
    let (status, closed) = call(&app, Method::GET, &path, Some(&owner), None).await;
    assert_eq!(status, 200);
    assert!(closed["closed_at"].is_string());
    assert_eq!(
        call(&app, Method::DELETE, &path, Some(&owner), None).await,
        (404, json!({"error": "session not found"}))
    );
    assert_eq!(
        refused(app.ws_url(&format!("/ws/guitar/{id}/?token={owner}"))).await,
        (404, json!({"error": "session not found"}))
    );
}

#[tokio::test]
async fn sockets_are_refused_before_the_upgrade() {
    let app = TestApp::spawn();
    let owner = app.token(1, "ann");
    let id = new_session(&app, &owner).await;
    let url = |t: &str| app.ws_url(&format!("/ws/guitar/{id}/?token={t}"));
    assert_eq!(
        refused(app.ws_url(&format!("/ws/guitar/{id}/"))).await,
        (401, json!({"error": "authentication required"}))
    );
    assert_eq!(
        refused(url("garbage")).await,
        (401, json!({"error": "invalid token"}))
    );
    assert_eq!(
        refused(url(&app.token(3, "cy"))).await,
        (403, json!({"error": "not allowed in this session"}))
    );
    assert_eq!(
        refused(app.ws_url(&format!("/ws/guitar/unknown/?token={owner}"))).await,
        (404, json!({"error": "session not found"}))
    );
}

#[tokio::test]
async fn the_pc_follows_the_phone() {
    let app = TestApp::spawn();
    let token = app.token(1, "ann");
    let id = new_session(&app, &token).await;
    // Each newcomer hears of its own connection first, as the seed's group send (which
    // includes the sender) tells it, then gets the session's state.
    let mut pc = app.ws(&format!("/ws/guitar/{id}/?token={token}")).await;
    assert_eq!(pc.recv_json().await, connection("connected", 1));
    assert_eq!(
        pc.recv_json().await,
        json!({"type": "session_state", "data": {"chord": null, "practicing": false, "started_at": null, "connections": 1}})
    );
    let mut phone = app.ws(&format!("/ws/guitar/{id}?token={token}")).await; // no trailing slash
    assert_eq!(phone.recv_json().await, connection("connected", 1));
    assert_eq!(
        phone.recv_json().await,
        json!({"type": "session_state", "data": {"chord": null, "practicing": false, "started_at": null, "connections": 2}})
    );
    assert_eq!(pc.recv_json().await, connection("connected", 1));
    pc.expect_silence(200).await;

    phone
        .send_json(json!({"type": "chord_change", "data": {"chord": "Am7"}}))
        .await;
    let got = pc.recv_json().await;
    let mut expected =
        json!({"type": "chord_change", "data": {"chord": "Am7", "user_id": 1, "timestamp": ""}});
    fix_time(&got, &mut expected, "/data/timestamp");
    assert_eq!(got, expected);
    assert_eq!(
        got["data"]["timestamp"].as_str().unwrap().len(),
        24,
        "milliseconds in the server timestamp"
    );
    phone.expect_silence(200).await;

    // A PC that joins late shows the current chord.
    let mut late = device(&app, &id, &token, 1).await;
    assert_eq!(
        late.recv_json().await,
        json!({"type": "session_state", "data": {"chord": "Am7", "practicing": false, "started_at": null, "connections": 3}})
    );
    assert_eq!(pc.recv_json().await, connection("connected", 1));
    assert_eq!(phone.recv_json().await, connection("connected", 1));

    phone.close().await;
    let gone = connection("disconnected", 1);
    assert_eq!(pc.recv_json().await, gone);
    assert_eq!(late.recv_json().await, gone);
}

#[tokio::test]
async fn practice_is_stored_then_announced() {
    let app = TestApp::spawn();
    let token = app.token(1, "ann");
    let id = new_session(&app, &token).await;
    let mut pc = device(&app, &id, &token, 1).await;
    pc.recv_json().await;
    let mut phone = device(&app, &id, &token, 1).await;
    phone.recv_json().await;
    pc.recv_json().await;

    // Client times, an hour ago (they must be within a day of the server's clock).
    let hour_ago = common::now() - chrono::TimeDelta::hours(1);
    let at = |secs: i64| common::at(hour_ago, secs, 0);
    phone
        .send_json(json!({"type": "practice_start", "data": {"timestamp": at(0)}}))
        .await;
    let started =
        json!({"type": "practice_update", "data": {"status": "started", "timestamp": at(0)}});
    assert_eq!(phone.recv_json().await, started);
    assert_eq!(pc.recv_json().await, started);
    let error = |m: &str| json!({"type": "error", "data": {"message": m}});
    phone
        .send_json(json!({"type": "practice_start", "data": {"timestamp": at(5)}}))
        .await;
    assert_eq!(phone.recv_json().await, error("practice already started"));
    phone
        .send_json(json!({"type": "practice_end", "data": {"timestamp": at(-1)}}))
        .await;
    assert_eq!(phone.recv_json().await, error("end is before start"));
    let end_in_tokyo = common::at(hour_ago, 90, 9);
    phone
        .send_json(json!({"type": "practice_end", "data": {"timestamp": end_in_tokyo}}))
        .await;
    let ended =
        json!({"type": "practice_update", "data": {"status": "ended", "timestamp": at(90)}});
    assert_eq!(phone.recv_json().await, ended);
    assert_eq!(pc.recv_json().await, ended);
    phone.send_json(json!({"type": "practice_end"})).await;
    assert_eq!(phone.recv_json().await, error("no practice in progress"));
    pc.expect_silence(200).await;

    // Server time when the client gives none; a late joiner sees the practice in progress.
    phone
        .send_json(json!({"type": "practice_start", "data": {}}))
        .await;
    let update = phone.recv_json().await;
    assert_eq!(update["data"]["status"], "started");
    let since = update["data"]["timestamp"].clone();
    let mut late = device(&app, &id, &token, 1).await;
    assert_eq!(
        late.recv_json().await,
        json!({"type": "session_state", "data": {"chord": null, "practicing": true, "started_at": since, "connections": 3}})
    );

    let (status, body) = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/guitar/sessions/{id}/"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["practicing"], true);
    assert_eq!(body["total_practice_seconds"], 90);
    assert_eq!(
        body["logs"],
        json!([
            {"started_at": at(0), "ended_at": at(90), "duration_seconds": 90},
            {"started_at": since, "ended_at": null, "duration_seconds": null}
        ])
    );
}

#[tokio::test]
async fn bad_frames_get_errors_nothing_is_stored_and_the_socket_stays_open() {
    let app = TestApp::spawn();
    let token = app.token(1, "ann");
    let id = new_session(&app, &token).await;
    let mut ws = device(&app, &id, &token, 1).await;
    ws.recv_json().await;
    let long = "C".repeat(40);
    let cases = [
        ("{oops".to_string(), "invalid JSON".to_string()),
        (
            r#"{"data":{}}"#.to_string(),
            r#"expected {"type": "…", "data": {…}}"#.to_string(),
        ),
        (
            r#"{"type":"strum"}"#.to_string(),
            "unknown type: strum".to_string(),
        ),
        (
            r#"{"type":"chord_change","data":[]}"#.to_string(),
            "data must be an object".to_string(),
        ),
        (
            r#"{"type":"chord_change","data":{}}"#.to_string(),
            "chord is required".to_string(),
        ),
        (
            r#"{"type":"chord_change","data":{"chord":"H7"}}"#.to_string(),
            "invalid chord: H7".to_string(),
        ),
        (
            json!({"type": "chord_change", "data": {"chord": long}}).to_string(),
            format!("invalid chord: {}", "C".repeat(32)),
        ),
        (
            r#"{"type":"practice_start","data":{"timestamp":"tomorrow"}}"#.to_string(),
            "invalid timestamp".to_string(),
        ),
        (
            r#"{"type":"practice_end"}"#.to_string(),
            "no practice in progress".to_string(),
        ),
    ];
    for (frame, message) in cases {
        ws.send_text(&frame).await;
        assert_eq!(
            ws.recv_json().await,
            json!({"type": "error", "data": {"message": message}}),
            "{frame}"
        );
    }
    ws.send_json(json!({"type": "ping", "data": {"timestamp": "2024-01-01T00:00:00.123Z"}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"type": "pong", "data": {"timestamp": "2024-01-01T00:00:00.123Z"}})
    );
    ws.send_json(json!({"type": "ping", "data": {"timestamp": 1700000000123u64}}))
        .await;
    assert_eq!(
        ws.recv_json().await,
        json!({"type": "pong", "data": {"timestamp": 1700000000123u64}})
    );

    let (_, body) = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/guitar/sessions/{id}/"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (body["current_chord"].clone(), body["logs"].clone()),
        (Value::Null, json!([]))
    );
}

#[tokio::test]
async fn closing_a_session_ends_its_sockets() {
    let app = TestApp::spawn();
    let token = app.token(1, "ann");
    let id = new_session(&app, &token).await;
    let mut ws = device(&app, &id, &token, 1).await;
    ws.recv_json().await;
    let (status, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/guitar/sessions/{id}/"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        ws.recv_json().await,
        json!({"type": "session_closed", "data": {"session_id": id}})
    );
    assert_eq!(ws.recv_close().await, (4003, "session closed".into()));
}

#[tokio::test]
async fn members_may_join_others_may_not() {
    let app = TestApp::spawn();
    let (owner, member) = (app.token(1, "ann"), app.token(2, "ben"));
    let (status, body) = call(
        &app,
        reqwest::Method::POST,
        "/api/guitar/sessions",
        Some(&owner),
        Some(json!({"members": [2]})),
    )
    .await;
    assert_eq!(status, 201);
    let id = body["id"].as_str().unwrap();
    let mut pc = device(&app, id, &owner, 1).await;
    pc.recv_json().await;
    let mut teacher = device(&app, id, &member, 2).await;
    teacher.recv_json().await;
    assert_eq!(pc.recv_json().await, connection("connected", 2));
    teacher
        .send_json(json!({"type": "chord_change", "data": {"chord": "G/B"}}))
        .await;
    assert_eq!(pc.recv_json().await["data"]["chord"], "G/B");
    // The chord goes to the others only.
    teacher.expect_silence(200).await;
}

#[tokio::test]
async fn practice_times_far_from_the_server_clock_are_refused() {
    let app = TestApp::spawn();
    let token = app.token(1, "ann");
    let id = new_session(&app, &token).await;
    let mut phone = device(&app, &id, &token, 1).await;
    phone.recv_json().await;
    let out_of_range = json!({"type": "error", "data": {"message": "timestamp out of range: more than a day from the server's clock"}});
    let now = common::now();
    for (kind, t) in [
        ("practice_start", "0000-01-01T00:00:00+01:00".to_string()),
        ("practice_start", "9999-12-31T23:00:00-02:00".to_string()),
        ("practice_start", common::at(now, -2 * 86_400, 0)),
        ("practice_start", common::at(now, 2 * 86_400, 0)),
    ] {
        phone
            .send_json(json!({"type": kind, "data": {"timestamp": t}}))
            .await;
        assert_eq!(phone.recv_json().await, out_of_range, "{t}");
    }
    // Within the day: stored, and the end far out is refused without ending the run.
    let start = common::at(now, -3600, 0);
    phone
        .send_json(json!({"type": "practice_start", "data": {"timestamp": start}}))
        .await;
    assert_eq!(
        phone.recv_json().await,
        json!({"type": "practice_update", "data": {"status": "started", "timestamp": start}})
    );
    phone
        .send_json(
            json!({"type": "practice_end", "data": {"timestamp": "9999-12-31T23:00:00-02:00"}}),
        )
        .await;
    assert_eq!(phone.recv_json().await, out_of_range);

    let (status, body) = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/guitar/sessions/{id}/"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, body["practicing"].clone(), body["logs"].clone()),
        (
            200,
            json!(true),
            json!([{"started_at": start, "ended_at": null, "duration_seconds": null}])
        )
    );
}

#[tokio::test]
async fn session_members_are_bounded() {
    let create = |app: &TestApp, members: Value| {
        let token = app.token(1, "ann");
        let url = app.url("/api/guitar/sessions/");
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "members": members }))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    // The default: 32 distinct users besides the owner.
    let app = TestApp::spawn();
    let many: Vec<i64> = (2..20_002).collect();
    assert_eq!(
        create(&app, json!(many)).await,
        (
            422,
            json!({"error": "at most 32 members besides the owner"})
        )
    );
    let (status, body) = create(&app, json!((2..34).collect::<Vec<i64>>())).await;
    assert_eq!(
        (status, body["members"].as_array().unwrap().len()),
        (201, 32)
    );
    // Repeats and the owner do not count; ids no user can have are refused.
    let app = TestApp::with(&[("HUB_GUITAR_MAX_MEMBERS", "2")]);
    let (status, body) = create(&app, json!([1, 2, 3, 3, 2, 1])).await;
    assert_eq!((status, body["members"].clone()), (201, json!([2, 3])));
    assert_eq!(
        create(&app, json!([2, 3, 4])).await,
        (422, json!({"error": "at most 2 members besides the owner"}))
    );
    assert_eq!(
        create(&app, json!([2, -5])).await,
        (422, json!({"error": "member ids are positive integers"}))
    );
}

#[tokio::test]
async fn the_seeds_chord_spellings_reach_the_pc_and_garbage_does_not() {
    let app = TestApp::spawn();
    let token = app.token(1, "ann");
    let id = new_session(&app, &token).await;
    let mut pc = device(&app, &id, &token, 1).await;
    pc.recv_json().await;
    let mut phone = device(&app, &id, &token, 1).await;
    phone.recv_json().await;
    assert_eq!(pc.recv_json().await, connection("connected", 1));
    let chord = |chord: &str| json!({"type": "chord_change", "data": {"chord": chord}});
    for name in [
        "C6/9",
        "Bm7-5",
        "Bm7b5",
        "C(add9)",
        "Cadd9",
        "N.C.",
        "D/F#",
        "Bm7(♭5)",
        "C△7",
        "C7(b9,#11)",
        "Csus4",
        "Cdim7",
        "Caug",
        "Cmaj7",
        "Cm7",
        "G9",
        "F11",
        "A13",
    ] {
        phone.send_json(chord(name)).await;
        let got = pc.recv_json().await;
        let mut expected =
            json!({"type": "chord_change", "data": {"chord": name, "user_id": 1, "timestamp": ""}});
        fix_time(&got, &mut expected, "/data/timestamp");
        assert_eq!(got, expected, "{name}");
    }
    for garbage in ["", "C\u{0}", "C\nD", "C D", "C(9", "C#b", &"C".repeat(17)] {
        phone.send_json(chord(garbage)).await;
        assert_eq!(
            phone.recv_json().await,
            json!({"type": "error", "data": {"message": format!("invalid chord: {garbage}")}}),
            "{garbage:?}"
        );
    }
    pc.expect_silence(200).await;
    // Still connected, and the last chord that passed is the session's.
    phone.send_json(chord("Am7")).await;
    assert_eq!(pc.recv_json().await["data"]["chord"], "Am7");
    let mut late = device(&app, &id, &token, 1).await;
    assert_eq!(
        late.recv_json().await,
        json!({"type": "session_state", "data": {"chord": "Am7", "practicing": false, "started_at": null, "connections": 3}})
    );
}
