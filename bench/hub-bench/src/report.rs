//! Results: latency percentiles, rates, loss, and both processes' CPU and memory; printed as a
//! table for people and one JSON line (the last line on stdout) for `scripts/bench.sh`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procfs::{self, Sample};

/// Latencies of every delivery, shared by all receiving tasks.
///
/// One histogram behind a lock, fed a batch at a time (one lock per socket read, not per
/// frame), instead of one histogram per connection: at 3 significant digits a histogram is
/// ~150 KiB, and a thousand of them would cost the generator memory and cache for nothing.
pub struct Latencies(Mutex<Histogram<u64>>);

impl Default for Latencies {
    fn default() -> Self {
        // 1 µs to 10 min: every bound in this tool is shorter.
        Self(Mutex::new(
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
        ))
    }
}

impl Latencies {
    /// One histogram holding everything in `parts`.
    pub fn merged(parts: &[&Latencies]) -> Latencies {
        let all = Latencies::default();
        {
            let mut h = all.0.lock().expect("histogram lock");
            for part in parts {
                // Same bounds on both sides: adding cannot fail.
                let _ = h.add(&*part.0.lock().expect("histogram lock"));
            }
        }
        all
    }

    /// Records `now - sent` for each send time, in microseconds.
    pub fn record(&self, now_nanos: u64, sent: &[u64]) {
        let mut h = self.0.lock().expect("histogram lock");
        for &s in sent {
            h.saturating_record(now_nanos.saturating_sub(s) / 1000);
        }
    }

    /// Records what a receiver collected from one read as arrived now, counts it into
    /// `delivered` and empties `sent`; how many there were.
    pub fn arrived(&self, sent: &mut Vec<u64>, delivered: &AtomicU64) -> u64 {
        let n = sent.len() as u64;
        if n > 0 {
            self.record(crate::stamp::now_nanos(), sent);
            delivered.fetch_add(n, Relaxed);
            sent.clear();
        }
        n
    }
}

/// Microseconds as milliseconds.
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Samples of the server (every node of it) and of the generator at the start of the measured
/// phase.
pub struct Clock {
    pids: Vec<u32>,
    started: Instant,
    /// One per server PID.
    server: Vec<Sample>,
    generator: Sample,
    cores: Vec<(u64, u64)>,
}

