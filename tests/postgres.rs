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
