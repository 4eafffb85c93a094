//! Per-address rate limits for the login API: new accounts and failed logins per minute.
//!
//! Fixed one-minute windows per IP address (memory: one entry per address seen in the current
//! window; older entries are dropped when the map is swept). Loopback can be exempt, so a
//! developer's load test from the same machine is not throttled.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits of one HTTP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// New accounts per address per minute (0 = unlimited).
    pub signups_per_minute: u32,
    /// Failed logins (wrong password) per address per minute (0 = unlimited).
    pub failed_logins_per_minute: u32,
    /// Loopback addresses are not limited.
    pub exempt_loopback: bool,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self { signups_per_minute: 10, failed_logins_per_minute: 20, exempt_loopback: true }
    }
}

const WINDOW: Duration = Duration::from_secs(60);

/// Counts events per address in one-minute windows.
#[derive(Debug)]
pub struct Limiter {
    per_minute: u32,
    exempt_loopback: bool,
    counts: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    /// A limiter allowing `per_minute` events per address (0 = unlimited).
    pub fn new(per_minute: u32, exempt_loopback: bool) -> Self {
        Self { per_minute, exempt_loopback, counts: Mutex::new(HashMap::new()) }
    }

    /// Seconds until `ip` may try again, or `None` if it may now (the attempt is counted).
    pub fn check(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        if self.per_minute == 0 || (self.exempt_loopback && ip.is_loopback()) {
            return None;
        }
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > 100_000 {
            counts.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = counts.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= self.per_minute {
            let wait = WINDOW.saturating_sub(now.duration_since(entry.0));
            return Some(wait.as_secs().max(1));
        }
        entry.1 += 1;
        None
    }

    /// Whether `ip` is over its limit now, without counting an attempt.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        if self.per_minute == 0 || (self.exempt_loopback && ip.is_loopback()) {
            return None;
        }
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (start, n) = counts.get(&ip)?;
        let age = now.duration_since(*start);
        (age < WINDOW && *n >= self.per_minute).then(|| WINDOW.saturating_sub(age).as_secs().max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_per_window() {
        let l = Limiter::new(2, true);
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let t0 = Instant::now();
        assert_eq!(l.check(a, t0), None);
        assert_eq!(l.check(a, t0), None);
        assert_eq!(l.check(a, t0), Some(60), "the third in a minute waits");
        assert!(l.blocked(a, t0 + Duration::from_secs(30)).is_some());
        assert_eq!(l.check(b, t0), None, "another address has its own count");
        assert_eq!(l.check(a, t0 + WINDOW), None, "a new window");
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        for _ in 0..10 {
            assert_eq!(l.check(local, t0), None, "loopback is exempt");
        }
        let unlimited = Limiter::new(0, false);
        for _ in 0..10 {
            assert_eq!(unlimited.check(a, t0), None);
        }
    }
}
