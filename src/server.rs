//! Starting and stopping one hub node. [`run`] is what `main` calls and what every integration
//! test calls, on a listener bound to port 0.
//!
//! Shutdown is a drain: from the signal `/readyz` answers 503 and new upgrades are refused with
//! 503 (the load balancer sends clients elsewhere); every session closes with 1001 at its own
//! moment within the first half of `HUB_SHUTDOWN_TIMEOUT_MS` (clients reconnecting to the other
//! nodes arrive spread out, not in one burst; actix-web does not close WebSockets itself); once
//! the sockets are gone or the timeout passes the HTTP server stops, letting in-flight requests
//! finish; then the dialects' writers store what they accepted, and the process exits 0.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Actor;
use actix_web::middleware::Logger;
use actix_web::{web, App, HttpServer};
use tokio::sync::watch;

use crate::auth::{secret, Auth};
use crate::config::Config;
use crate::db::Db;
use crate::hub::conn;
use crate::hub::limits::ConnLimits;
use crate::hub::registry::Registry;
use crate::hub::room::{RoomConfig, SlowReaderPolicy};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::relay::local::{LocalBus, LocalRelay};
use crate::relay::presence::SharedPresence;
use crate::relay::redis::RedisRelay;
use crate::relay::redis_presence::RedisPresence;
use crate::relay::{Relay, RelayInbox};
use crate::state::AppState;

/// Serves one node on `listener` until `shutdown` resolves; returns once every connection is
/// closed. With `REDIS_URL` the node joins the others through Redis; without, it is alone.
/// Must be called inside an actix system (`actix_web::rt::System`).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + 'static,
) -> std::io::Result<()> {
    serve(listener, config, shutdown, None).await
}

/// [`run`], joined to an in-process relay bus shared with other nodes of the same process
/// (how tests show several nodes acting as one hub without Redis). `REDIS_URL` still feeds the
/// broadcast dialect's back-end channel, but events between nodes take the bus.
pub async fn run_with_bus(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + 'static,
    bus: LocalBus,
) -> std::io::Result<()> {
    serve(listener, config, shutdown, Some(bus)).await
}

async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + 'static,
    bus: Option<LocalBus>,
) -> std::io::Result<()> {
    // The address actually bound (a test's port 0 resolved): the Origin check asks whether
    // the hub is reachable from this machine only.
    let config = Config {
        bind: listener.local_addr()?,
        ..config
    };
    let (down_tx, down_rx) = watch::channel(false);
    let state = build_state(config, bus, down_rx)?;
    let config = state.config.clone();
    let shared = web::Data::new(crate::dialects::start(&state));
    let writers = shared.clone();

    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(shared.clone())
            .wrap(actix_web::middleware::from_fn(crate::http::cors::cors))
            .wrap(
                Logger::new("%{request}xi %s %b %Dms peer=%a")
                    .custom_request_replace("request", crate::http::redacted_request_line),
            )
            .configure(crate::http::routes)
            .configure(crate::dialects::routes)
            .default_service(web::to(crate::http::not_found))
    })
    .workers(config.workers)
    .disable_signals()
    .shutdown_timeout(config.shutdown_timeout.as_secs().max(1))
    // A WebSocket's request body never ends: without this, a connection whose session ended
    // would linger until the client hung up, where RFC 6455 §7.1.1 has the server close first.
    .client_disconnect_timeout(Duration::ZERO)
    .on_connect(conn::on_connect)
    .listen(listener)?
    .run();

    actix_web::rt::spawn(crate::memory::trim_after_load(
        state.metrics.clone(),
        state.shutdown.clone(),
    ));
    let handle = server.handle();
    let metrics = state.metrics.clone();
    actix_web::rt::spawn(async move {
        shutdown.await;
        log::info!(
            "shutting down: closing {} connections",
            metrics.open_connections()
        );
        let _ = down_tx.send(true);
        let deadline = Instant::now() + config.shutdown_timeout;
        while metrics.open_connections() > 0 && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        handle.stop(true).await;
    });
    server.await?;
    let drain = crate::dialects::drained(&writers);
    if tokio::time::timeout(state.config.shutdown_timeout, drain)
        .await
        .is_err()
    {
        log::warn!("shutdown: writers still busy after the shutdown timeout");
    }
    state.hub.registry().do_send(StopRegistry);
    log::info!("stopped");
    Ok(())
}

/// Opens the database, resolves the secret, starts the relay (Redis when configured and no
/// in-process bus is given) and the registry, once per node. (Also what the hub's own session
/// tests build a node from.)
pub(crate) fn build_state(
    config: Config,
    bus: Option<LocalBus>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<AppState> {
    let io = |e: String| std::io::Error::other(e);
    let secret = secret::resolve(&config).map_err(|e| io(e.to_string()))?;
    let db = Db::connect(&config).map_err(|e| io(format!("database: {e}")))?;
    let metrics = Arc::new(Metrics::default());
    let redis = match &config.redis_url {
        Some(url) => {
            Some(redis::Client::open(url.as_str()).map_err(|e| io(format!("REDIS_URL: {e}")))?)
        }
        None => None,
    };
    let (relay, presence): (Arc<dyn Relay>, Option<RedisPresence>) = match (&redis, bus) {
        (Some(client), None) => {
            let relay = RedisRelay::start(
                client.clone(),
                config.redis_prefix.clone(),
                config.relay_linger,
                metrics.clone(),
                shutdown.clone(),
            );
            let presence = RedisPresence::start(
                client.clone(),
                &config.redis_prefix,
                relay.node(),
                config.presence_ttl,
                metrics.clone(),
            );
            (Arc::new(relay), Some(presence))
        }
        (_, bus) => (
            Arc::new(LocalRelay::new(bus.unwrap_or_default(), metrics.clone())),
            None,
        ),
    };
    let rooms = RoomConfig {
        slow: SlowReaderPolicy {
            backlog_bytes: config.slow_consumer_bytes,
            stall: config.slow_consumer_timeout,
        },
    };
    let shared = presence
        .clone()
        .map(|p| Arc::new(p) as Arc<dyn SharedPresence>);
    let node = relay.node();
    let registry =
        Registry::new(config.room_threads, rooms, relay, shared, metrics.clone()).start();
    if let Some(presence) = &presence {
        presence.attach(RelayInbox {
            envelopes: registry.clone().recipient(),
            resync: registry.clone().recipient(),
            orphaned: registry.clone().recipient(),
        });
    }
    Ok(AppState {
        redis,
        limits: Arc::new(ConnLimits::new(
            config.max_conn_per_user,
            config.max_conn_per_ip,
        )),
        auth: Arc::new(Auth::new(&secret)),
        config: Arc::new(config),
        db,
        known_users: Arc::default(),
        hub: Hub::new(registry, metrics.clone(), node),
        metrics,
        shutdown,
    })
}

/// Stops the registry (and with it the room threads) after the HTTP server is done.
#[derive(actix::Message)]
#[rtype(result = "()")]
struct StopRegistry;

impl actix::Handler<StopRegistry> for Registry {
    type Result = ();

    fn handle(&mut self, _: StopRegistry, ctx: &mut Self::Context) {
        use actix::ActorContext;
        ctx.stop();
    }
}
