//! Configuration: one struct read from the environment (and `.env`), passed down explicitly.
//!
//! Every field has a default that lets `cargo run --release` work on a laptop with nothing else
//! installed. `.env.example` lists the same variables; keep the two in step.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;

/// Everything the hub can be told, with units in the names where a number has one.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HUB_BIND`: where the HTTP/WebSocket listener binds. Default `127.0.0.1:8000`. Once
    /// serving, the address actually bound (the port a `:0` resolved to): the Origin check
    /// asks whether it is a loopback address ([`crate::auth::origin`]).
    pub bind: SocketAddr,
    /// `DATABASE_URL`: `sqlite://path` (default `sqlite://realtime-hub.db`, relative to the
    /// working directory) or `postgres://…` for a shared store.
    pub database_url: String,
    /// `REDIS_URL`: unset means a single node with in-process fan-out.
    pub redis_url: Option<String>,
    /// `REDIS_PREFIX`: prepended to every Redis key and channel the hub uses. Default empty.
    pub redis_prefix: String,
    /// `HUB_PRESENCE_TTL_MS`: how long a node that stopped refreshing its heartbeat in Redis
    /// still counts as alive; its members are announced gone within twice this. Default 10 000.
    pub presence_ttl: Duration,
    /// `HUB_RELAY_LINGER_MS`: how long a node stays subscribed to a topic in Redis after its
    /// last local member left (a member coming straight back misses nothing). Default 5 000.
    pub relay_linger: Duration,
    /// `JWT_SECRET`: HS256 key, at least [`MIN_JWT_SECRET_BYTES`] bytes. When unset,
    /// [`crate::auth::secret`] creates one beside the database and says so in the log, so no
    /// well-known secret is ever used silently. A shorter one is refused at start rather than
    /// warned about: anyone holding one token can guess a short HMAC key offline, at leisure,
    /// and then mint tokens for every user — and a warning in a log nobody reads protects no
    /// one.
    pub jwt_secret: Option<String>,
    /// `HUB_API_KEY`: bearer key for server-to-server calls. Unset disables those endpoints.
    pub api_key: Option<String>,
    /// `HUB_METRICS_KEY`: when set, `GET /metrics` wants it as `Authorization: Bearer` (401
    /// otherwise; compared in constant time), for hubs whose `/metrics` is reachable from
    /// outside. Unset (default): `/metrics` is open, as scrapers on a private network expect.
    pub metrics_key: Option<String>,
    /// `HUB_ALLOWED_ORIGINS`: comma-separated origins allowed to open browser WebSockets;
    /// `*` allows any. Empty (default) allows same-origin pages and non-browser clients, and,
    /// on a hub bound to loopback and reached by a loopback name, `http://localhost:*` pages
    /// (and `127.0.0.1`, `[::1]`): a dev server beside it ([`crate::auth::origin`]).
    pub allowed_origins: Vec<String>,
    /// `HUB_TRUSTED_PROXIES`: comma-separated proxy addresses (e.g. `127.0.0.1` for a local
    /// Nginx) whose `X-Forwarded-For` names the client for per-address quotas and whose
    /// `X-Forwarded-Proto` names the scheme for the same-origin check. Default none.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `HUB_MAX_FRAME_BYTES`: largest incoming frame; bigger ones close with 1009. Default 64 KiB.
    pub max_frame_bytes: usize,
    /// `HUB_RATE_PER_SEC`: messages a connection may send per second; the first excess gets an
    /// error frame, sustained excess (twice the rate) closes with 4101. Default 100.
    pub rate_per_sec: u32,
    /// `HUB_MAX_CONN_PER_USER`: open connections per authenticated user; more get 429. Default 100.
    pub max_conn_per_user: usize,
    /// `HUB_MAX_CONN_PER_IP`: open connections per client address; more get 429. Default 1000.
    pub max_conn_per_ip: usize,
    /// `HUB_MAX_BODY_BYTES`: largest REST request body; larger ones get 413 before they are
    /// read. Default 262 144 (256 KiB, what actix-web allowed before it was configurable).
    pub max_body_bytes: usize,
    /// `HUB_GUITAR_MAX_MEMBERS`: most users a guitar session may list besides its owner
    /// (distinct ids); more get 422. Default 32 — a practice session is a phone, a PC and a
    /// teacher or two, and every member is a row and a check on each connect.
    pub guitar_max_members: usize,
    /// `HUB_SESSION_QUEUE`: deliveries a connection may have waiting to be written before its
    /// room starts holding events back for it (and, past the slow-consumer limits, evicts it).
    /// A delivery is a room's batch: one event when traffic is light, up to
    /// [`crate::hub::room::MAX_BATCH`] in a burst, shared with the other members. Default 256
    /// (STYLE.md "Slow readers" says why not less).
    pub session_queue: usize,
    /// `HUB_SLOW_CONSUMER_BYTES`: bytes a connection may have waiting to be written for
    /// longer than `HUB_SLOW_CONSUMER_MS` — a burst it reads through passes, a reader that
    /// falls behind is closed with 4102 — and an eighth of what it may ever have waiting. Also
    /// the event bytes a room holds back for a member whose mailbox is full. Default 1 MiB.
    pub slow_consumer_bytes: usize,
    /// `HUB_SLOW_CONSUMER_MS`: how long a connection may stay over that, or a member with a
    /// full mailbox go without taking a single event. Default 3 000.
    pub slow_consumer_timeout: Duration,
    /// `HUB_HEARTBEAT_INTERVAL_MS`: how often the server pings. Default 25 000.
    pub heartbeat_interval: Duration,
    /// `HUB_HEARTBEAT_TIMEOUT_MS`: silence after which a connection is closed with 4201.
    /// Default 60 000; must be at least twice the interval.
    pub heartbeat_timeout: Duration,
    /// `HUB_CHAT_HISTORY`: stored chat messages sent to a member on join. Default 50.
    pub chat_history: i64,
    /// `HUB_CHAT_REQUIRE_AUTH`: refuse anonymous chat connections. Default false.
    pub chat_require_auth: bool,
    /// `HUB_SHUTDOWN_TIMEOUT_MS`: how long shutdown waits for connections to finish. Default 3 000.
    pub shutdown_timeout: Duration,
    /// `HUB_WORKERS`: HTTP worker threads. Default: one per CPU.
    pub workers: usize,
    /// `HUB_ROOM_THREADS`: threads that run room actors. Default: one per CPU.
    pub room_threads: usize,
    /// `HUB_DB_POOL`: database connections kept open. Default 1 for SQLite — it has one writer,
    /// and writers waiting in the pool queue up in order, where a second connection would wait
    /// in SQLite's busy handler, which sleeps (measured: guitar p99 27 ms with 8, 7 ms with 1) —
    /// and 8 for PostgreSQL.
    pub db_pool_size: u32,
    /// `HUB_PUSHER_APPS`: the apps the Pusher dialect serves at `/app/{key}` and
    /// `/apps/{id}/…`, as `id:key:secret` entries separated by commas (what a Reverb user
    /// has in `REVERB_APP_ID`/`_KEY`/`_SECRET`), or as a JSON list of [`PusherApp`] objects
    /// for per-app origins, limits and webhooks. `HUB_PUSHER_APPS_FILE` names a file holding
    /// that JSON list instead. Default none: the dialect answers every key with 4001.
    pub pusher_apps: Vec<PusherApp>,
    /// `HUB_BROADCAST_WEBHOOK_URL`: where the broadcast dialect's client messages (`{"data":…}`)
    /// are also posted, signed like Pusher webhooks with `HUB_BROADCAST_WEBHOOK_SECRET`, so the
    /// Laravel side hears its clients. Default unset: nothing is posted.
    pub broadcast_webhook_url: Option<String>,
    /// `HUB_BROADCAST_WEBHOOK_SECRET`: the HMAC-SHA256 key of those posts (`X-Pusher-Signature`);
    /// required with the URL.
    pub broadcast_webhook_secret: Option<String>,
    /// `HUB_BROADCAST_WEBHOOK_KEY`: sent as `X-Pusher-Key` with those posts (a Pusher SDK's
    /// webhook check compares it with its app key). Default `broadcast`.
    pub broadcast_webhook_key: String,
}

