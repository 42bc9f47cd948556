//! Giving memory back to the operating system after load.
//!
//! glibc's allocator keeps what was freed in its per-thread arenas for reuse, so a node that
//! carried thousands of connections keeps their memory resident long after they left: rooms,
//! sessions and frames are freed on the worker and room threads, and those arenas shrink only
//! from their top. [`trim_after_load`] counts the connections that closed since the last trim
//! and, once they are a tenth of those open (and at least a hundred), asks the allocator to
//! return every free page (`malloc_trim`). Trimming walks the arenas (milliseconds for hundreds
//! of megabytes) and runs at most once per period, so even a node under steady churn pays
//! nothing measurable; on other allocators it is not compiled in.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::Metrics;

/// How often the connection count is looked at.
const PERIOD: Duration = Duration::from_secs(5);

/// Fewest closed connections worth a trim.
const MIN_CLOSED: u64 = 100;

/// Trims after load until shutdown. Spawned once per node.
pub async fn trim_after_load(metrics: Arc<Metrics>, mut shutdown: watch::Receiver<bool>) {
    let closed = || {
        let open = metrics.open_connections().max(0) as u64;
        let total = metrics
            .connections_total
            .load(std::sync::atomic::Ordering::Relaxed);
        (total.saturating_sub(open), open)
    };
    let mut closed_at_trim = closed().0;
    let mut interval = tokio::time::interval(PERIOD);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.wait_for(|down| *down) => return,
        }
        let (closed_now, open) = closed();
        if closed_now - closed_at_trim >= MIN_CLOSED.max(open / 10) {
            trim();
            closed_at_trim = closed_now;
        }
    }
}

/// Returns free memory to the system, where the allocator can.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of glibc's own heap; it touches no memory
    // the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}