impl Clock {
    /// Starts the measured phase; `pids` are the server's processes (none: no server columns).
    pub fn start(pids: &[u32]) -> Self {
        Self {
            pids: pids.to_vec(),
            started: Instant::now(),
            server: pids.iter().map(|&p| procfs::sample(Some(p))).collect(),
            generator: procfs::sample(None),
            cores: procfs::cores(),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Fills the report's CPU, memory and duration fields at the end of the measured phase:
    /// the server's are summed over its PIDs.
    pub fn stop(&self, report: &mut Report) {
        let elapsed = self.started.elapsed();
        let server: Vec<Sample> = self.pids.iter().map(|&p| procfs::sample(Some(p))).collect();
        let generator = procfs::sample(None);
        report.seconds = elapsed.as_secs_f64();
        report.server_cpu_pct_each = self
            .server
            .iter()
            .zip(&server)
            .map(|(&a, &b)| procfs::cpu_pct(a, b, elapsed))
            .collect();
        report.server_cpu_pct = report.server_cpu_pct_each.iter().sum();
        report.generator_cpu_pct = procfs::cpu_pct(self.generator, generator, elapsed);
        report.server_rss_kib = server.iter().map(|s| s.rss_kib).sum();
        report.server_peak_rss_kib = server.iter().map(|s| s.hwm_kib).sum();
        report.cores_busy_pct = procfs::cores_busy_pct(&self.cores, &procfs::cores());
    }
}

/// One workload's result, printed as a table and as one JSON line.
#[derive(Debug, Serialize, Default)]
pub struct Report {
    /// Workload, with its sizes.
    pub workload: String,
    /// Server name, as given by `--peer`.
    pub peer: String,
    /// Connections opened.
    pub connections: usize,
    /// Connections the server refused or that failed to open within the bound.
    pub failed_connections: usize,
    /// Connections opened per second (handshakes done, concurrently).
    pub connect_per_s: f64,
    /// Messages the workload meant to send.
    pub planned_messages: u64,
    /// Messages sent before the time bound.
    pub messages: u64,
    /// Deliveries expected for the messages sent (messages × recipients).
    pub expected: u64,
    /// Deliveries received before the bound.
    pub deliveries: u64,
    /// Expected deliveries not received before the bound.
    pub lost: u64,
    /// Fraction of expected deliveries not received before the bound.
    pub loss: f64,
    /// Servers (nodes) the connections were spread over.
    pub nodes: usize,
    /// With several nodes: deliveries expected to cross from a publisher's node to a
    /// subscriber on another (included in `expected`).
    pub relayed_expected: u64,
    /// Of those, received (included in `deliveries`).
    pub relayed_deliveries: u64,
    /// Median latency of deliveries that crossed nodes, milliseconds.
    pub relayed_p50_ms: f64,
    /// 99th percentile latency of deliveries that crossed nodes, milliseconds.
    pub relayed_p99_ms: f64,
    /// Median latency of deliveries on the publisher's own node, milliseconds.
    pub local_p50_ms: f64,
    /// 99th percentile latency of deliveries on the publisher's own node, milliseconds.
    pub local_p99_ms: f64,
    /// Deliveries per second, from the first send to the last delivery.
    pub deliveries_per_s: f64,
    /// Median send-to-receive latency, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile latency, milliseconds.
    pub p90_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile latency, milliseconds.
    pub p999_ms: f64,
    /// Largest latency, milliseconds.
    pub max_ms: f64,
    /// Server CPU during the measured phase, percent of one core (summed over its nodes).
    pub server_cpu_pct: f64,
    /// The same for each server PID, in the order given.
    pub server_cpu_pct_each: Vec<f64>,
    /// Generator CPU during the measured phase, percent of one core (near 100: the generator
    /// may have been the limit).
    pub generator_cpu_pct: f64,
    /// Percent of each core of the machine that was busy during the measured phase, whatever
    /// ran on it (with the server pinned to one core: its Redis and database too).
    pub cores_busy_pct: Vec<f64>,
    /// Server resident memory at the end, KiB (summed over its nodes).
    pub server_rss_kib: u64,
    /// Server peak resident memory, KiB (the sum of each node's peak).
    pub server_peak_rss_kib: u64,
    /// Server resident memory added per open connection (idle workload), KiB.
    pub rss_per_conn_kib: f64,
    /// Seconds the measured phase took.
    pub seconds: f64,
    /// Whether the run hit its time bound before everything arrived.
    pub timed_out: bool,
    /// Deliveries per second of server CPU (all its nodes): what one core of it can carry,
    /// whether or not the run kept that core busy.
    pub deliveries_per_cpu_s: f64,
    /// As fast as possible only: whether the server kept its core(s) at least
    /// [`SATURATED_PCT`] busy. When not, the round trip or the generator set the rate, and
    /// deliveries/s say little about the server: add publishers or widen the window.
    pub saturated: Option<bool>,
}

/// Server CPU, percent of each of its cores, above which an as-fast-as-possible run measured
/// the server rather than the round trip.
pub const SATURATED_PCT: f64 = 95.0;

impl Report {
    /// Fills the latency fields from a histogram of microseconds.
    pub fn latencies(&mut self, latencies: &Latencies) {
        let h = latencies.0.lock().expect("histogram lock");
        if h.is_empty() {
            return;
        }
        self.p50_ms = ms(h.value_at_quantile(0.5));
        self.p90_ms = ms(h.value_at_quantile(0.9));
        self.p99_ms = ms(h.value_at_quantile(0.99));
        self.p999_ms = ms(h.value_at_quantile(0.999));
        self.max_ms = ms(h.max());
    }

    /// Fills the relayed and local fields of a run over several nodes.
    pub fn split(&mut self, local: &Latencies, relayed: &Latencies, expected: u64, got: u64) {
        let quantiles = |l: &Latencies| {
            let h = l.0.lock().expect("histogram lock");
            if h.is_empty() {
                (0.0, 0.0)
            } else {
                (ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)))
            }
        };
        (self.local_p50_ms, self.local_p99_ms) = quantiles(local);
        (self.relayed_p50_ms, self.relayed_p99_ms) = quantiles(relayed);
        self.relayed_expected = expected;
        self.relayed_deliveries = got;
    }

    /// Fills `expected`, `deliveries`, `lost` and `loss`.
    pub fn deliveries(&mut self, expected: u64, delivered: u64) {
        self.expected = expected;
        self.deliveries = delivered;
        self.lost = expected.saturating_sub(delivered);
        self.loss = if expected == 0 {
            0.0
        } else {
            1.0 - (delivered.min(expected) as f64 / expected as f64)
        };
    }

