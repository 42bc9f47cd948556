//! Webhooks to the app, in Pusher's format: `POST {"time_ms": …, "events": […]}` with
//! `X-Pusher-Key` and `X-Pusher-Signature` (HMAC-SHA256 hex of the body with the secret).
//!
//! Nothing that delivers events waits for the app: [`Webhooks::send`] only `try_send`s into a
//! bounded queue, and a full queue drops the event and counts it
//! (`hub_webhook_events_total{result="dropped"}`). One task per destination takes what is
//! queued, gathers it for up to [`BATCH_WINDOW`] (or [`MAX_BATCH`] events) into one post, and
//! retries a failed post with a doubling backoff before giving the batch up (counted as
//! `failed`). Posts to one destination go one at a time, in order.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// How long the first event of a batch waits for company.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);

/// Most events in one post.
pub const MAX_BATCH: usize = 100;

/// Events waiting for a destination before new ones are dropped.
pub const QUEUE: usize = 10_000;

/// Tries of one post (the first and the retries).
pub const ATTEMPTS: u32 = 5;

/// The wait before the first retry; each next one waits twice as long.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where events go and how they are signed.
#[derive(Debug, Clone)]
pub struct Destination {
    /// The app's endpoint (`http://…`).
    pub url: String,
    /// Sent as `X-Pusher-Key`.
    pub key: String,
    /// Signs each body.
    pub secret: String,
    /// Names the destination in metrics (`app="…"`).
    pub label: String,
}

/// A handle on one destination's queue; cheap to clone.
#[derive(Clone)]
pub struct Webhooks {
    tx: mpsc::Sender<Value>,
    label: Arc<str>,
    metrics: Arc<Metrics>,
}

impl Webhooks {
    /// Starts the task that posts to `to` (on the current actix system).
    pub fn start(to: Destination, metrics: Arc<Metrics>) -> Webhooks {
        Webhooks::with_queue(to, metrics, QUEUE)
    }

    /// [`Webhooks::start`] with a queue of `queue` events.
    fn with_queue(to: Destination, metrics: Arc<Metrics>, queue: usize) -> Webhooks {
        let (tx, rx) = mpsc::channel(queue);
        let label: Arc<str> = to.label.clone().into();
        actix_web::rt::spawn(post_all(to, rx, metrics.clone()));
        Webhooks { tx, label, metrics }
    }

    /// Queues one event object; never waits (a full queue drops it, counted).
    pub fn send(&self, event: Value) {
        if self.tx.try_send(event).is_err() {
            count(&self.metrics, &self.label, "dropped", 1);
        }
    }
}

fn count(metrics: &Metrics, label: &str, result: &str, n: usize) {
    metrics.labelled_n(
        "hub_webhook_events_total",
        "Webhook events by destination and outcome: sent, failed (after every retry) or dropped (queue full).",
        &format!("app=\"{label}\",result=\"{result}\""),
        n as u64,
    );
}

/// `hex(HMAC-SHA256(secret, body))`, the `X-Pusher-Signature` of a body.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn post_all(to: Destination, mut rx: mpsc::Receiver<Value>, metrics: Arc<Metrics>) {
    let client = match reqwest::Client::builder().timeout(POST_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            log::error!("webhooks to {}: no HTTP client: {e}", to.label);
            return;
        }
    };
    while let Some(first) = rx.recv().await {
        let mut events = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while events.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(event)) => events.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        let n = events.len();
        let body = json!({
            "time_ms": chrono::Utc::now().timestamp_millis(),
            "events": events,
        })
        .to_string();
        let sent = post(&client, &to, body).await;
        count(&metrics, &to.label, if sent { "sent" } else { "failed" }, n);
    }
}

/// Posts one body, retrying with backoff; true once the app answered 2xx.
async fn post(client: &reqwest::Client, to: &Destination, body: String) -> bool {
    let signature = signature(&to.secret, body.as_bytes());
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let result = client
            .post(&to.url)
            .header("Content-Type", "application/json")
            .header("X-Pusher-Key", &to.key)
            .header("X-Pusher-Signature", &signature)
            .body(body.clone())
            .send()
            .await;
        let why = match result {
            Ok(resp) if resp.status().is_success() => return true,
            Ok(resp) => format!("status {}", resp.status()),
            Err(e) => e.to_string(),
        };
        log::warn!(
            "webhook to {} failed (attempt {attempt} of {ATTEMPTS}): {why}",
            to.label
        );
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An app that accepts connections and never answers: posts hang until their timeout, the
    /// queue fills, and what does not fit is dropped and counted, at once.
    #[actix_web::test]
    async fn a_stuck_app_costs_dropped_events_never_a_wait() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to = Destination {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            key: "k".into(),
            secret: "s".into(),
            label: "stuck".into(),
        };
        let metrics = Arc::new(Metrics::default());
        let hooks = Webhooks::with_queue(to, metrics.clone(), 4);
        // Let the task take its first batch and hang on posting it.
        hooks.send(json!({"name": "first"}));
        tokio::time::sleep(BATCH_WINDOW * 3).await;
        let started = std::time::Instant::now();
        for n in 0..10 {
            hooks.send(json!({ "n": n }));
        }
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "sending waited"
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"hub_webhook_events_total{app="stuck",result="dropped"} 6"#),
            "{text}"
        );
        drop(listener);
    }

    #[test]
    fn signatures_are_hmac_sha256_hex_of_the_body() {
        // Computed independently: printf '{"time_ms":1,"events":[]}' | openssl dgst -sha256 -hmac s
        assert_eq!(
            signature("s", br#"{"time_ms":1,"events":[]}"#),
            "619d06bec1444c40801d1897fe55526f3dc3207ad8b38e0518a3800593a79669"
        );
    }
}
