//! CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
//!
//! The server's numbers come from its PID (`--server-pid`); the generator reads its own too, so
//! a run shows which side was the limit: a generator near 100 % of its core while the server
//! idles means the number measures the generator, not the server.

use std::time::Duration;

/// Clock ticks per second of `utime`/`stime` (USER_HZ, 100 on every Linux this runs on).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time and memory of a process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// utime + stime, in clock ticks.
    pub ticks: u64,
    /// Resident set, KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set so far, KiB (`VmHWM`).
    pub hwm_kib: u64,
}

/// Reads `/proc/<pid>` (`None`: this process); zeros when there is no such process, so a
/// missing PID costs the report its server columns, not the run.
pub fn sample(pid: Option<u32>) -> Sample {
    let dir = pid.map_or_else(|| "/proc/self".to_string(), |p| format!("/proc/{p}"));
    let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
    // After the parenthesised command name (which may hold spaces), utime and stime are the
    // 12th and 13th fields (the 14th and 15th of the whole line).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("{dir}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Sample {
        ticks: tick(11) + tick(12),
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
    }
}

/// CPU used between two samples, percent of one core over `elapsed`.
pub fn cpu_pct(start: Sample, end: Sample, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64().max(1e-9);
    end.ticks.saturating_sub(start.ticks) as f64 / TICKS_PER_SEC / secs * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let me = sample(None);
        assert!(me.rss_kib > 0 && me.hwm_kib >= me.rss_kib);
        assert_eq!(sample(Some(u32::MAX)).rss_kib, 0);
        let later = Sample {
            ticks: me.ticks + 50,
            ..me
        };
        assert!((cpu_pct(me, later, Duration::from_secs(1)) - 50.0).abs() < 1e-9);
    }
}
