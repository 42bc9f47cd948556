//! CPU time and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
//!
//! The server's numbers come from its PID (`--server-pid`); the generator reads its own too, so
//! a run shows which side was the limit: a generator near 100 % of its core while the server
//! idles means the number measures the generator, not the server. Several server PIDs (the
//! nodes of a cluster) are summed. Each core's busy time, from `/proc/stat`, covers what no PID
//! names: a Redis or PostgreSQL sharing the server's core.

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

/// The sum of [`sample`] over several processes (the nodes of one cluster); zeros for none.
pub fn sample_all(pids: &[u32]) -> Sample {
    pids.iter()
        .map(|&pid| sample(Some(pid)))
        .fold(Sample::default(), |a, b| Sample {
            ticks: a.ticks + b.ticks,
            rss_kib: a.rss_kib + b.rss_kib,
            hwm_kib: a.hwm_kib + b.hwm_kib,
        })
}

/// Busy and total clock ticks of each core so far, from the `cpuN` lines of `/proc/stat`.
pub fn cores() -> Vec<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    parse_cores(&stat)
}

fn parse_cores(stat: &str) -> Vec<(u64, u64)> {
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            // user nice system idle iowait irq softirq steal (guest time is within user).
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(8)
                .map(|f| f.parse().unwrap_or(0))
                .collect();
            let total: u64 = v.iter().sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// Percent of each core that was busy between two [`cores`] readings.
pub fn cores_busy_pct(start: &[(u64, u64)], end: &[(u64, u64)]) -> Vec<f64> {
    start
        .iter()
        .zip(end)
        .map(|(&(b0, t0), &(b1, t1))| {
            let total = t1.saturating_sub(t0);
            if total == 0 {
                0.0
            } else {
                b1.saturating_sub(b0) as f64 / total as f64 * 100.0
            }
        })
        .collect()
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
        let two = sample_all(&[std::process::id(), std::process::id()]);
        assert!(two.rss_kib >= me.rss_kib && sample_all(&[]).rss_kib == 0);
    }

    #[test]
    fn cores_are_read_from_proc_stat() {
        let stat = "cpu  10 0 10 70 10 0 0 0 0 0\ncpu0 5 0 5 30 0 0 0 0 0 0\n\
                    cpu1 5 0 5 40 10 0 0 0 0 0\nintr 1 2\n";
        assert_eq!(parse_cores(stat), vec![(10, 40), (10, 60)]);
        let later = [(30, 60), (10, 80)];
        assert_eq!(
            cores_busy_pct(&[(10, 40), (10, 60)], &later),
            vec![100.0, 0.0]
        );
        assert!(!cores().is_empty());
    }
}
