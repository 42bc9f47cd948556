//! The same server on PostgreSQL (the shared store of a cluster): migrations apply and the
//! chat dialect stores and replays through the same diesel code.

mod common;

use common::{fresh_pg_database, TestApp};
use realtime_hub::relay::local::LocalBus;
use serde_json::json;

#[tokio::test]
async fn chat_history_is_stored_in_postgres() {
    let Some(url) = fresh_pg_database() else {
        return;
    };
    let app = TestApp::on_bus(&[], LocalBus::default(), Some(url.clone()));
    let token = app.token(3, "pat");
    let mut ws = app.ws(&format!("/ws/chat/pg/?token={token}")).await;
    ws.send_json(json!({"message": "stored in postgres"})).await;
    let live = ws.recv_json().await;
    assert_eq!(live["id"], 1);
    drop(app);

    // A second server on the same database sees the message as history.
    let again = TestApp::on_bus(&[], LocalBus::default(), Some(url));
    let mut late = again.ws("/ws/chat/pg/").await;
    let mut expected = live.clone();
    expected["history"] = json!(true);
    assert_eq!(late.recv_json().await, expected);
    assert_eq!(
        reqwest::get(again.url("/readyz"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap(),
        json!({"status": "ready", "database": "ok"})
    );
}

#[tokio::test]
async fn readiness_reports_a_database_that_went_away() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(url) = fresh_pg_database() else {
        return;
    };
    let app = TestApp::on_bus(&[], LocalBus::default(), Some(url.clone()));
    let ready = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    let base = common::service("TEST_DATABASE_URL").unwrap();
    let name = url.rsplit('/').next().unwrap().to_string();
    let mut admin = diesel::PgConnection::establish(&base).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();

    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        json!({"error": "database unavailable", "database": "unavailable"})
    );
    // The process is still alive and says so.
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn messages_and_practice_work_on_postgres() {
    let Some(url) = fresh_pg_database() else {
        return;
    };
    let app = TestApp::on_bus(&[], LocalBus::default(), Some(url));
    let (alice, bob) = (app.token(1, "alice"), app.token(2, "bob"));
    for t in [&alice, &bob] {
        assert_eq!(
            common::api(&app, "GET", "/api/communities/", Some(t), None)
                .await
                .0,
            200
        );
    }
    let (status, community) = common::api(
        &app,
        "POST",
        "/api/communities/",
        Some(&alice),
        Some(json!({"name": "pg"})),
    )
    .await;
    assert_eq!((status, community["id"].clone()), (201, json!(1)));
    common::api(
        &app,
        "POST",
        "/api/communities/1/members/",
        Some(&alice),
        Some(json!({"user_id": 2})),
    )
    .await;
    let mut bob_ws = app.ws(&format!("/ws/messages/?token={bob}")).await;
    bob_ws.recv_json().await;
    let body = json!({"recipient_id": 2, "community_id": 1, "subject": "s", "body": "on postgres"});
    let (status, sent) =
        common::api(&app, "POST", "/api/messages/", Some(&alice), Some(body)).await;
    assert_eq!(status, 201);
    assert_eq!(sent["community"], json!({"id": 1, "name": "pg"}));
    assert_eq!(
        bob_ws.recv_json().await,
        json!({"type": "new_message", "message": sent})
    );
    assert_eq!(
        bob_ws.recv_json().await,
        json!({"type": "unread_count", "count": 1})
    );
    bob_ws
        .send_json(json!({"type": "mark_read", "message_id": 1}))
        .await;
    assert_eq!(bob_ws.recv_json().await["type"], "message_read");
    let (_, page) = common::api(&app, "GET", "/api/messages/?limit=1", Some(&alice), None).await;
    assert_eq!(page["results"][0]["is_read"], true);

    let (status, session) = common::api(
        &app,
        "POST",
        "/api/guitar/sessions/",
        Some(&alice),
        Some(json!({"members": [2]})),
    )
    .await;
    assert_eq!(status, 201);
    let id = session["id"].as_str().unwrap();
    let mut phone = app.ws(&format!("/ws/guitar/{id}/?token={alice}")).await;
    assert_eq!(
        phone.recv_json().await,
        json!({"type": "connection_update", "data": {"status": "connected", "user_id": 1}})
    );
    phone.recv_json().await;
    let now = common::now();
    for (kind, ts) in [
        ("practice_start", common::at(now, -60, 0)),
        ("practice_end", common::at(now, -18, 0)),
    ] {
        phone
            .send_json(json!({"type": kind, "data": {"timestamp": ts}}))
            .await;
        assert_eq!(phone.recv_json().await["type"], "practice_update");
    }
    phone.send_json(json!({"type": "practice_end"})).await;
    assert_eq!(
        phone.recv_json().await,
        json!({"type": "error", "data": {"message": "no practice in progress"}})
    );
    let (_, detail) = common::api(
        &app,
        "GET",
        &format!("/api/guitar/sessions/{id}/"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(detail["total_practice_seconds"], 42);
}

#[tokio::test]
async fn nodes_starting_together_on_a_fresh_database_both_come_up() {
    let Some(url) = fresh_pg_database() else {
        return;
    };
    let (a, b) = std::thread::scope(|scope| {
        let first = scope.spawn(|| TestApp::on_bus(&[], LocalBus::default(), Some(url.clone())));
        let second = scope.spawn(|| TestApp::on_bus(&[], LocalBus::default(), Some(url.clone())));
        (first.join().unwrap(), second.join().unwrap())
    });
    for app in [&a, &b] {
        let ready = reqwest::get(app.url("/readyz")).await.unwrap();
        assert_eq!(ready.status(), 200);
    }
    let mut on_a = a.ws("/ws/chat/both/").await;
    on_a.send_json(json!({"message": "one schema"})).await;
    assert_eq!(on_a.recv_json().await["id"], 1);
}
