//! Counters the hub keeps about itself, rendered as Prometheus text at `/metrics`.
//!
//! Hot-path counters are relaxed atomics (one add per delivery); labelled counters that change
//! only on connect, disconnect or failure sit behind a mutex.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the delivery latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// One labelled counter's values: label text → count.
type Series = BTreeMap<String, u64>;

/// Every counter `/metrics` shows. One instance per server, shared by `Arc`.
#[derive(Default)]
pub struct Metrics {
    /// Open WebSocket connections by dialect.
    connections: Mutex<BTreeMap<&'static str, i64>>,
    /// Connections ever accepted.
    pub connections_total: AtomicU64,
    /// Live room actors.
    pub rooms: AtomicI64,
    /// Frames received from clients.
    pub messages_in: AtomicU64,
    /// Events published into rooms.
    pub messages_out: AtomicU64,
    /// Events handed to a member's session (one per recipient).
    pub deliveries: AtomicU64,
    /// Members evicted because their outbound queue was full.
    pub slow_consumer_evictions: AtomicU64,
    /// Connections closed because no pong came within the timeout.
    pub heartbeat_timeouts: AtomicU64,
    /// Connections closed for sending too fast.
    pub rate_limited: AtomicU64,
    /// Events sent to other nodes.
    pub relay_published: AtomicU64,
    /// Events received from other nodes.
    pub relay_received: AtomicU64,
    /// Relay failures (publish or subscribe errors, malformed envelopes, refused hand-offs).
    pub relay_errors: AtomicU64,
    /// 1 while the relay's link to the other nodes is up (always 1 for the in-process relay).
    pub relay_connected: AtomicI64,
    /// Topics this node is subscribed to in Redis.
    pub relay_subscriptions: AtomicI64,
    /// Refused handshakes by reason.
    handshake_failures: Mutex<BTreeMap<&'static str, u64>>,
    /// Dialect counters with one label set each: (name, help) → label text → count.
    labelled: Mutex<BTreeMap<(&'static str, &'static str), Series>>,
    /// Delivery latency histogram (one delivery in 16 per connection is sampled): counts per
    /// bucket (plus one for +Inf), sum in microseconds.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Counts a connection opening (`delta` 1) or closing (`delta` -1) for a dialect.
    pub fn connection(&self, dialect: &'static str, delta: i64) {
        if delta > 0 {
            self.connections_total.fetch_add(1, Relaxed);
        }
        *self
            .connections
            .lock()
            .expect("metrics lock")
            .entry(dialect)
            .or_default() += delta;
    }

    /// Open connections across all dialects.
    pub fn open_connections(&self) -> i64 {
        self.connections
            .lock()
            .expect("metrics lock")
            .values()
            .sum()
    }

    /// Counts a refused handshake.
    pub fn handshake_failure(&self, reason: &'static str) {
        *self
            .handshake_failures
            .lock()
            .expect("metrics lock")
            .entry(reason)
            .or_default() += 1;
    }

    /// Counts one event of a labelled counter a dialect owns, e.g.
    /// `labelled("hub_broadcast_ingress_total", "Back-end messages.", "source=\"redis\",result=\"ok\"")`.
    /// For rare events (ingress, failures), not per delivery.
    pub fn labelled(&self, name: &'static str, help: &'static str, labels: &str) {
        self.labelled_n(name, help, labels, 1);
    }

    /// Counts `n` events of a labelled counter at once (a batch), under one lock.
    pub fn labelled_n(&self, name: &'static str, help: &'static str, labels: &str, n: u64) {
        *self
            .labelled
            .lock()
            .expect("metrics lock")
            .entry((name, help))
            .or_default()
            .entry(labels.to_string())
            .or_default() += n;
    }

    /// Counts an event refused by a full queue (`queue` names it: `registry`, `relay`, …).
    pub fn queue_full(&self, queue: &'static str) {
        self.labelled(
            "hub_queue_full_total",
            "Events refused because a bounded queue was full, by queue.",
            &format!("queue=\"{queue}\""),
        );
    }

