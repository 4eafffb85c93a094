//! Logging of rejected traffic that an attacker cannot flood: per reason, at most one line per
//! [`LOG_INTERVAL`], which says how many more of that reason were not logged since the last
//! line. Counting is the metrics' job; this only keeps the log readable and bounded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Shortest time between two log lines of one reason.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Per-reason log throttle.
#[derive(Debug, Default)]
pub struct LogLimit {
    /// Per reason: when it was last logged and how many were not logged since.
    reasons: BTreeMap<&'static str, (Instant, u64)>,
}

impl LogLimit {
    /// Whether to log one more of `reason` now; `Some(n)` with the number suppressed since the
    /// last line of that reason, `None` to stay quiet (it is counted).
    pub fn admit(&mut self, reason: &'static str, now: Instant) -> Option<u64> {
        match self.reasons.get_mut(reason) {
            Some((last, suppressed)) if now.duration_since(*last) < LOG_INTERVAL => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                *last = now;
                Some(std::mem::take(suppressed))
            }
            None => {
                self.reasons.insert(reason, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval_with_the_count_it_hid() {
        let mut l = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(l.admit("a", t0), Some(0));
        assert_eq!(l.admit("b", t0), Some(0), "reasons are throttled separately");
        for _ in 0..1000 {
            assert_eq!(l.admit("a", t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(l.admit("a", t0 + LOG_INTERVAL), Some(1000));
        assert_eq!(l.admit("a", t0 + LOG_INTERVAL + Duration::from_secs(1)), None);
        assert_eq!(l.admit("a", t0 + LOG_INTERVAL * 2), Some(1));
    }
}