/// One Pusher app: the credentials Laravel's `PUSHER_APP_ID`/`_KEY`/`_SECRET` (or Reverb's)
/// hold, and what the hub allows its clients. Read from `HUB_PUSHER_APPS`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PusherApp {
    /// The app id in HTTP API paths (`/apps/{id}/events`).
    pub id: String,
    /// The public key in socket URLs (`/app/{key}`) and in `auth` strings.
    pub key: String,
    /// The secret every channel and API signature is made with.
    pub secret: String,
    /// Origins whose browsers may connect (`*` for any); empty (default): those of
    /// `HUB_ALLOWED_ORIGINS`, and always same-origin pages and non-browser clients.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Open sockets this app may have on a node; more get `pusher:error` 4004. Default 10 000.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: usize,
    /// Whether clients may send `client-` events on private and presence channels (Echo's
    /// `whisper`). Default true, as Reverb's `accept_client_events_from: members`.
    #[serde(default = "defaults::yes")]
    pub client_events: bool,
    /// Client events a socket may send per second; more get `pusher:error` 4301. Default 10,
    /// Pusher's documented limit.
    #[serde(default = "defaults::client_events_per_sec")]
    pub max_client_events_per_sec: u32,
    /// Seconds of silence after which a client should ping (`activity_timeout` in
    /// `pusher:connection_established`), and after which the server pings; a socket silent for
    /// twice this is closed with 4201. Default 30.
    #[serde(default = "defaults::activity_timeout")]
    pub activity_timeout: u64,
    /// Distinct users a presence channel may hold; the next gets `pusher:subscription_error`
    /// with status 4100. Default 100, Pusher's limit.
    #[serde(default = "defaults::presence_members")]
    pub max_presence_members: usize,
    /// Largest event `data` in bytes (HTTP API and client events); larger gets 413 or 4301.
    /// Default 10 240, Pusher's.
    #[serde(default = "defaults::event_bytes")]
    pub max_event_bytes: usize,
    /// Where channel and presence events are posted (Pusher's webhook format), if anywhere.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// Defaults of [`PusherApp`] fields, as serde wants them: functions.