    /// Fills the CPU-per-delivery and saturation fields, once CPU and deliveries are in; `afap`
    /// says the run sent as fast as possible (no fixed rate).
    pub fn efficiency(&mut self, afap: bool) {
        let cpu_s = self.server_cpu_pct / 100.0 * self.seconds;
        self.deliveries_per_cpu_s = if cpu_s > 0.0 {
            self.deliveries as f64 / cpu_s
        } else {
            0.0
        };
        let cores = self.server_cpu_pct_each.len().max(1) as f64;
        self.saturated = afap.then_some(self.server_cpu_pct >= SATURATED_PCT * cores);
    }

    /// The table, then the JSON line, on stdout.
    pub fn print(&self) {
        println!("┌ {} — {}", self.workload, self.peer);
        println!(
            "│ connections  {:>9}   connect/s {:>9.0}   failed {}",
            self.connections, self.connect_per_s, self.failed_connections
        );
        if self.planned_messages > 0 {
            println!(
                "│ messages     {:>9}   of {} planned",
                self.messages, self.planned_messages
            );
            println!(
                "│ deliveries   {:>9}   of {} expected (loss {:.2}%)",
                self.deliveries,
                self.expected,
                self.loss * 100.0
            );
            println!(
                "│ deliveries/s {:>9.0}   over {:.2} s{}",
                self.deliveries_per_s,
                self.seconds,
                if self.timed_out {
                    "  (time bound hit)"
                } else {
                    ""
                }
            );
            println!(
                "│ latency ms   p50 {:.2}   p90 {:.2}   p99 {:.2}   p99.9 {:.2}   max {:.2}",
                self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms
            );
            if self.nodes > 1 {
                println!(
                    "│ {} nodes      relayed {} of {}: p50 {:.2} p99 {:.2}   local: p50 {:.2} p99 {:.2}",
                    self.nodes,
                    self.relayed_deliveries,
                    self.relayed_expected,
                    self.relayed_p50_ms,
                    self.relayed_p99_ms,
                    self.local_p50_ms,
                    self.local_p99_ms
                );
            }
        } else {
            println!("│ rss/conn     {:>9.1} KiB", self.rss_per_conn_kib);
        }
        let each = if self.server_cpu_pct_each.len() > 1 {
            let parts: Vec<String> = self
                .server_cpu_pct_each
                .iter()
                .map(|c| format!("{c:.0}%"))
                .collect();
            format!(" ({})", parts.join(" + "))
        } else {
            String::new()
        };
        let cores: Vec<String> = self
            .cores_busy_pct
            .iter()
            .map(|c| format!("{c:.0}%"))
            .collect();
        if self.deliveries_per_cpu_s > 0.0 {
            println!(
                "│ per server CPU-second {:.0} deliveries{}",
                self.deliveries_per_cpu_s,
                match self.saturated {
                    Some(false) => format!(
                        "   NOT SATURATED (server under {SATURATED_PCT:.0}% of its core: add \
                         publishers or widen the window)"
                    ),
                    _ => String::new(),
                }
            );
        }
        println!(
            "└ server cpu {:.0}%{each}  rss {} KiB (peak {})   generator cpu {:.0}%   cores busy {}",
            self.server_cpu_pct,
            self.server_rss_kib,
            self.server_peak_rss_kib,
            self.generator_cpu_pct,
            cores.join(" ")
        );
        println!(
            "{}",
            serde_json::to_string(self).expect("report serializes")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_per_delivery_and_saturation() {
        let mut r = Report {
            deliveries: 1_000,
            seconds: 2.0,
            server_cpu_pct: 50.0,
            server_cpu_pct_each: vec![50.0],
            ..Report::default()
        };
        r.efficiency(true);
        assert_eq!(
            (r.deliveries_per_cpu_s, r.saturated),
            (1_000.0, Some(false))
        );
        r.server_cpu_pct = 96.0;
        r.efficiency(true);
        assert_eq!(r.saturated, Some(true));
        // Two nodes: saturated only when both cores are.
        r.server_cpu_pct_each = vec![96.0, 60.0];
        r.server_cpu_pct = 156.0;
        r.efficiency(true);
        assert_eq!(r.saturated, Some(false));
        // At a fixed rate saturation is not the question.
        r.efficiency(false);
        assert_eq!(r.saturated, None);
    }
}
