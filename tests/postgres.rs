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
