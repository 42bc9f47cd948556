//! The broadcast dialect's client messages forwarded to the app (`HUB_BROADCAST_WEBHOOK_URL`)
//! as Pusher-format `client_event` webhooks, signed with `HUB_BROADCAST_WEBHOOK_SECRET`, to a
//! receiver that checks every signature.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use common::{broadcast_token, eventually, TestApp};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const HOOK_SECRET: &str = "laravel-side-webhook-secret";

#[actix_web::test]
async fn client_messages_reach_the_app_signed() {
    let events = Arc::new(Mutex::new(Vec::<Value>::new()));
    let bad = Arc::new(Mutex::new(0usize));
    let (e, b) = (events.clone(), bad.clone());
    let server = HttpServer::new(move || {
        let (e, b) = (e.clone(), b.clone());
        App::new().route(
            "/hooks",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let (e, b) = (e.clone(), b.clone());
                async move {
                    let header = |h: &str| {
                        req.headers()
                            .get(h)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
                    mac.update(&body);
                    let expected = hex::encode(mac.finalize().into_bytes());
                    if header("x-pusher-signature") != expected
                        || header("x-pusher-key") != "laravel"
                    {
                        *b.lock().unwrap() += 1;
                        return HttpResponse::Unauthorized().finish();
                    }
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    assert!(v["time_ms"].is_i64());
                    e.lock()
                        .unwrap()
                        .extend(v["events"].as_array().unwrap().iter().cloned());
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/hooks", server.addrs()[0]);
    let server = server.run();
    let _stop = server.handle();
    actix_web::rt::spawn(server);

    let app = TestApp::with(&[
        ("HUB_BROADCAST_WEBHOOK_URL", &url),
        ("HUB_BROADCAST_WEBHOOK_SECRET", HOOK_SECRET),
        ("HUB_BROADCAST_WEBHOOK_KEY", "laravel"),
    ]);
    let token = broadcast_token(5, "eve", "jobs:9");
    let mut ws = app.ws(&format!("/ws/broadcast/?token={token}")).await;
    ws.recv_json().await; // connected
    ws.send_text(r#"{"data":{"progress": 40,"step":"resize"}}"#)
        .await;
    assert_eq!(ws.recv_json().await, json!({"type": "sended", "ok": true}));
    ws.send_text("not json").await;
    ws.recv_json().await;
    eventually(Duration::from_secs(5), "the webhook", || async {
        !events.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            json!({"name": "client_event", "channel": "jobs:9", "event": "message",
                    "data": r#"{"progress": 40,"step":"resize"}"#, "user_id": "5"})
        ]
    );
    assert_eq!(*bad.lock().unwrap(), 0);
}

#[test]
fn a_webhook_url_needs_a_secret() {
    let err = realtime_hub::config::Config::from_lookup(|k| {
        (k == "HUB_BROADCAST_WEBHOOK_URL").then(|| "http://127.0.0.1:9/hooks".to_string())
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("HUB_BROADCAST_WEBHOOK_SECRET: "),
        "{err}"
    );
}
