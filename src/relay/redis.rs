//! The Redis relay: nodes that share one Redis deliver each other's events.
//!
//! - **Channels.** Each topic is the pub/sub channel `{REDIS_PREFIX}hub:t:{topic}`; a node is
//!   subscribed while it has a room for the topic, and for [`RedisRelay::linger`] after the room
//!   stopped (a member coming straight back finds it still subscribed). Every node also
//!   listens on `{REDIS_PREFIX}hub:ctl` for notices of gaps.
//! - **Publishing.** Rooms hand envelopes to a bounded queue (full: counted as
//!   `hub_queue_full_total{queue="relay"}`, never waited on); one task sends what is queued as
//!   one pipeline on one connection, so each node's events reach Redis, and so every
//!   subscriber, in the order they were published.
//! - **Receiving.** One task reads the subscription connection; envelopes of this node are
//!   dropped (own echo), malformed ones logged and counted (`hub_relay_errors_total`,
//!   `hub_relay_malformed_total`), the rest handed to the registry with `try_send`.
//! - **Outages.** When Redis goes away each node goes on serving its own members; the
//!   subscriber retries with exponential backoff and jitter (100 ms doubling to 2 s), then
//!   subscribes every topic again. Events published meanwhile are gone from pub/sub, but were
//!   committed to the database first: the node that was cut off tells its registry, and through
//!   the control channel every other node, since when to catch up ([`super::Resync`]).
//!   `hub_relay_connected` is 0 while the link is down.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch, Notify};

use super::envelope;
use super::{Envelope, NodeId, Relay, RelayInbox, Resync};
use crate::hub::Topic;
use crate::metrics::Metrics;

/// Envelopes waiting for the publishing task.
const QUEUE: usize = 65_536;
/// Most envelopes sent in one pipeline.
const PIPELINE: usize = 512;
/// How long one Redis call may take before the link counts as down.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between reconnection attempts: Redis back means deliveries back within it.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Catch-ups start this long before a gap was noticed: events committed just before it may
/// still have been on their way, and nodes' clocks differ a little.
pub const GAP_MARGIN_MS: i64 = 2_000;
/// How often the subscriber checks a quiet link.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Which topics this node wants to hear.
#[derive(Default)]
struct Subscriptions {
    wanted: HashSet<Topic>,
    /// Topics whose rooms stopped, kept until the deadline.
    leaving: HashMap<Topic, Instant>,
}

/// What the relay's tasks share with the handle rooms call.
struct Shared {
    id: NodeId,
    prefix: String,
    /// `{prefix}hub:ctl`, built once: every message read is compared with it.
    control: String,
    subs: Mutex<Subscriptions>,
    wake: Notify,
    inbox: OnceLock<RelayInbox>,
    connected: AtomicBool,
    metrics: Arc<Metrics>,
    malformed: AtomicU64,
    linger: Duration,
}

impl Shared {
    fn channel(&self, topic: &Topic) -> String {
        format!("{}hub:t:{topic}", self.prefix)
    }

    fn set_connected(&self, up: bool) {
        self.connected.store(up, Relaxed);
        self.metrics.relay_connected.store(i64::from(up), Relaxed);
    }
}

/// A node's link to the others through Redis.
pub struct RedisRelay {
    shared: Arc<Shared>,
    out: mpsc::Sender<Envelope>,
}

/// A notice on the control channel.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Notice {
    /// The node that sends it.
    o: String,
    /// Events published since then (Unix ms) may not have crossed.
    resync_since: i64,
}

impl RedisRelay {
    /// Starts the relay's tasks on the current runtime; they stop when `shutdown` turns true.
    /// `linger` is how long a topic stays subscribed after its room stopped.
    pub fn start(
        client: redis::Client,
        prefix: String,
        linger: Duration,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> RedisRelay {
        let shared = Arc::new(Shared {
            id: NodeId::random(),
            control: format!("{prefix}hub:ctl"),
            prefix,
            subs: Mutex::default(),
            wake: Notify::new(),
            inbox: OnceLock::new(),
            connected: AtomicBool::new(false),
            metrics,
            malformed: AtomicU64::new(0),
            linger,
        });
        let (out, rx) = mpsc::channel(QUEUE);
        // On the node's main thread, beside the registry they feed.
        actix_web::rt::spawn(publisher(client.clone(), shared.clone(), rx));
        actix_web::rt::spawn(subscriber(client, shared.clone(), shutdown));
        RedisRelay { shared, out }
    }
}

impl Relay for RedisRelay {
    fn attach(&self, inbox: RelayInbox) {
        let _ = self.shared.inbox.set(inbox);
    }

    fn subscribe(&self, topic: &Topic) {
        let mut subs = self.shared.subs.lock().expect("relay lock");
        subs.leaving.remove(topic);
        if subs.wanted.insert(topic.clone()) {
            self.shared.wake.notify_one();
        }
    }

