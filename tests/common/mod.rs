//! Test harness: the real server on an ephemeral port (through the same `run()` that `main`
//! uses), a temporary database, and an independent WebSocket client (tokio-tungstenite).
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use realtime_hub::auth::Auth;
use realtime_hub::config::Config;
use realtime_hub::relay::local::LocalBus;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The secret every test server signs with.
pub const SECRET: &str = "test-secret-for-integration-tests";

/// How long a test waits for a frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// One running server.
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its temporary directory (database file).
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// A server with test defaults.
    pub fn spawn() -> TestApp {
        TestApp::with(&[])
    }

    /// A server with test defaults overridden by `env`.
    pub fn with(env: &[(&str, &str)]) -> TestApp {
        TestApp::on_bus(env, LocalBus::default(), None)
    }

    /// A server joined to `bus` (several nodes in one process), optionally sharing a database
    /// directory with another node.
    pub fn on_bus(env: &[(&str, &str)], bus: LocalBus, db_url: Option<String>) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut vars: HashMap<String, String> = HashMap::new();
        let db =
            db_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("hub.db").display()));
        vars.insert("DATABASE_URL".into(), db);
        vars.insert("JWT_SECRET".into(), SECRET.into());
        vars.insert("HUB_WORKERS".into(), "2".into());
        vars.insert("HUB_ROOM_THREADS".into(), "1".into());
        vars.insert("HUB_DB_POOL".into(), "4".into());
        vars.insert("HUB_SHUTDOWN_TIMEOUT_MS".into(), "2000".into());
        for (k, v) in env {
            vars.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(realtime_hub::server::run_with_bus(
                listener,
                config,
                async move {
                    let _ = rx.await;
                },
                bus,
            ))
        });
        let app = TestApp {
            addr,
            dir,
            stop: Some(tx),
            thread: Some(thread),
        };
        app.wait_ready();
        app
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("server did not start");
    }

    /// `ws://…{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// `http://…{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A valid token for `id`/`name`.
    pub fn token(&self, id: i64, name: &str) -> String {
        Auth::new(SECRET).mint(id, name, None, 3600)
    }

    /// The database file of this server.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("hub.db")
    }

    /// Opens a WebSocket to `path`, panicking if the handshake fails.
    pub async fn ws(&self, path: &str) -> Ws {
        Ws::connect(self.ws_url(path)).await
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// One counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        realtime_hub::metrics::scrape(&self.metrics().await, name).unwrap_or(0.0)
    }

    /// Stops the server as a signal would and waits for `run()` to return.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop.take().map(|tx| tx.send(()));
        self.thread.take().unwrap().join().expect("server thread")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A WebSocket client.
pub struct Ws {
    /// The raw stream, for tests that need frame-level control.
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects to a URL or a prepared request.
    pub async fn connect(req: impl IntoClientRequest + Unpin) -> Ws {
        let (stream, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("handshake");
        assert_eq!(resp.status(), 101);
        Ws { stream }
    }

    /// Sends a JSON value as a text frame.
    pub async fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, s: &str) {
        self.stream.send(Message::text(s)).await.expect("send");
    }

    /// The next text frame as JSON; pings and pongs are skipped. Panics on close or timeout.
    pub async fn recv_json(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("stream ended")
                .expect("read error");
            match msg {
                Message::Text(t) => {
                    return serde_json::from_str(&t).expect("server sent invalid JSON")
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Reads until the server's close frame; returns its code and reason.
    pub async fn recv_close(&mut self) -> (u16, String) {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("timed out waiting for close")
                .expect("stream ended without a close frame");
            match msg {
                Ok(Message::Close(Some(frame))) => {
                    return (u16::from(frame.code), frame.reason.to_string())
                }
                Ok(Message::Close(None)) => return (u16::from(CloseCode::Status), String::new()),
                Ok(_) => continue,
                Err(e) => panic!("error before close frame: {e}"),
            }
        }
    }

    /// Asserts that no text frame arrives within `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Attempts a handshake that should fail; returns the HTTP status and JSON body.
pub async fn refused(req: impl IntoClientRequest + Unpin) -> (u16, Value) {
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => panic!("handshake unexpectedly succeeded"),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp.body().as_ref().map(|b| b.to_vec()).unwrap_or_default();
            let json = serde_json::from_slice(&body).unwrap_or_else(|_| {
                panic!("non-JSON error body: {:?}", String::from_utf8_lossy(&body))
            });
            (status, json)
        }
        Err(e) => panic!("unexpected handshake error: {e}"),
    }
}

/// The URL of a test service (`TEST_REDIS_URL`, `TEST_DATABASE_URL`), which `scripts/test.sh`
/// provides. Without it the calling test is skipped with a printed reason — except under
/// `CI=true`, where a missing service is a failure.
pub fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} is not set and CI=true: run the tests through scripts/test.sh")
        }
        _ => {
            eprintln!("skipped: {var} is not set (scripts/test.sh starts a throw-away instance)");
            None
        }
    }
}

/// A new, empty PostgreSQL database on the test server, so parallel tests never share tables.
pub fn fresh_pg_database() -> Option<String> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let base = service("TEST_DATABASE_URL")?;
    let name = format!("hub_test_{:016x}", rand::random::<u64>());
    let mut admin = diesel::PgConnection::establish(&base).expect("connect to TEST_DATABASE_URL");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    Some(format!("{prefix}/{name}"))
}