mod defaults {
    pub fn max_connections() -> usize {
        10_000
    }
    pub fn yes() -> bool {
        true
    }
    pub fn client_events_per_sec() -> u32 {
        10
    }
    pub fn activity_timeout() -> u64 {
        30
    }
    pub fn presence_members() -> usize {
        100
    }
    pub fn event_bytes() -> usize {
        10 * 1024
    }
}

impl PusherApp {
    /// An app with every limit at its default.
    pub fn new(id: &str, key: &str, secret: &str) -> PusherApp {
        PusherApp {
            id: id.into(),
            key: key.into(),
            secret: secret.into(),
            allowed_origins: Vec::new(),
            max_connections: defaults::max_connections(),
            client_events: true,
            max_client_events_per_sec: defaults::client_events_per_sec(),
            activity_timeout: defaults::activity_timeout(),
            max_presence_members: defaults::presence_members(),
            max_event_bytes: defaults::event_bytes(),
            webhook_url: None,
        }
    }
}

/// `HUB_PUSHER_APPS` (or the file `HUB_PUSHER_APPS_FILE` names): a JSON list when it starts
/// with `[`, otherwise comma-separated `id:key:secret` entries.
fn pusher_apps(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<PusherApp>, ConfigError> {
    let (key, text) = match (get("HUB_PUSHER_APPS"), get("HUB_PUSHER_APPS_FILE")) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "HUB_PUSHER_APPS",
                reason: "set either it or HUB_PUSHER_APPS_FILE, not both".into(),
            })
        }
        (Some(text), None) => ("HUB_PUSHER_APPS", text),
        (None, Some(path)) => (
            "HUB_PUSHER_APPS_FILE",
            std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                key: "HUB_PUSHER_APPS_FILE",
                reason: format!("cannot read {path}: {e}"),
            })?,
        ),
        (None, None) => return Ok(Vec::new()),
    };
    let invalid = |reason: String| ConfigError::Invalid { key, reason };
    let apps: Vec<PusherApp> = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text).map_err(|e| invalid(format!("not a list of apps: {e}")))?
    } else {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| match entry.split(':').collect::<Vec<_>>()[..] {
                [id, key, secret] => Ok(PusherApp::new(id, key, secret)),
                _ => Err(invalid(format!(
                    "{entry:?} is not id:key:secret (use the JSON form for more)"
                ))),
            })
            .collect::<Result<_, _>>()?
    };
    for (i, app) in apps.iter().enumerate() {
        if [&app.id, &app.key, &app.secret]
            .iter()
            .any(|v| v.is_empty())
        {
            return Err(invalid(format!(
                "app {i}: id, key and secret must be non-empty"
            )));
        }
        if app.activity_timeout == 0 || app.max_client_events_per_sec == 0 {
            return Err(invalid(format!(
                "app {}: activity_timeout and max_client_events_per_sec must be positive",
                app.id
            )));
        }
        if apps[..i].iter().any(|a| a.id == app.id || a.key == app.key) {
            return Err(invalid(format!("app {}: id or key used twice", app.id)));
        }
        if let Some(url) = &app.webhook_url {
            if !url.starts_with("http://") {
                return Err(invalid(format!(
                    "app {}: webhook_url must be an http:// URL",
                    app.id
                )));
            }
        }
    }
    Ok(apps)
}

