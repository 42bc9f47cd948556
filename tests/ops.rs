//! Operations: health, readiness, metrics, and the command line (`token`, `migrate`, secret
//! bootstrap).

mod common;

use std::process::Command;

use common::{HubProcess, TestApp, Ws};
use realtime_hub::auth::Auth;
use serde_json::{json, Value};

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn();
    let get = |path: &'static str| {
        let url = app.url(path);
        async move {
            let resp = reqwest::get(url).await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (200, json!({"status": "ok"})));
    assert_eq!(
        get("/readyz").await,
        (200, json!({"status": "ready", "database": "ok"}))
    );
    assert_eq!(
        get("/no/such/page").await,
        (404, json!({"error": "not found"}))
    );
}

#[tokio::test]
async fn metrics_count_connections_messages_and_deliveries() {
    let app = TestApp::spawn();
    let mut a = app.ws("/ws/chat/m/").await;
    let mut b = app.ws("/ws/chat/m/").await;
    a.send_json(json!({"message": "counted"})).await;
    a.recv_json().await;
    b.recv_json().await;
    common::refused(app.ws_url("/ws/chat/m/?token=bad")).await;

    let resp = reqwest::get(app.url("/metrics")).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain; version=0.0.4");
    let text = resp.text().await.unwrap();
    let value = |name| realtime_hub::metrics::scrape(&text, name);
    assert!(
        text.contains("hub_connections{dialect=\"chat\"} 2\n"),
        "{text}"
    );
    assert_eq!(value("hub_connections_opened_total"), Some(2.0));
    assert_eq!(value("hub_messages_in_total"), Some(1.0));
    assert_eq!(value("hub_messages_out_total"), Some(1.0));
    assert_eq!(value("hub_deliveries_total"), Some(2.0));
    assert_eq!(value("hub_rooms"), Some(1.0));
    assert_eq!(value("hub_delivery_latency_seconds_count"), Some(2.0));
    assert!(text.contains("hub_handshake_failures_total{reason=\"unauthorized\"} 1"));
}

fn hub_command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_realtime-hub"));
    cmd.current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", "sqlite://hub.db")
        .env("RUST_LOG", "warn");
    cmd
}

#[test]
fn token_command_mints_with_the_configured_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = hub_command(dir.path())
        .env("JWT_SECRET", "configured-secret-of-at-least-32-bytes")
        .args([
            "token",
            "--user-id",
            "7",
            "--name",
            "zoe",
            "--channel",
            "chat:1,2",
            "--ttl",
            "30m",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let who = Auth::new("configured-secret-of-at-least-32-bytes")
        .verify(token.trim())
        .unwrap();
    assert_eq!(
        (who.id, who.name.as_str(), who.channel.as_deref()),
        (7, "zoe", Some("chat:1,2"))
    );
    let ttl = who.exp - realtime_hub::auth::unix_now();
    assert!((1790..=1800).contains(&ttl), "ttl {ttl}");

    let bad = hub_command(dir.path())
        .env("JWT_SECRET", "configured-secret-of-at-least-32-bytes")
        .args([
            "token",
            "--user-id",
            "7",
            "--name",
            "zoe",
            "--ttl",
            "forever",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "error: cannot read --ttl \"forever\": use 30m, 1h, 7d or seconds"
    );
}

#[test]
fn a_ttl_whose_expiry_would_overflow_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for ttl in [
        "106751991167301d",
        "9223372036854775807",
        "99999999999999999999s",
    ] {
        let out = hub_command(dir.path())
            .env("JWT_SECRET", common::SECRET)
            .args(["token", "--user-id", "7", "--name", "zoe", "--ttl", ttl])
            .output()
            .unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
            (
                Some(2),
                format!("error: --ttl \"{ttl}\" is too long: the token's expiry would overflow")
                    .as_str(),
                ""
            )
        );
    }
    let out = hub_command(dir.path())
        .env("JWT_SECRET", common::SECRET)
        .args(["token", "--user-id=-5", "--name", "neg"])
        .output()
        .unwrap();
    assert_eq!(
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        (
            Some(2),
            "error: --user-id -5: user ids are positive integers"
        )
    );
}

/// The child's output once it exits, or `None` (and the child killed) if it is still running
/// after `limit` — a server that should have refused to start must not hang the test.
fn exited_within(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::Output> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_jwt_secret_under_32_bytes_stops_startup() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        vec!["serve"],
        vec!["token", "--user-id", "1", "--name", "a"],
    ] {
        let child = hub_command(dir.path())
            .env("JWT_SECRET", "a")
            .env("HUB_BIND", "127.0.0.1:0")
            .args(&command)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = exited_within(child, std::time::Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{command:?} with JWT_SECRET=a is still running"));
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "configuration error: JWT_SECRET: must be at least 32 bytes, not 1: a short HS256 \
             key can be guessed offline from any token. Generate one with `openssl rand -hex \
             32`, or unset it to have one generated",
            "{command:?}"
        );
        assert!(out.stdout.is_empty(), "{command:?}");
    }
}

#[test]
fn database_and_redis_passwords_never_reach_stdout() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: the URLs are printed, then the database cannot be reached.
    let out = hub_command(dir.path())
        .env("JWT_SECRET", common::SECRET)
        .env("HUB_BIND", "127.0.0.1:0")
        .env("DATABASE_URL", "postgres://hub:hunter2-db@127.0.0.1:1/hub")
        .env("REDIS_URL", "redis://:hunter2-redis@127.0.0.1:1/")
        .arg("serve")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        stdout.contains(
            "(database postgres://hub:***@127.0.0.1:1/hub, redis redis://:***@127.0.0.1:1/)"
        ),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "{stdout}{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
}

