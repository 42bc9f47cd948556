//! Per-connection and per-client limits: connection quotas held as permits that give their
//! slot back when the connection ends, and the per-connection message rate.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::ApiError;

/// Counts of open connections per key; entries vanish at zero so the map never only grows.
struct Counter<K> {
    counts: Mutex<HashMap<K, usize>>,
    max: usize,
}

impl<K: Hash + Eq + Clone> Counter<K> {
    fn try_take(&self, key: &K) -> bool {
        let mut counts = self.counts.lock().expect("limits lock");
        let n = counts.entry(key.clone()).or_default();
        if *n >= self.max {
            if *n == 0 {
                counts.remove(key);
            }
            return false;
        }
        *n += 1;
        true
    }

    fn give_back(&self, key: &K) {
        let mut counts = self.counts.lock().expect("limits lock");
        if let Some(n) = counts.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(key);
            }
        }
    }
}

/// Connection quotas per user and per client address (`HUB_MAX_CONN_PER_USER`, `_PER_IP`).
pub struct ConnLimits {
    /// Keyed by presence key (the user id as text), so users of every dialect count alike.
    per_user: Counter<Arc<str>>,
    per_ip: Counter<IpAddr>,
}

/// A connection's place in the quotas; dropping it frees the place.
pub struct ConnPermit {
    limits: Arc<ConnLimits>,
    user: Option<Arc<str>>,
    ip: Option<IpAddr>,
}

impl ConnLimits {
    /// Quotas of `max_user` connections per user and `max_ip` per address.
    pub fn new(max_user: usize, max_ip: usize) -> ConnLimits {
        ConnLimits {
            per_user: Counter {
                counts: Mutex::default(),
                max: max_user,
            },
            per_ip: Counter {
                counts: Mutex::default(),
                max: max_ip,
            },
        }
    }

    /// Takes a place for a connection, or refuses with 429.
    pub fn acquire(
        self: &Arc<Self>,
        user: Option<Arc<str>>,
        ip: Option<IpAddr>,
    ) -> Result<ConnPermit, ApiError> {
        if let Some(ip) = ip {
            if !self.per_ip.try_take(&ip) {
                return Err(ApiError::TooMany(
                    "too many connections from this address".into(),
                ));
            }
        }
        let mut permit = ConnPermit {
            limits: self.clone(),
            user: None,
            ip,
        };
        if let Some(user) = user {
            // On refusal the permit drops here and gives the address's place back.
            permit.take_user(user)?;
        }
        Ok(permit)
    }
}

impl ConnPermit {
    /// Takes a place in `user`'s quota for a connection that authenticated after it opened;
    /// 429 when the user has no place left. A permit holds at most one user's place: a
    /// second call is refused.
    pub fn take_user(&mut self, user: Arc<str>) -> Result<(), ApiError> {
        if self.user.is_some() || !self.limits.per_user.try_take(&user) {
            return Err(ApiError::TooMany(
                "too many connections for this user".into(),
            ));
        }
        self.user = Some(user);
        Ok(())
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        if let Some(ip) = &self.ip {
            self.limits.per_ip.give_back(ip);
        }
        if let Some(user) = &self.user {
            self.limits.per_user.give_back(user);
        }
    }
}

/// What the rate limiter says about one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Within the rate: handle it.
    Allow,
    /// Over the rate: refuse it with an error frame, keep the connection.
    Refuse,
    /// Far over the rate (twice it within one second): close with 4101.
    Close,
}

/// Messages per one-second window for one connection.
#[derive(Debug)]
pub struct RateWindow {
    limit: u32,
    started: Instant,
    count: u32,
}

impl RateWindow {
    /// A limiter allowing `limit` messages per second.
    pub fn new(limit: u32) -> RateWindow {
        RateWindow {
            limit,
            started: Instant::now(),
            count: 0,
        }
    }

    /// Counts a message arriving at `now`.
    pub fn hit(&mut self, now: Instant) -> RateVerdict {
        if now.duration_since(self.started) >= Duration::from_secs(1) {
            self.started = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        if self.count <= self.limit {
            RateVerdict::Allow
        } else if self.count <= self.limit.saturating_mul(2) {
            RateVerdict::Refuse
        } else {
            RateVerdict::Close
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_free_their_place_and_maps_shrink() {
        let limits = Arc::new(ConnLimits::new(2, 3));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = limits.acquire(Some("1".into()), Some(ip)).unwrap();
        let _b = limits.acquire(Some("1".into()), Some(ip)).unwrap();
        assert!(limits.acquire(Some("1".into()), Some(ip)).is_err());
        let _c = limits.acquire(Some("2".into()), Some(ip)).unwrap();
        assert!(limits.acquire(Some("3".into()), Some(ip)).is_err());
        drop(a);
        assert!(limits.acquire(Some("1".into()), Some(ip)).is_ok());
        drop((_b, _c));
        assert!(limits.per_ip.counts.lock().unwrap().is_empty());
        assert!(limits.per_user.counts.lock().unwrap().is_empty());
    }

    #[test]
    fn a_connection_takes_its_user_place_when_it_authenticates() {
        let limits = Arc::new(ConnLimits::new(1, 5));
        let mut first = limits.acquire(None, None).unwrap();
        first.take_user("u".into()).unwrap();
        assert!(first.take_user("v".into()).is_err(), "one user per permit");
        let mut second = limits.acquire(None, None).unwrap();
        assert!(second.take_user("u".into()).is_err(), "u is at its quota");
        drop(first);
        second.take_user("u".into()).unwrap();
    }

    #[test]
    fn rate_window_refuses_then_closes_then_resets() {
        let mut w = RateWindow::new(2);
        let t = Instant::now();
        let verdicts: Vec<_> = (0..5).map(|_| w.hit(t)).collect();
        use RateVerdict::*;
        assert_eq!(verdicts, vec![Allow, Allow, Refuse, Refuse, Close]);
        assert_eq!(w.hit(t + Duration::from_millis(1001)), Allow);
    }
}