impl Config {
    /// Reads the process environment (after `.env` was loaded by `main`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Builds the configuration from any key lookup, so tests can configure a server without
    /// touching the process environment (which parallel tests share).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let config = Config {
            bind: parse(&get, "HUB_BIND", "127.0.0.1:8000".parse().expect("literal"))?,
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://realtime-hub.db".into()),
            redis_url: get("REDIS_URL"),
            redis_prefix: get("REDIS_PREFIX").unwrap_or_default(),
            presence_ttl: millis(&get, "HUB_PRESENCE_TTL_MS", 10_000)?,
            relay_linger: millis(&get, "HUB_RELAY_LINGER_MS", 5_000)?,
            jwt_secret: get("JWT_SECRET"),
            api_key: get("HUB_API_KEY"),
            metrics_key: get("HUB_METRICS_KEY"),
            allowed_origins: get("HUB_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().trim_end_matches('/').to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            trusted_proxies: get("HUB_TRUSTED_PROXIES")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| {
                            s.parse().map_err(|_| ConfigError::Invalid {
                                key: "HUB_TRUSTED_PROXIES",
                                reason: format!("{s:?} is not an IP address"),
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
            max_frame_bytes: parse(&get, "HUB_MAX_FRAME_BYTES", 64 * 1024)?,
            rate_per_sec: parse(&get, "HUB_RATE_PER_SEC", 100)?,
            max_conn_per_user: parse(&get, "HUB_MAX_CONN_PER_USER", 100)?,
            max_conn_per_ip: parse(&get, "HUB_MAX_CONN_PER_IP", 1000)?,
            max_body_bytes: parse(&get, "HUB_MAX_BODY_BYTES", 256 * 1024)?,
            guitar_max_members: parse(&get, "HUB_GUITAR_MAX_MEMBERS", 32)?,
            session_queue: parse(&get, "HUB_SESSION_QUEUE", 256)?,
            slow_consumer_bytes: parse(&get, "HUB_SLOW_CONSUMER_BYTES", 1024 * 1024)?,
            slow_consumer_timeout: millis(&get, "HUB_SLOW_CONSUMER_MS", 3_000)?,
            heartbeat_interval: millis(&get, "HUB_HEARTBEAT_INTERVAL_MS", 25_000)?,
            heartbeat_timeout: millis(&get, "HUB_HEARTBEAT_TIMEOUT_MS", 60_000)?,
            chat_history: parse(&get, "HUB_CHAT_HISTORY", 50)?,
            chat_require_auth: parse(&get, "HUB_CHAT_REQUIRE_AUTH", false)?,
            shutdown_timeout: millis(&get, "HUB_SHUTDOWN_TIMEOUT_MS", 3_000)?,
            workers: parse(&get, "HUB_WORKERS", cpus)?,
            room_threads: parse(&get, "HUB_ROOM_THREADS", cpus)?,
            db_pool_size: 0, // filled below: its default depends on the backend
            pusher_apps: pusher_apps(&get)?,
            broadcast_webhook_url: get("HUB_BROADCAST_WEBHOOK_URL"),
            broadcast_webhook_secret: get("HUB_BROADCAST_WEBHOOK_SECRET"),
            broadcast_webhook_key: get("HUB_BROADCAST_WEBHOOK_KEY")
                .unwrap_or_else(|| "broadcast".into()),
        };
        let backend_default = if config.database_url.starts_with("sqlite://") {
            1
        } else {
            8
        };
        let config = Config {
            db_pool_size: parse(&get, "HUB_DB_POOL", backend_default)?,
            ..config
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, why: &str| ConfigError::Invalid {
            key,
            reason: why.to_string(),
        };
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < MIN_JWT_SECRET_BYTES {
                return Err(invalid(
                    "JWT_SECRET",
                    &format!(
                        "must be at least {MIN_JWT_SECRET_BYTES} bytes, not {}: a short HS256 key \
                         can be guessed offline from any token. Generate one with \
                         `openssl rand -hex 32`, or unset it to have one generated",
                        secret.len()
                    ),
                ));
            }
        }
        if self.heartbeat_timeout < self.heartbeat_interval * 2 {
            return Err(invalid(
                "HUB_HEARTBEAT_TIMEOUT_MS",
                "must be at least twice HUB_HEARTBEAT_INTERVAL_MS",
            ));
        }
        if self.presence_ttl < Duration::from_millis(300) {
            return Err(invalid(
                "HUB_PRESENCE_TTL_MS",
                "must be at least 300 (nodes refresh it three times per TTL)",
            ));
        }
        if self.session_queue == 0
            || self.workers == 0
            || self.room_threads == 0
            || self.db_pool_size == 0
        {
            return Err(invalid(
                "HUB_SESSION_QUEUE/HUB_WORKERS/HUB_ROOM_THREADS/HUB_DB_POOL",
                "must be positive",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("HUB_MAX_BODY_BYTES", "must be at least 1024"));
        }
        if self.rate_per_sec == 0 || self.max_frame_bytes < 128 {
            return Err(invalid(
                "HUB_RATE_PER_SEC/HUB_MAX_FRAME_BYTES",
                "rate must be positive and frames at least 128 bytes",
            ));
        }
        if self
            .broadcast_webhook_url
            .as_ref()
            .is_some_and(|url| !url.starts_with("http://"))
        {
            return Err(invalid(
                "HUB_BROADCAST_WEBHOOK_URL",
                "must be an http:// URL",
            ));
        }
        if self.broadcast_webhook_url.is_some() && self.broadcast_webhook_secret.is_none() {
            return Err(invalid(
                "HUB_BROADCAST_WEBHOOK_SECRET",
                "must be set with HUB_BROADCAST_WEBHOOK_URL (the app checks the signature)",
            ));
        }
        if !(self.database_url.starts_with("sqlite://")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "DATABASE_URL",
                "must start with sqlite:// or postgres://",
            ));
        }
        Ok(())
    }