#[test]
fn migrate_prints_the_database_url_without_its_password() {
    let Some(url) = common::fresh_pg_database() else {
        return;
    };
    // The throw-away server trusts local connections, so any password is accepted.
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user, host) = rest.split_once('@').unwrap();
    let with_password = format!("{scheme}://{user}:hunter2@{host}");
    let dir = tempfile::tempdir().unwrap();
    let out = hub_command(dir.path())
        .env("JWT_SECRET", common::SECRET)
        .env("DATABASE_URL", &with_password)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("database {scheme}://{user}:***@{host} is up to date (0 pending migrations left)")
    );
}

#[tokio::test]
async fn without_jwt_secret_one_is_generated_and_shared_by_token_and_serve() {
    let hub = HubProcess::start(&[("JWT_SECRET", "")]);
    let secret_file = hub.dir.path().join("hub.secret");
    assert!(
        secret_file.exists(),
        "no generated secret beside the database"
    );
    assert!(hub
        .log()
        .iter()
        .any(|l| l.contains("JWT_SECRET not set: generated a new secret")));
    let out = hub_command(hub.dir.path())
        .args(["token", "--user-id", "1", "--name", "alice"])
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap();
    let mut ws = Ws::connect(hub.ws_url(&format!("/ws/chat/sec/?token={}", token.trim()))).await;
    ws.send_json(json!({"message": "signed by the stored secret"}))
        .await;
    assert_eq!(ws.recv_json().await["user"], "alice");
}

#[test]
fn migrate_command_reports_an_up_to_date_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = hub_command(dir.path())
        .env("JWT_SECRET", common::SECRET)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "database sqlite://hub.db is up to date (0 pending migrations left)"
    );
    assert!(dir.path().join("hub.db").exists());
}

#[test]
fn bad_configuration_stops_startup_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = hub_command(dir.path())
        .env("HUB_MAX_FRAME_BYTES", "big")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "configuration error: HUB_MAX_FRAME_BYTES: cannot parse \"big\""
    );
}

#[tokio::test]
async fn user_add_lets_messages_reach_someone_who_never_connected() {
    let hub = HubProcess::start(&[]);
    let out = hub_command(hub.dir.path())
        .env("JWT_SECRET", common::SECRET)
        .args(["user", "add", "--id", "5", "--name", "erin"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "user 5 is erin"
    );
    let token = Auth::new(common::SECRET).mint(1, "alice", None, 60);
    let resp = reqwest::Client::new()
        .post(hub.url("/api/messages/"))
        .bearer_auth(token)
        .json(&json!({"recipient_id": 5, "body": "welcome"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["recipient"],
        json!({"id": 5, "name": "erin", "username": "erin"})
    );
}

#[tokio::test]
async fn tokens_never_reach_the_access_log_whatever_their_spelling() {
    let hub = HubProcess::start(&[]);
    let token = Auth::new(common::SECRET).mint(8, "quinn", None, 600);
    // Percent-encoded keys are what authentication decodes them to: the token is accepted…
    for query in [
        format!("%74oken={token}"),
        format!("%74%6f%6b%65%6e={token}&x=1"),
        format!("acc%65ss_token={token}&token={token}"),
    ] {
        let resp = reqwest::get(hub.url(&format!("/api/messages/?{query}")))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{query}");
    }
    // …and the access log shows each key, never the value.
    let wanted = [
        "GET /api/messages/?%74oken=[redacted] HTTP/1.1 200",
        "GET /api/messages/?%74%6f%6b%65%6e=[redacted]&x=1 HTTP/1.1 200",
        "GET /api/messages/?acc%65ss_token=[redacted]&token=[redacted] HTTP/1.1 200",
    ];
    common::eventually(
        std::time::Duration::from_secs(5),
        "access-log lines",
        || {
            let log = hub.log();
            async move {
                wanted
                    .iter()
                    .all(|w| log.iter().any(|line| line.contains(w)))
            }
        },
    )
    .await;
    let signature = token.rsplit('.').next().unwrap();
    let leaks: Vec<String> = hub
        .log()
        .into_iter()
        .filter(|line| line.contains(signature) || line.contains(&token[..20]))
        .collect();
    assert!(leaks.is_empty(), "token in the log: {leaks:?}");
}

#[tokio::test]
async fn metrics_may_be_kept_behind_a_key() {
    let app = TestApp::with(&[("HUB_METRICS_KEY", "m3trics-key")]);
    let get = |authorization: Option<&str>| {
        let mut req = reqwest::Client::new().get(app.url("/metrics"));
        if let Some(value) = authorization {
            req = req.header("Authorization", value);
        }
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        }
    };
    let refused = (401, json!({"error": "invalid metrics key"}).to_string());
    assert_eq!(get(None).await, refused);
    assert_eq!(get(Some("Bearer wrong")).await, refused);
    assert_eq!(get(Some("Bearer m3trics-ke")).await, refused);
    assert_eq!(get(Some("Basic m3trics-key")).await, refused);
    for value in ["Bearer m3trics-key", "bearer m3trics-key"] {
        let (status, text) = get(Some(value)).await;
        assert_eq!(status, 200, "{value}");
        assert!(text.contains("hub_connections_opened_total"), "{text}");
    }
    // Unset, /metrics stays open (what every other test relies on).
    assert_eq!(
        reqwest::get(TestApp::spawn().url("/metrics"))
            .await
            .unwrap()
            .status(),
        200
    );
}
