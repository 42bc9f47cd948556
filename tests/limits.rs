//! Limits and abuse: frame size, message rate, connection quotas, Origin, heartbeats, token
//! expiry and malformed frames — each refused with the documented code and reason while the
//! server keeps serving everyone else.

mod common;

use std::time::Duration;

use common::{refused, TestApp, Ws};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn oversized_frames_close_with_1009_and_others_carry_on() {
    let app = TestApp::with(&[("HUB_MAX_FRAME_BYTES", "1024")]);
    let mut big = app.ws("/ws/chat/size/").await;
    let mut bystander = app.ws("/ws/chat/size/").await;
    big.send_text(&json!({"message": "x".repeat(2000)}).to_string())
        .await;
    assert_eq!(big.recv_close().await, (1009, "frame too large".into()));

    bystander.send_json(json!({"message": "fine"})).await;
    assert_eq!(bystander.recv_json().await["message"], "fine");
}

#[tokio::test]
async fn over_the_rate_gets_errors_then_4101() {
    let app = TestApp::with(&[("HUB_RATE_PER_SEC", "5")]);
    let mut ws = app.ws("/ws/chat/rate/").await;
    // Frames that need no database, so all eleven land in one one-second window.
    for _ in 0..11 {
        ws.send_text("x").await;
    }
    for _ in 0..5 {
        assert_eq!(
            ws.recv_json().await,
            json!({"error": "invalid JSON", "user": "system", "message": "invalid JSON"})
        );
    }
    for _ in 0..5 {
        assert_eq!(
            ws.recv_json().await,
            json!({"error": "rate limit exceeded", "user": "system", "message": "rate limit exceeded"})
        );
    }
    assert_eq!(ws.recv_close().await, (4101, "rate limit exceeded".into()));
    assert_eq!(app.metric("hub_rate_limited_total").await, 1.0);
}