    /// The SQLite file, when the database is SQLite; the secret file is kept beside it.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.database_url
            .strip_prefix("sqlite://")
            .map(PathBuf::from)
    }
}

/// Shortest `JWT_SECRET` accepted: 32 bytes, the output size of the SHA-256 inside HS256
/// (RFC 7518 §3.2 requires a key at least that long).
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// `url` fit to print: the password of its user part replaced by `***`
/// (`postgres://user:***@host/db`, `redis://:***@host:6379/`), and so is a `password=` query
/// parameter (libpq accepts one). Whatever prints `DATABASE_URL` or `REDIS_URL` goes through
/// this, so secrets never reach stdout, journals or CI logs.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The user part ends at the last `@` of the authority (a password may contain `@`).
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(raw) => raw.trim().parse().map_err(|_| ConfigError::Invalid {
            key,
            reason: format!("cannot parse {raw:?}"),
        }),
    }
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: u64,
) -> Result<Duration, ConfigError> {
    parse(get, key, default).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_environment() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(c.database_url, "sqlite://realtime-hub.db");
        assert_eq!(c.max_frame_bytes, 65536);
        assert_eq!(c.session_queue, 256);
        assert_eq!(c.db_pool_size, 1);
        assert_eq!(c.max_body_bytes, 262_144);
        assert_eq!(c.guitar_max_members, 32);
        assert_eq!((c.metrics_key, c.jwt_secret), (None, None));
        let pg = Config::from_lookup(|k| (k == "DATABASE_URL").then(|| "postgres://h/db".into()))
            .unwrap();
        assert_eq!(pg.db_pool_size, 8);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err =
            Config::from_lookup(|k| (k == "HUB_RATE_PER_SEC").then(|| "lots".into())).unwrap_err();
        assert_eq!(err.to_string(), "HUB_RATE_PER_SEC: cannot parse \"lots\"");
        let err = Config::from_lookup(|k| match k {
            "HUB_HEARTBEAT_INTERVAL_MS" => Some("1000".into()),
            "HUB_HEARTBEAT_TIMEOUT_MS" => Some("1500".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(matches!(
            err,
            ConfigError::Invalid {
                key: "HUB_HEARTBEAT_TIMEOUT_MS",
                ..
            }
        ));
    }

    #[test]
    fn pusher_apps_compact_or_json() {
        let with = |value: &str| {
            let value = value.to_string();
            Config::from_lookup(move |k| (k == "HUB_PUSHER_APPS").then(|| value.clone()))
        };
        let c = with("1:key-one:secret-one, 2:key-two:secret-two").unwrap();
        assert_eq!(
            c.pusher_apps,
            vec![
                PusherApp::new("1", "key-one", "secret-one"),
                PusherApp::new("2", "key-two", "secret-two")
            ]
        );
        let c = with(
            r#"[{"id":"7","key":"k","secret":"s","allowed_origins":["https://shop.test"],
                 "max_client_events_per_sec":5,"webhook_url":"http://127.0.0.1:9/hooks"}]"#,
        )
        .unwrap();
        let app = &c.pusher_apps[0];
        assert_eq!(app.allowed_origins, ["https://shop.test"]);
        assert_eq!(app.max_client_events_per_sec, 5);
        assert_eq!(app.activity_timeout, 30);
        for bad in [
            "1:k",
            "1:k:s,2:k:t",
            r#"[{"id":"1","key":"k"}]"#,
            r#"[{"id":"1","key":"k","secret":"s","colour":"red"}]"#,
            "1::s",
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.starts_with("HUB_PUSHER_APPS: "), "{bad}: {err}");
        }
        assert!(Config::from_lookup(|_| None)
            .unwrap()
            .pusher_apps
            .is_empty());

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("apps.json");
        std::fs::write(&file, r#"[{"id":"3","key":"k3","secret":"s3"}]"#).unwrap();
        let path = file.display().to_string();
        let c =
            Config::from_lookup(|k| (k == "HUB_PUSHER_APPS_FILE").then(|| path.clone())).unwrap();
        assert_eq!(c.pusher_apps, vec![PusherApp::new("3", "k3", "s3")]);
        let both = Config::from_lookup(|k| match k {
            "HUB_PUSHER_APPS_FILE" => Some(path.clone()),
            "HUB_PUSHER_APPS" => Some("1:k:s".into()),
            _ => None,
        });
        assert!(both.is_err());
        let missing = Config::from_lookup(|k| {
            (k == "HUB_PUSHER_APPS_FILE").then(|| "/nonexistent/apps.json".into())
        })
        .unwrap_err();
        assert!(missing
            .to_string()
            .starts_with("HUB_PUSHER_APPS_FILE: cannot read"));
    }

    #[test]
    fn short_jwt_secrets_are_refused() {
        let with = |secret: &str| {
            let secret = secret.to_string();
            Config::from_lookup(move |k| (k == "JWT_SECRET").then(|| secret.clone()))
        };
        let err = with("a").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    key: "JWT_SECRET",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("JWT_SECRET: must be at least 32 bytes, not 1:"),
            "{err}"
        );
        assert!(with(&"k".repeat(31)).is_err());
        assert!(with(&"k".repeat(32)).is_ok());
    }

    #[test]
    fn urls_are_printed_without_passwords() {
        for (url, shown) in [
            (
                "postgres://user:password@db:5432/hub",
                "postgres://user:***@db:5432/hub",
            ),
            (
                "postgresql://u:p@ss@db/hub?sslmode=require",
                "postgresql://u:***@db/hub?sslmode=require",
            ),
            (
                "postgres://db/hub?user=u&password=p",
                "postgres://db/hub?user=u&password=***",
            ),
            ("postgres://user@db/hub", "postgres://user@db/hub"),
            ("redis://:s3cret@redis:6379/0", "redis://:***@redis:6379/0"),
            ("redis://default:s3cret@redis", "redis://default:***@redis"),
            ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/"),
            ("sqlite://realtime-hub.db", "sqlite://realtime-hub.db"),
        ] {
            assert_eq!(redacted_url(url), shown, "{url}");
        }
    }
}