    fn unsubscribe(&self, topic: &Topic) {
        let mut subs = self.shared.subs.lock().expect("relay lock");
        if subs.wanted.remove(topic) {
            subs.leaving
                .insert(topic.clone(), Instant::now() + self.shared.linger);
        }
    }

    fn publish(&self, envelope: Envelope) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.out.try_send(envelope) {
            self.shared.metrics.queue_full("relay");
        }
    }

    fn node(&self) -> NodeId {
        self.shared.id
    }
}

/// Opens a multiplexed connection, giving up after [`CALL_TIMEOUT`].
pub async fn connect(
    client: &redis::Client,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    bounded(client.get_multiplexed_async_connection(), "connect").await
}

fn unix_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Sends queued envelopes, a pipeline at a time, in order. While Redis is away what is queued
/// is dropped (and counted): the database has it, and the catch-up brings it over.
async fn publisher(client: redis::Client, shared: Arc<Shared>, mut rx: mpsc::Receiver<Envelope>) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut retry_at = Instant::now();
    let mut gap_since: Option<i64> = None;
    let mut batch = Vec::with_capacity(PIPELINE);
    while rx.recv_many(&mut batch, PIPELINE).await > 0 {
        let n = batch.len() as u64;
        if conn.is_none() && Instant::now() >= retry_at {
            match connect(&client).await {
                Ok(c) => conn = Some(c),
                Err(_) => retry_at = Instant::now() + Duration::from_millis(500),
            }
        }
        let Some(c) = conn.as_mut() else {
            batch.clear();
            gap_since.get_or_insert_with(unix_ms);
            shared.metrics.relay_errors.fetch_add(n, Relaxed);
            continue;
        };
        let mut pipe = redis::pipe();
        for env in batch.drain(..) {
            pipe.cmd("PUBLISH")
                .arg(shared.channel(&env.topic))
                .arg(envelope::encode(&env))
                .ignore();
        }
        match tokio::time::timeout(CALL_TIMEOUT, pipe.query_async::<()>(c)).await {
            Ok(Ok(())) => {
                shared.metrics.relay_published.fetch_add(n, Relaxed);
                if let Some(since) = gap_since.take() {
                    // What this node published meanwhile never crossed: the others catch up.
                    let notice = Notice {
                        o: shared.id.hex(),
                        resync_since: since - GAP_MARGIN_MS,
                    };
                    let _ = redis::cmd("PUBLISH")
                        .arg(&shared.control)
                        .arg(serde_json::to_string(&notice).expect("plain struct"))
                        .query_async::<()>(c)
                        .await;
                }
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                log::warn!("relay: publishing {n} events failed: {why}");
                shared.metrics.relay_errors.fetch_add(n, Relaxed);
                gap_since.get_or_insert_with(unix_ms);
                conn = None;
            }
        }
    }
}

/// Keeps the subscription connection up for as long as the node runs.
async fn subscriber(
    client: redis::Client,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    // Since when this node may have missed events. Nothing at a start that finds Redis up; a
    // start that does not counts as a gap from then on, since members may join meanwhile.
    let started = unix_ms();
    let mut down_since: Option<i64> = None;
    loop {
        let result = subscription(
            &client,
            &shared,
            &mut shutdown,
            &mut down_since,
            &mut backoff,
        );
        match result.await {
            Ok(()) => return,
            Err(e) => {
                let was_up = shared.connected.swap(false, Relaxed);
                shared.set_connected(false);
                shared.metrics.relay_errors.fetch_add(1, Relaxed);
                if was_up {
                    down_since = Some(unix_ms());
                    log::warn!("relay: lost redis ({e}); serving local members only, reconnecting");
                } else if down_since.is_none() {
                    down_since = Some(started);
                    log::warn!(
                        "relay: redis unreachable at start ({e}); serving local members only"
                    );
                } else {
                    log::debug!("relay: redis still unreachable ({e}); next try in {backoff:?}");
                }
            }
        }
        // Full jitter on the upper half: nodes that lost Redis together do not return together.
        let jitter = rand::random::<f64>() * 0.5 + 0.5;
        tokio::select! {
            _ = tokio::time::sleep(backoff.mul_f64(jitter)) => {}
            _ = shutdown.wait_for(|down| *down) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription connection's life: `Ok` on shutdown, `Err` when the link broke.
async fn subscription(
    client: &redis::Client,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
    down_since: &mut Option<i64>,
    backoff: &mut Duration,
) -> redis::RedisResult<()> {
    let pubsub = bounded(client.get_async_pubsub(), "connect").await?;
    let (mut sink, mut stream) = pubsub.split();
    bounded(sink.subscribe(&shared.control), "subscribe").await?;
    let mut current: HashSet<Topic> = HashSet::new();
    sync(&mut sink, shared, &mut current).await?;
    shared.set_connected(true);
    *backoff = Duration::from_millis(100);
    if let Some(since) = down_since.take() {
        log::info!(
            "relay: redis is back; {} topics subscribed again, catching up",
            current.len()
        );
        let since = since - GAP_MARGIN_MS;
        if let Some(inbox) = shared.inbox.get() {
            let _ = inbox.resync.try_send(Resync { since_ms: since });
        }
        let notice = Notice {
            o: shared.id.hex(),
            resync_since: since,
        };
        let mut conn = connect(client).await?;
        redis::cmd("PUBLISH")
            .arg(&shared.control)
            .arg(serde_json::to_string(&notice).expect("plain struct"))
            .query_async::<()>(&mut conn)
            .await?;
    } else {
        log::info!("relay: subscribed to redis");
    }
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => {
                    last_heard = Instant::now();
                    receive(shared, msg.get_channel_name(), msg.get_payload_bytes());
                }
                None => return Err((redis::ErrorKind::Io, "subscription connection closed").into()),
            },
            _ = shared.wake.notified() => sync(&mut sink, shared, &mut current).await?,
            _ = tick.tick() => {
                sync(&mut sink, shared, &mut current).await?;
                if last_heard.elapsed() > PING_EVERY {
                    bounded(sink.ping::<redis::Value>(), "ping").await?;
                    last_heard = Instant::now();
                }
            }
            _ = shutdown.wait_for(|down| *down) => return Ok(()),
        }
    }
}