/// Retries a handshake until it is accepted (a freed quota place comes back when the closed
/// session has been dropped, a moment after the close).
async fn connect_eventually(
    req: impl Fn() -> tokio_tungstenite::tungstenite::handshake::client::Request,
) -> Ws {
    for _ in 0..100 {
        if let Ok((stream, _)) = tokio_tungstenite::connect_async(req()).await {
            return Ws { stream };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("quota place never came back");
}

#[tokio::test]
async fn connection_quotas_per_address_and_per_user() {
    let app = TestApp::with(&[("HUB_MAX_CONN_PER_IP", "2")]);
    let a = app.ws("/ws/chat/q/").await;
    let _b = app.ws("/ws/chat/q/").await;
    let (status, body) = refused(app.ws_url("/ws/chat/q/")).await;
    assert_eq!(
        (status, body),
        (
            429,
            json!({"error": "too many connections from this address"})
        )
    );
    a.close().await;
    let url = app.ws_url("/ws/chat/q/");
    connect_eventually(|| url.clone().into_client_request().unwrap()).await;

    let app = TestApp::with(&[("HUB_MAX_CONN_PER_USER", "1")]);
    let token = app.token(9, "solo");
    let _first = app.ws(&format!("/ws/chat/q/?token={token}")).await;
    let (status, body) = refused(app.ws_url(&format!("/ws/chat/q/?token={token}"))).await;
    assert_eq!(
        (status, body),
        (429, json!({"error": "too many connections for this user"}))
    );
    // Another user is not affected.
    app.ws(&format!("/ws/chat/q/?token={}", app.token(10, "other")))
        .await;
}

#[tokio::test]
async fn cross_site_origins_are_refused() {
    let app = TestApp::with(&[("HUB_ALLOWED_ORIGINS", "https://app.example")]);
    let with_origin = |origin: &str| {
        let mut req = app.ws_url("/ws/chat/o/").into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        req
    };
    let (status, body) = refused(with_origin("https://evil.example")).await;
    assert_eq!(
        (status, body),
        (403, json!({"error": "origin not allowed"}))
    );
    Ws::connect(with_origin("https://app.example")).await;
    Ws::connect(with_origin(&format!("http://{}", app.addr))).await;
    let text = app.metrics().await;
    assert!(
        text.contains("hub_handshake_failures_total{reason=\"forbidden\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_scheme_is_part_of_the_same_origin_check() {
    let handshake = |app: &TestApp, origin: &str, proto: Option<&str>| {
        let mut req = app.ws_url("/ws/chat/s/").into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        if let Some(proto) = proto {
            req.headers_mut()
                .insert("X-Forwarded-Proto", proto.parse().unwrap());
        }
        req
    };
    let forbidden = (403, json!({"error": "origin not allowed"}));
    // Hubs bound to every address, so the development rule for loopback pages (tested
    // below) stays out of the way. A plain hub: an https page of the same host and port is
    // another origin.
    let app = TestApp::with(&[("HUB_BIND", "0.0.0.0:0")]);
    let (http, https) = (
        format!("http://{}", app.addr),
        format!("https://{}", app.addr),
    );
    assert_eq!(refused(handshake(&app, &https, None)).await, forbidden);
    // X-Forwarded-Proto from a client that is not a trusted proxy changes nothing.
    assert_eq!(
        refused(handshake(&app, &https, Some("https"))).await,
        forbidden
    );
    Ws::connect(handshake(&app, &http, None)).await;

    // Behind a TLS-terminating proxy the hub trusts, the proxy's word is the scheme.
    let app = TestApp::with(&[
        ("HUB_TRUSTED_PROXIES", "127.0.0.1"),
        ("HUB_BIND", "0.0.0.0:0"),
    ]);
    let (http, https) = (
        format!("http://{}", app.addr),
        format!("https://{}", app.addr),
    );
    Ws::connect(handshake(&app, &https, Some("https"))).await;
    assert_eq!(
        refused(handshake(&app, &http, Some("https"))).await,
        forbidden
    );
    assert_eq!(refused(handshake(&app, &https, None)).await, forbidden);
}

/// A handshake to `path` on `app` from a page of `origin`, addressed to `host`.
fn from_page(
    app: &TestApp,
    path: &str,
    origin: &str,
    host: &str,
) -> impl IntoClientRequest + Unpin {
    let mut req = app.ws_url(path).into_client_request().unwrap();
    req.headers_mut().insert("Origin", origin.parse().unwrap());
    req.headers_mut().insert("Host", host.parse().unwrap());
    req
}

#[tokio::test]
async fn loopback_pages_reach_a_hub_bound_to_loopback_and_no_other() {
    let token = TestApp::spawn().token(1, "ann");
    let paths = [
        "/ws/chat/dev/".to_string(),
        format!("/ws/messages/?token={token}"),
        "/api/v4/websocket".to_string(),
    ];
    let pages = [
        "http://localhost:3000",
        "http://127.0.0.1:5173",
        "http://[::1]:3000",
    ];
    // The hub as `cargo run` starts it: bound to 127.0.0.1, no HUB_ALLOWED_ORIGINS. A Next.js
    // dev server on another port, reaching the hub as localhost:8000 does.
    let local = TestApp::spawn();
    let port = local.addr.port();
    let mut chat = Ws::connect(from_page(
        &local,
        &paths[0],
        "http://localhost:3000",
        &format!("localhost:{port}"),
    ))
    .await;
    chat.send_json(json!({"message": "from next dev"})).await;
    assert_eq!(chat.recv_json().await["message"], "from next dev");
    let mut messages = Ws::connect(from_page(
        &local,
        &paths[1],
        "http://localhost:3000",
        &format!("localhost:{port}"),
    ))
    .await;
    assert_eq!(
        messages.recv_json().await,
        json!({"type": "connection", "message": "connected", "user_id": 1})
    );
    for (path, page) in paths.iter().flat_map(|p| pages.map(|o| (p, o))) {
        for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
            Ws::connect(from_page(&local, path, page, &host)).await;
        }
    }
    let forbidden = (403, json!({"error": "origin not allowed"}));
    // Still refused there: other sites, https loopback pages, and any page when the hub is
    // reached under another name (a loopback hub behind Nginx is reached by its public one).
    for (page, host) in [
        ("http://evil.example", format!("localhost:{port}")),
        ("https://localhost:3000", format!("localhost:{port}")),
        ("http://localhost:3000", "hub.example".to_string()),
    ] {
        for path in &paths {
            assert_eq!(
                refused(from_page(&local, path, page, &host)).await,
                forbidden,
                "{page} to {host}{path}"
            );
        }
    }
    // Bound to every address, or given a list, the strict rule holds for loopback pages too.
    let everywhere = TestApp::with(&[("HUB_BIND", "0.0.0.0:0")]);
    let listed = TestApp::with(&[("HUB_ALLOWED_ORIGINS", "https://app.example")]);
    for app in [&everywhere, &listed] {
        let host = format!("localhost:{}", app.addr.port());
        for (path, page) in paths.iter().flat_map(|p| pages.map(|o| (p, o))) {
            assert_eq!(
                refused(from_page(app, path, page, &host)).await,
                forbidden,
                "{page} to {path}"
            );
        }
        // The hub's own pages stay allowed.
        Ws::connect(from_page(app, &paths[0], &format!("http://{host}"), &host)).await;
    }
}

#[tokio::test]
async fn silent_clients_are_closed_and_answering_ones_kept() {
    let app = TestApp::with(&[
        ("HUB_HEARTBEAT_INTERVAL_MS", "100"),
        ("HUB_HEARTBEAT_TIMEOUT_MS", "300"),
    ]);
    let mut silent = app.ws("/ws/chat/hb/").await;
    let mut lively = app.ws("/ws/chat/hb/").await;
    // `lively` reads (and so answers every ping) for well past the timeout; `silent` reads
    // nothing meanwhile, so it never answers.
    lively.expect_silence(900).await;
    assert_eq!(silent.recv_close().await, (4201, "pong timeout".into()));
    lively.send_json(json!({"message": "still open"})).await;
    assert_eq!(lively.recv_json().await["message"], "still open");
    assert_eq!(app.metric("hub_heartbeat_timeouts_total").await, 1.0);
}

#[tokio::test]
async fn a_token_that_expires_while_connected_closes_with_4202() {
    let app = TestApp::spawn();
    let short = realtime_hub::auth::Auth::new(common::SECRET).mint(4, "brief", None, 1);
    let mut ws = app.ws(&format!("/ws/chat/exp/?token={short}")).await;
    assert_eq!(ws.recv_close().await, (4202, "token expired".into()));
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let app = TestApp::spawn();
    let mut ws = app.ws("/ws/chat/utf8/").await;
    let frame = Frame::message(vec![0xff, 0xfe, 0x80], OpCode::Data(Data::Text), true);
    ws.stream.send(Message::Frame(frame)).await.unwrap();
    assert_eq!(
        ws.recv_close().await,
        (1007, "invalid UTF-8 in text frame".into())
    );
}