    /// Records how long an event took from entering the hub to being written to a socket.
    pub fn observe_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let idx = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_buckets[idx].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    /// The Prometheus text exposition of every counter.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut line = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{value}");
        };
        let conns = self.connections.lock().expect("metrics lock").clone();
        let by_dialect: String = conns
            .iter()
            .map(|(d, n)| format!("hub_connections{{dialect=\"{d}\"}} {n}\n"))
            .collect();
        line(
            "hub_connections",
            "gauge",
            "Open WebSocket connections by dialect.",
            by_dialect.trim_end().to_string(),
        );
        let counters: [(&str, &str, &AtomicU64); 10] = [
            (
                // Not `hub_connections_total`: under OpenMetrics that would be the counter
                // family `hub_connections`, the gauge's name.
                "hub_connections_opened_total",
                "WebSocket connections accepted.",
                &self.connections_total,
            ),
            (
                "hub_messages_in_total",
                "Frames received from clients.",
                &self.messages_in,
            ),
            (
                "hub_messages_out_total",
                "Events published into rooms.",
                &self.messages_out,
            ),
            (
                "hub_deliveries_total",
                "Events handed to member sessions.",
                &self.deliveries,
            ),
            (
                "hub_slow_consumer_evictions_total",
                "Members evicted for a full outbound queue.",
                &self.slow_consumer_evictions,
            ),
            (
                "hub_heartbeat_timeouts_total",
                "Connections closed for a missing pong.",
                &self.heartbeat_timeouts,
            ),
            (
                "hub_rate_limited_total",
                "Connections closed for sending too fast.",
                &self.rate_limited,
            ),
            (
                "hub_relay_published_total",
                "Events published to other nodes.",
                &self.relay_published,
            ),
            (
                "hub_relay_received_total",
                "Events received from other nodes.",
                &self.relay_received,
            ),
            (
                "hub_relay_errors_total",
                "Relay failures.",
                &self.relay_errors,
            ),
        ];
        for (name, help, v) in counters {
            line(name, "counter", help, format!("{name} {}", v.load(Relaxed)));
        }
        line(
            "hub_rooms",
            "gauge",
            "Live rooms on this node.",
            format!("hub_rooms {}", self.rooms.load(Relaxed)),
        );
        line(
            "hub_relay_connected",
            "gauge",
            "1 while the relay's link to the other nodes is up.",
            format!("hub_relay_connected {}", self.relay_connected.load(Relaxed)),
        );
        line(
            "hub_relay_subscriptions",
            "gauge",
            "Topics this node receives from other nodes through Redis.",
            format!(
                "hub_relay_subscriptions {}",
                self.relay_subscriptions.load(Relaxed)
            ),
        );
        let failures = self
            .handshake_failures
            .lock()
            .expect("metrics lock")
            .clone();
        let failures: String = failures
            .iter()
            .map(|(r, n)| format!("hub_handshake_failures_total{{reason=\"{r}\"}} {n}\n"))
            .collect();
        line(
            "hub_handshake_failures_total",
            "counter",
            "Refused WebSocket handshakes by reason.",
            failures.trim_end().to_string(),
        );
        let labelled = self.labelled.lock().expect("metrics lock").clone();
        for ((name, help), series) in &labelled {
            let values: String = series
                .iter()
                .map(|(labels, n)| format!("{name}{{{labels}}} {n}\n"))
                .collect();
            line(name, "counter", help, values.trim_end().to_string());
        }
        let mut hist = String::new();
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Relaxed);
            let _ = writeln!(
                hist,
                "hub_delivery_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.latency_buckets[LATENCY_BUCKETS.len()].load(Relaxed);
        let _ = writeln!(
            hist,
            "hub_delivery_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.latency_sum_us.load(Relaxed) as f64 / 1e6;
        let _ = write!(hist, "hub_delivery_latency_seconds_sum {sum}\nhub_delivery_latency_seconds_count {cumulative}");
        line(
            "hub_delivery_latency_seconds",
            "histogram",
            "Time from publish to the socket queue, sampled: one delivery in 16 per connection.",
            hist,
        );
        line(
            "hub_build_info",
            "gauge",
            "The running build: always 1, with its version as a label.",
            format!(
                "hub_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            ),
        );
        process_metrics(&mut line);
        out
    }
}

/// The standard `process_*` metrics, from `/proc/self` (Linux; elsewhere none).
fn process_metrics(line: &mut impl FnMut(&str, &str, &str, String)) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name (which may hold spaces), numbered as in proc(5) from 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf reads a constant of the system; it has no side effects.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        line(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            format!("process_cpu_seconds_total {}", (utime + stime) / ticks),
        );
    }
    if let Some(rss) = field(24) {
        line(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            format!("process_resident_memory_bytes {}", rss * page),
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        line(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            format!("process_open_fds {}", fds.count()),
        );
    }
    let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())
    });
    if let (Some(boot), Some(start)) = (boot, field(22)) {
        line(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
            format!("process_start_time_seconds {}", boot + start / ticks),
        );
    }
}

/// Reads one unlabelled counter back out of rendered text (tests and the benchmark use it).
pub fn scrape(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_histogram() {
        let m = Metrics::default();
        m.connection("chat", 1);
        m.connection("chat", 1);
        m.connection("chat", -1);
        m.deliveries.fetch_add(5, Relaxed);
        m.handshake_failure("unauthorized");
        m.observe_latency(Duration::from_micros(300));
        m.observe_latency(Duration::from_secs(3));
        m.labelled("hub_x_total", "X.", "result=\"ok\"");
        m.labelled("hub_x_total", "X.", "result=\"ok\"");
        let text = m.render();
        assert!(text.contains("# TYPE hub_x_total counter\nhub_x_total{result=\"ok\"} 2\n"));
        assert!(text.contains("hub_connections{dialect=\"chat\"} 1\n"));
        assert_eq!(scrape(&text, "hub_deliveries_total"), Some(5.0));
        assert_eq!(scrape(&text, "hub_connections_opened_total"), Some(2.0));
        assert!(text.contains("hub_build_info{version=\""));
        assert!(scrape(&text, "process_resident_memory_bytes").is_some_and(|b| b > 0.0));
        assert!(text.contains("hub_handshake_failures_total{reason=\"unauthorized\"} 1"));
        assert!(text.contains("hub_delivery_latency_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("hub_delivery_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
    }
}