/// Brings the connection's subscriptions in line with what rooms want (and what lingers).
async fn sync(
    sink: &mut redis::aio::PubSubSink,
    shared: &Shared,
    current: &mut HashSet<Topic>,
) -> redis::RedisResult<()> {
    let (add, drop): (Vec<Topic>, Vec<Topic>) = {
        let mut subs = shared.subs.lock().expect("relay lock");
        let now = Instant::now();
        subs.leaving.retain(|_, deadline| *deadline > now);
        let keep = |t: &Topic| subs.wanted.contains(t) || subs.leaving.contains_key(t);
        let add = subs
            .wanted
            .iter()
            .filter(|t| !current.contains(*t))
            .cloned()
            .collect();
        let drop = current.iter().filter(|t| !keep(t)).cloned().collect();
        (add, drop)
    };
    if !add.is_empty() {
        let channels = add.iter().map(|t| shared.channel(t)).collect::<Vec<_>>();
        bounded(sink.subscribe(channels), "subscribe").await?;
        current.extend(add);
    }
    if !drop.is_empty() {
        let channels = drop.iter().map(|t| shared.channel(t)).collect::<Vec<_>>();
        bounded(sink.unsubscribe(channels), "unsubscribe").await?;
        for t in &drop {
            current.remove(t);
        }
    }
    shared
        .metrics
        .relay_subscriptions
        .store(current.len() as i64, Relaxed);
    Ok(())
}

/// A Redis call given [`CALL_TIMEOUT`]: past it, the link counts as broken.
async fn bounded<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
    what: &'static str,
) -> redis::RedisResult<T> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, what, "timed out".into())))?
}

/// One message from the subscription connection.
fn receive(shared: &Shared, channel: &str, payload: &[u8]) {
    let Some(inbox) = shared.inbox.get() else {
        return;
    };
    if channel == shared.control {
        match serde_json::from_slice::<Notice>(payload) {
            Ok(notice) if notice.o == shared.id.hex() => {}
            Ok(notice) => {
                log::info!(
                    "relay: node {} was cut off; catching up from {} ms",
                    notice.o,
                    notice.resync_since
                );
                let _ = inbox.resync.try_send(Resync {
                    since_ms: notice.resync_since,
                });
            }
            Err(e) => malformed(shared, "notice", channel, payload, &e.to_string()),
        }
        return;
    }
    match envelope::decode(payload) {
        Ok(env) if env.origin == shared.id => {}
        Ok(env) => {
            if let Err(actix::prelude::SendError::Full(_)) = inbox.envelopes.try_send(env) {
                shared.metrics.queue_full("registry");
            }
        }
        Err(e) => malformed(shared, "envelope", channel, payload, &e.to_string()),
    }
}

/// Counts a payload that is not ours to read; logs the first and then one in a thousand.
fn malformed(shared: &Shared, kind: &str, channel: &str, payload: &[u8], why: &str) {
    shared.metrics.relay_errors.fetch_add(1, Relaxed);
    shared.metrics.labelled(
        "hub_relay_malformed_total",
        "Payloads on relay channels that could not be read, by what was expected.",
        &format!("expected=\"{kind}\""),
    );
    let n = shared.malformed.fetch_add(1, Relaxed);
    if n.is_multiple_of(1000) {
        let shown: String = String::from_utf8_lossy(payload).chars().take(120).collect();
        log::warn!("relay: malformed payload on {channel} ({why}), {n} before it: {shown:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back() {
        let n = Notice {
            o: NodeId(7).hex(),
            resync_since: 1_700_000_000_000,
        };
        let text = serde_json::to_string(&n).unwrap();
        assert_eq!(
            text,
            r#"{"o":"0000000000000007","resync_since":1700000000000}"#
        );
        assert_eq!(serde_json::from_str::<Notice>(&text).unwrap(), n);
    }
}
