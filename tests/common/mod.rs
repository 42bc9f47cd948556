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
use serde_json::{json, Value};
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
        TestApp::start(env, Some(bus), db_url)
    }

    /// A node started exactly as `main` starts one: with `REDIS_URL` in `env` it joins the
    /// other nodes through Redis.
    pub fn node(env: &[(&str, &str)], db_url: Option<String>) -> TestApp {
        TestApp::start(env, None, db_url)
    }

    fn start(env: &[(&str, &str)], bus: Option<LocalBus>, db_url: Option<String>) -> TestApp {
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
        // Loopback on a free port unless `HUB_BIND` says otherwise (`0.0.0.0:0` for a hub that
        // is not loopback-only); clients always dial it on 127.0.0.1.
        let bind = vars.get("HUB_BIND").map_or("127.0.0.1:0", String::as_str);
        let listener = TcpListener::bind(bind).expect("bind");
        let mut addr = listener.local_addr().unwrap();
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let stop = async move {
                let _ = rx.await;
            };
            actix_web::rt::System::new().block_on(async move {
                match bus {
                    Some(bus) => {
                        realtime_hub::server::run_with_bus(listener, config, stop, bus).await
                    }
                    None => realtime_hub::server::run(listener, config, stop).await,
                }
            })
        });
        let mut app = TestApp {
            addr,
            dir,
            stop: Some(tx),
            thread: Some(thread),
        };
        app.wait_ready();
        app
    }

    fn wait_ready(&mut self) {
        for _ in 0..500 {
            if healthy(self.addr) {
                return;
            }
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                let result = self.thread.take().unwrap().join();
                panic!("server stopped during start: {result:?}");
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

    /// The next text frame exactly as sent; pings and pongs are skipped.
    pub async fn recv_text(&mut self) -> String {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("stream ended")
                .expect("read error");
            match msg {
                Message::Text(t) => return t.to_string(),
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

    /// Returns once a chat socket has joined its room and read its history: the session reads
    /// no frame before that, so the answer to a malformed one marks the point. Without it a
    /// message posted right after the handshake may arrive as history instead of live.
    pub async fn chat_joined(&mut self) {
        self.send_text("not json").await;
        assert_eq!(
            self.recv_json().await,
            json!({"error": "invalid JSON", "user": "system", "message": "invalid JSON"})
        );
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

/// The real `realtime-hub` binary as a child process, for what only a process shows: its
/// memory, its exit status on a signal, its log lines.
pub struct HubProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id.
    pub pid: u32,
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Its working directory (database, generated secret).
    pub dir: tempfile::TempDir,
}

impl HubProcess {
    /// Starts `realtime-hub serve` on a free port with a temporary database.
    pub fn start(env: &[(&str, &str)]) -> HubProcess {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_realtime-hub"));
        cmd.arg("serve")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HUB_BIND", "127.0.0.1:0")
            .env("DATABASE_URL", "sqlite://hub.db")
            .env("JWT_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start realtime-hub");
        let pid = child.id();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr: SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
                    let _ = addr_tx.send(addr);
                }
            }
        });
        let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("hub did not report its address");
        let hub = HubProcess {
            addr,
            pid,
            child,
            log,
            dir,
        };
        for _ in 0..500 {
            if healthy(addr) {
                return hub;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("hub never answered /healthz");
    }

    /// `ws://…{path}`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// `http://…{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Everything logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// One counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        realtime_hub::metrics::scrape(&text, name).unwrap_or(0.0)
    }

    /// Sends a signal (`TERM`, `INT`) by PID.
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([format!("-{sig}"), self.pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if it is still up.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A unique `REDIS_PREFIX`, so parallel tests sharing one Redis never see each other.
pub fn redis_prefix() -> String {
    format!("t{:016x}:", rand::random::<u64>())
}

/// A `redis-server` of the test's own on a free loopback port, for tests that stop and start
/// Redis. Stopped by its PID when dropped.
pub struct RedisServer {
    /// Its port.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// Starts one, or `None` (skipped, or failed under CI) without `redis-server`.
    pub fn start() -> Option<RedisServer> {
        let found = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok();
        if !found {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("redis-server is not installed and CI=true");
            }
            eprintln!("skipped: redis-server is not installed");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.resume();
        Some(server)
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it (SIGKILL, as a crash would), keeping the port for [`RedisServer::resume`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: it keeps nothing on disk).
    pub fn resume(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        for _ in 0..250 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `GET /healthz` answers 200 (the server has fully started).
fn healthy(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut conn) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    conn.write_all(request.as_bytes()).is_ok()
        && conn.read_to_string(&mut response).is_ok()
        && response.starts_with("HTTP/1.1 200")
}

/// A REST call: method, path, optional bearer token and JSON body; returns the status and the
/// JSON body (`null` when empty).
pub async fn api(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
    let mut req = reqwest::Client::new().request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    (status, json)
}

/// Checks the time at `pointer` is RFC 3339 and copies it into `expected`, so whole objects can
/// be compared.
pub fn fix_time(got: &Value, expected: &mut Value, pointer: &str) {
    let t = got
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {got}"));
    chrono::DateTime::parse_from_rfc3339(t)
        .unwrap_or_else(|_| panic!("{pointer} = {t} is not RFC 3339"));
    *expected.pointer_mut(pointer).expect("pointer in expected") = Value::String(t.to_string());
}

/// A time `offset_secs` from now, to the second, as RFC 3339 with an offset `hours` east of
/// UTC (`0` writes `Z`). Client practice times must be within a day of the server's clock, so
/// tests cannot use fixed dates; take `base` once ([`now`]) so that times a test compares are
/// exactly as far apart as it says.
pub fn at(base: chrono::DateTime<chrono::Utc>, offset_secs: i64, hours: i32) -> String {
    let zone = chrono::FixedOffset::east_opt(hours * 3600).expect("an offset");
    (base + chrono::TimeDelta::seconds(offset_secs))
        .with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The current time, to the second (see [`at`]).
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(0)
}

/// A broadcast-dialect token: `id`, `name` and the `channel` it may join.
pub fn broadcast_token(id: i64, name: &str, channel: &str) -> String {
    Auth::new(SECRET).mint(id, name, Some(channel), 3600)
}

/// A broadcast presence frame (`connectOther`, `disconnectOther`) about user `id`.
pub fn presence(kind: &str, id: i64, name: &str) -> Value {
    serde_json::json!({"type": kind, "sender": {"name": name, "id": id}, "data": {"user": {"name": name, "id": id}}})
}
