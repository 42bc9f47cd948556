//! Results: latency percentiles, rates, and the server's CPU and memory from /proc.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency histogram in microseconds (1 µs to 10 min, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// CPU ticks and memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime, in clock ticks (100 per second on Linux).
    pub ticks: u64,
    /// Resident set, KiB.
    pub rss_kib: u64,
    /// Peak resident set, KiB.
    pub hwm_kib: u64,
}

/// Reads /proc/<pid>; zeros when there is no such process.
pub fn sample(pid: Option<u32>) -> ProcSample {
    let Some(pid) = pid else {
        return ProcSample::default();
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    ProcSample {
        ticks: tick(11) + tick(12),
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    }
}

/// One workload's result, printed as a table and as one JSON line.
#[derive(Debug, Serialize, Default)]
pub struct Report {
    /// Workload name.
    pub workload: String,
    /// Server name.
    pub peer: String,
    /// Connections opened.
    pub connections: usize,
    /// Connections opened per second.
    pub connect_per_s: f64,
    /// Messages published.
    pub messages: u64,
    /// Deliveries expected (messages × recipients).
    pub expected: u64,
    /// Deliveries received.
    pub deliveries: u64,
    /// Fraction not received within the bound.
    pub loss: f64,
    /// Deliveries per second, from the first send to the last delivery.
    pub deliveries_per_s: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest latency.
    pub max_ms: f64,
    /// Server CPU use during the run, percent of one core.
    pub server_cpu_pct: f64,
    /// Server resident memory at the end, KiB.
    pub server_rss_kib: u64,
    /// Server peak resident memory, KiB.
    pub server_peak_rss_kib: u64,
    /// Resident memory per connection (idle workload), KiB.
    pub rss_per_conn_kib: f64,
    /// Connections the server refused or failed to open.
    pub failed_connections: usize,
    /// Seconds the measured phase took.
    pub seconds: f64,
    /// Whether the run hit its time bound before everything arrived.
    pub timed_out: bool,
}

impl Report {
    /// Fills the latency fields from a histogram of microseconds.
    pub fn latencies(&mut self, h: &Histogram<u64>) {
        let ms = |v: u64| v as f64 / 1000.0;
        if h.is_empty() {
            return;
        }
        self.p50_ms = ms(h.value_at_quantile(0.5));
        self.p90_ms = ms(h.value_at_quantile(0.9));
        self.p99_ms = ms(h.value_at_quantile(0.99));
        self.p999_ms = ms(h.value_at_quantile(0.999));
        self.max_ms = ms(h.max());
    }

    /// Fills CPU and memory from samples taken at the start and end of `elapsed`.
    pub fn server(&mut self, start: ProcSample, end: ProcSample, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        self.server_cpu_pct = (end.ticks.saturating_sub(start.ticks)) as f64 / 100.0 / secs * 100.0;
        self.server_rss_kib = end.rss_kib;
        self.server_peak_rss_kib = end.hwm_kib;
    }

    /// The human table (stderr) and the JSON line (stdout).
    pub fn print(&self) {
        eprintln!("┌ {} on {}", self.workload, self.peer);
        eprintln!(
            "│ connections {:>8}   connect/s {:>10.0}   failed {}",
            self.connections, self.connect_per_s, self.failed_connections
        );
        eprintln!(
            "│ messages    {:>8}   deliveries {:>9} of {} (loss {:.2}%)",
            self.messages,
            self.deliveries,
            self.expected,
            self.loss * 100.0
        );
        eprintln!(
            "│ deliveries/s {:>12.0}   in {:.2} s{}",
            self.deliveries_per_s,
            self.seconds,
            if self.timed_out {
                " (time bound hit)"
            } else {
                ""
            }
        );
        eprintln!(
            "│ latency ms  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms
        );
        eprintln!(
            "└ server cpu {:.0}%  rss {} KiB  rss/conn {:.1} KiB",
            self.server_cpu_pct, self.server_rss_kib, self.rss_per_conn_kib
        );
        println!(
            "{}",
            serde_json::to_string(self).expect("report serializes")
        );
    }
}
