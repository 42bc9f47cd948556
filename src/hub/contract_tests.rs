//! The session contract every dialect builds on, tried with a protocol of the test's own over a
//! real socket: a connection that opens unauthenticated and authenticates later (once, with the
//! user's quota then applied), is closed when it never does, and numbers its events with the
//! number spliced around each event's shared body; and one that joins several topics over its
//! life, as a different user in each, and leaves one while it stays open.

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use bytestring::ByteString;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::event::{Event, Target, UserRef};
use super::handshake::{upgrade_with, Opening};
use super::session::{Ctx, Dialect, Session, SessionCore};
use super::topic::Topic;
use crate::error::ApiError;
use crate::state::AppState;

/// `auth NAME` authenticates as NAME; `echo X` answers `{"echo":"X"}` as a numbered event.
struct Toy;

impl Dialect for Toy {
    const NAME: &'static str = "toy";

    fn started(&mut self, _: &mut SessionCore, _: &mut Ctx<Self>) {}

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        if let Some(name) = text.strip_prefix("auth ") {
            let user = UserRef {
                key: name.into(),
                id: None,
                name: name.into(),
            };
            let far = crate::auth::unix_now() + 3600;
            match core.authenticate(ctx, user, far) {
                Ok(()) => {
                    core.enable_sequence(8);
                    core.send(ctx, "ok");
                }
                Err(ApiError::TooMany(_)) => core.send(ctx, "429"),
                Err(_) => core.send(ctx, "refused"),
            }
        } else if let Some(word) = text.strip_prefix("echo ") {
            if !core.is_authenticated() {
                return core.send(ctx, "unauthenticated");
            }
            core.write_sequenced(ctx, &Event::json(&serde_json::json!({ "echo": word })));
        }
    }

    fn error_frame(&self, code: &str, _: &str) -> String {
        code.to_string()
    }
}

async fn open(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let opening = Opening {
        identity: None,
        user: None,
        authenticated: false,
        anonymous_name: "nobody",
        auth_deadline: Some(Duration::from_millis(300)),
        max_frame_bytes: 64,
    };
    upgrade_with(&req, payload, &state, opening, Toy).await
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Client) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("readable");
        match msg {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

async fn next_close(ws: &mut Client) -> u16 {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return f.code.into(),
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

/// What a toy server needs kept until the test ends: its database directory, and the shutdown
/// sender (dropped, the watch would end and every session close with 1001).
type Keep = (tempfile::TempDir, tokio::sync::watch::Sender<bool>);

/// A node serving only `route` at `path` on a free port, on a throw-away SQLite database with
/// `env` added to the settings: its WebSocket URL, its handle, and what to keep.
fn toy_server(
    env: &[(&str, &str)],
    path: &'static str,
    route: fn() -> actix_web::Route,
) -> (String, actix_web::dev::ServerHandle, Keep) {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("hub.db").display());
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = crate::config::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(db.clone()),
        "JWT_SECRET" => Some("contract-test-secret-of-32-bytes-or-more".into()),
        "HUB_ROOM_THREADS" => Some("1".into()),
        _ => env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()),
    })
    .unwrap();
    let (down, down_rx) = tokio::sync::watch::channel(false);
    let state = crate::server::build_state(config, None, down_rx).unwrap();
    let data = web::Data::new(state);
    let server = HttpServer::new(move || App::new().app_data(data.clone()).route(path, route()))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = server.addrs()[0];
    let handle = server.run();
    let stop = handle.handle();
    actix_web::rt::spawn(handle);
    (format!("ws://{addr}{path}"), stop, (dir, down))
}

