//! Two nodes in one process sharing the in-process relay and one database behave as one hub:
//! an event published on one node reaches the other node's members exactly once, and is never
//! echoed back to its origin.

mod common;

use common::TestApp;
use realtime_hub::relay::local::LocalBus;
use serde_json::json;

#[tokio::test]
async fn chat_messages_cross_nodes_exactly_once() {
    let bus = LocalBus::default();
    let node_a = TestApp::on_bus(&[], bus.clone(), None);
    let shared_db = format!("sqlite://{}", node_a.db_path().display());
    let node_b = TestApp::on_bus(&[], bus, Some(shared_db));

    let mut on_a = node_a.ws("/ws/chat/cluster/").await;
    on_a.send_json(json!({"message": "a joined"})).await;
    assert_eq!(on_a.recv_json().await["message"], "a joined");
    // B's member joins after that message was stored: it arrives as history (read from the
    // shared database), and its arrival proves B has joined.
    let mut on_b = node_b.ws("/ws/chat/cluster/").await;
    let history = on_b.recv_json().await;
    assert_eq!(
        (history["message"].clone(), history["history"].clone()),
        (json!("a joined"), json!(true))
    );

    on_b.send_json(json!({"message": "from b"})).await;
    let on_b_got = on_b.recv_json().await;
    let on_a_got = on_a.recv_json().await;
    assert_eq!(on_a_got, on_b_got);
    assert_eq!(on_a_got["message"], "from b");
    on_a.send_json(json!({"message": "from a"})).await;
    assert_eq!(on_a.recv_json().await["message"], "from a");
    assert_eq!(on_b.recv_json().await["message"], "from a");
    // Exactly once: no echo from the other node follows.
    on_a.expect_silence(300).await;
    on_b.expect_silence(300).await;
    assert_eq!(node_a.metric("hub_relay_received_total").await, 1.0);
    assert_eq!(node_b.metric("hub_relay_received_total").await, 1.0);
}

#[tokio::test]
async fn a_node_without_members_for_a_topic_receives_nothing() {
    let bus = LocalBus::default();
    let node_a = TestApp::on_bus(&[], bus.clone(), None);
    let node_b = TestApp::on_bus(&[], bus, None);
    let mut on_a = node_a.ws("/ws/chat/only-a/").await;
    let _elsewhere_on_b = node_b.ws("/ws/chat/other/").await;
    on_a.send_json(json!({"message": "local"})).await;
    on_a.recv_json().await;
    on_a.expect_silence(200).await;
    assert_eq!(node_b.metric("hub_relay_received_total").await, 0.0);
    assert_eq!(node_a.metric("hub_relay_published_total").await, 0.0);
}