#[actix_web::test]
async fn sessions_authenticate_late_once_within_quota_and_number_their_events() {
    let (url, stop, _dir) = toy_server(&[("HUB_MAX_CONN_PER_USER", "1")], "/toy", || {
        web::get().to(open)
    });

    // Never authenticates: closed at the deadline with 1008.
    let (mut idle, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    idle.send(Message::text("echo early")).await.unwrap();
    assert_eq!(next_text(&mut idle).await, "unauthenticated");
    assert_eq!(next_close(&mut idle).await, 1008);

    // Authenticates once; events are numbered from 0 with the number spliced in.
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    ws.send(Message::text("auth ann")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "ok");
    tokio::time::sleep(Duration::from_millis(400)).await;
    ws.send(Message::text("auth bob")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "refused", "identity is set once");
    for (i, word) in ["a", "b", "c"].into_iter().enumerate() {
        ws.send(Message::text(format!("echo {word}")))
            .await
            .unwrap();
        assert_eq!(
            next_text(&mut ws).await,
            format!(r#"{{"echo":"{word}","seq":{i}}}"#)
        );
    }

    // The user's quota (1) applies when a second connection authenticates as ann.
    let (mut again, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    again.send(Message::text("auth ann")).await.unwrap();
    assert_eq!(next_text(&mut again).await, "429");

    // The protocol's own frame limit (64 bytes) applies: 1009.
    again
        .send(Message::text(format!("echo {}", "x".repeat(80))))
        .await
        .unwrap();
    assert_eq!(next_close(&mut again).await, 1009);
    stop.stop(false).await;
}

/// `join T AS` joins topic T as user AS and answers with who is there; `leave T` leaves it
/// (the socket stays open); `say T X` publishes X to T's other members.
struct Topics;

impl Dialect for Topics {
    const NAME: &'static str = "topics";

    fn started(&mut self, _: &mut SessionCore, _: &mut Ctx<Self>) {}

    fn text(&mut self, text: ByteString, core: &mut SessionCore, ctx: &mut Ctx<Self>) {
        use actix::prelude::*;
        let words: Vec<&str> = text.split(' ').collect();
        match words[..] {
            ["join", topic, user] => {
                let user = UserRef {
                    key: user.into(),
                    id: None,
                    name: user.into(),
                };
                let join = core.join_as(ctx, Topic::new("t", topic), user, None, None);
                ctx.wait(join.map(|joined, act: &mut Session<Self>, ctx| {
                    let names: Vec<String> = joined
                        .unwrap()
                        .presence
                        .iter()
                        .map(|u| u.name.to_string())
                        .collect();
                    act.core.send(ctx, format!("here {}", names.join(",")));
                }));
            }
            ["leave", topic] => {
                let left = core.leave(&Topic::new("t", topic));
                let joined = core.has_joined(&Topic::new("t", topic));
                core.send(ctx, format!("left {left} {joined}"));
            }
            ["say", topic, word] => {
                let topic = Topic::new("t", topic);
                let event = Event::text(word.to_string());
                let me = core.conn;
                core.publish(ctx, &topic, event, Target::AllExcept(me));
            }
            _ => core.send(ctx, "?"),
        }
    }

    fn error_frame(&self, code: &str, _: &str) -> String {
        code.to_string()
    }
}

async fn open_topics(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let opening = Opening {
        identity: None,
        user: None,
        authenticated: false,
        anonymous_name: "nobody",
        auth_deadline: None,
        max_frame_bytes: 1024,
    };
    upgrade_with(&req, payload, &state, opening, Topics).await
}

#[actix_web::test]
async fn sessions_join_topics_as_someone_and_leave_one_while_open() {
    let (url, stop, _dir) = toy_server(&[], "/topics", || web::get().to(open_topics));
    let (mut a, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut b, _) = tokio_tungstenite::connect_async(&url).await.unwrap();

    // Each connection is someone else in each topic.
    a.send(Message::text("join x ann")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "here ann");
    b.send(Message::text("join x bob")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "here ann,bob");
    b.send(Message::text("join y carl")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "here carl");

    a.send(Message::text("say x one")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "one");

    // b leaves x but not y, and stays connected: x's events no longer reach it.
    b.send(Message::text("leave x")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "left true false");
    b.send(Message::text("leave x")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "left false false");
    a.send(Message::text("say x two")).await.unwrap();
    a.send(Message::text("join y dan")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "here carl,dan");
    a.send(Message::text("say y three")).await.unwrap();
    assert_eq!(next_text(&mut b).await, "three", "x's 'two' never came");

    // Joining again after leaving works, and presence forgot bob.
    a.send(Message::text("join x ann2")).await.unwrap();
    assert_eq!(next_text(&mut a).await, "here ann,ann2");
    stop.stop(false).await;
}
