//! Login hydration: player profiles from Redis when cached, from the database otherwise.
//!
//! The database is the durable store; Redis ([`RedisCache`]) holds copies. A lookup asks
//! Redis first (a hit renews the TTL), and on a miss asks the database and writes the answer
//! back to Redis. When Redis fails, is slow (beyond its response timeout) or holds garbage,
//! the database answers: the failure is counted in [`CacheStats`] and logged (at most one
//! warning per [`WARN_INTERVAL`]), never returned to the caller. So Redis can be wiped, or
//! be down, at any time without losing anything or failing a login.
//!
//! A stalled Redis would make every login wait for the response timeout (250 ms) before the
//! database answers. After [`BreakerOptions::trip_after`] consecutive failures the breaker
//! opens: lookups go straight to the database (counted as bypassed) for
//! [`BreakerOptions::open_for`]; then one lookup tries Redis again, which closes the breaker if
//! it answers and reopens it if not.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::accounts::AccountError;
use crate::cache::{CacheError, PlayerProfile, RedisCache};
use crate::db::{Db, DbError};

/// At most one warning about Redis failures per this interval (the rest are counted).
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// When the login cache stops asking a failing Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerOptions {
    /// Consecutive Redis failures (errors or timeouts) that open the breaker.
    pub trip_after: u32,
    /// How long lookups skip Redis once it is open.
    pub open_for: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions { trip_after: 3, open_for: Duration::from_secs(5) }
    }
}

/// Counters of the profile cache, for metrics (monotonic, relaxed atomics).
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    writebacks: AtomicU64,
    bypassed: AtomicU64,
}

/// A copy of the [`CacheStats`] counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Lookups answered by Redis.
    pub hits: u64,
    /// Lookups Redis did not have (the database answered).
    pub misses: u64,
    /// Redis failures: errors, timeouts, unexpected data in a key, failed writes. The
    /// database answered the lookups concerned.
    pub errors: u64,
    /// Profiles written to Redis after a miss (or unexpected data) or a new account.
    pub writebacks: u64,
    /// Lookups and writes that skipped Redis because the breaker was open (Redis failing).
    pub bypassed: u64,
}

impl CacheStats {
    /// The counters now.
    pub fn snapshot(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            writebacks: self.writebacks.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
        }
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Player profiles: the database, with Redis in front of it when configured.
#[derive(Debug)]
pub struct Profiles {
    db: Db,
    cache: Option<RedisCache>,
    stats: Arc<CacheStats>,
    warnings: WarnLimiter,
    breaker: Breaker,
}

impl Profiles {
    /// Profiles in `db`, cached in `cache` if `Some`.
    pub fn new(db: Db, cache: Option<RedisCache>) -> Self {
        Self::with_breaker(db, cache, BreakerOptions::default())
    }

    /// Like [`Profiles::new`], with the breaker's settings.
    pub fn with_breaker(db: Db, cache: Option<RedisCache>, breaker: BreakerOptions) -> Self {
        Self {
            db,
            cache,
            stats: Arc::default(),
            warnings: WarnLimiter::new(WARN_INTERVAL),
            breaker: Breaker::new(breaker),
        }
    }

    /// The cache, unless the breaker says to skip it now (then counted as bypassed).
    fn usable_cache(&self) -> Option<&RedisCache> {
        let cache = self.cache.as_ref()?;
        if self.breaker.allow(Instant::now()) {
            Some(cache)
        } else {
            CacheStats::count(&self.stats.bypassed);
            None
        }
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The Redis cache, if configured.
    pub fn cache(&self) -> Option<&RedisCache> {
        self.cache.as_ref()
    }

    /// The cache counters (shared: hand a clone to the metrics).
    pub fn stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    /// The profile of the account with exactly this username, if any.
    ///
    /// Redis first; on a miss (or unexpected data in Redis) the database, and the answer is
    /// written back to Redis. A Redis error or timeout is counted and logged and the database
    /// answers; only a database failure is an error.
    pub async fn lookup(&self, username: &str) -> Result<Option<PlayerProfile>, DbError> {
        let mut write_back = false;
        if let Some(cache) = self.usable_cache() {
            match cache.get_profile_by_name(username).await {
                Ok(Some(profile)) => {
                    self.breaker.succeeded();
                    CacheStats::count(&self.stats.hits);
                    return Ok(Some(profile));
                }
                Ok(None) => {
                    self.breaker.succeeded();
                    CacheStats::count(&self.stats.misses);
                    write_back = true;
                }
                Err(error) => {
                    // Unexpected data is overwritten with the database's answer; after a
                    // failure or timeout, a write would most likely fail too.
                    write_back = error.is_corrupt();
                    self.cache_failed("Redis lookup failed; the database answers", &error);
                }
            }
        }
        let Some((player_id, password_hash)) = self.db.get_account(username).await? else { return Ok(None) };
        let profile = PlayerProfile { player_id, username: username.to_owned(), password_hash };
        if write_back {
            self.write_to_cache(&profile).await;
        }
        Ok(Some(profile))
    }

    /// Stores a new account in the database (the durable store), then in Redis. Fails as
    /// [`Db::insert_account`] does ([`AccountError::UsernameTaken`], ...); a failure to write
    /// to Redis is only counted and logged.
    pub async fn create(&self, profile: &PlayerProfile) -> Result<(), AccountError> {
        self.db.insert_account(profile.player_id, &profile.username, &profile.password_hash).await?;
        self.write_to_cache(profile).await;
        Ok(())
    }

    /// Writes `profile` to Redis, if configured; failures are counted and logged.
    async fn write_to_cache(&self, profile: &PlayerProfile) {
        let Some(cache) = self.usable_cache() else { return };
        match cache.put_profile(profile).await {
            Ok(()) => {
                self.breaker.succeeded();
                CacheStats::count(&self.stats.writebacks);
            }
            Err(error) => self.cache_failed("writing a profile to Redis failed", &error),
        }
    }

    fn cache_failed(&self, message: &str, error: &CacheError) {
        CacheStats::count(&self.stats.errors);
        // Unexpected data is Redis answering: not a reason to stop asking it.
        if !error.is_corrupt() && self.breaker.failed(Instant::now()) {
            tracing::warn!(
                "Redis failed {} times in a row: logins skip it for {:?}, then try it again",
                self.breaker.options.trip_after,
                self.breaker.options.open_for
            );
        }
        if let Some(suppressed) = self.warnings.allow(Instant::now()) {
            tracing::warn!(%error, suppressed, "{message}");
        }
    }
}

/// Stops asking Redis after consecutive failures, for a while (see the module docs).
#[derive(Debug)]
struct Breaker {
    options: BreakerOptions,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    /// Consecutive failures.
    failures: u32,
    /// While open: no call goes to Redis until then; the first call after it is a trial,
    /// which moves it one open period further (so a trial whose answer never comes, e.g. a
    /// cancelled login, only delays the next trial).
    open_until: Option<Instant>,
}

impl Breaker {
    fn new(options: BreakerOptions) -> Self {
        Self { options, state: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go to Redis at `now`.
    fn allow(&self, now: Instant) -> bool {
        let mut s = self.lock();
        match s.open_until {
            None => true,
            Some(until) if now < until => false,
            Some(_) => {
                s.open_until = Some(now + self.options.open_for);
                true
            }
        }
    }

    /// Redis answered: closed again.
    fn succeeded(&self) {
        *self.lock() = BreakerState::default();
    }

    /// Redis failed at `now`; `true` if this opened the breaker (from closed).
    fn failed(&self, now: Instant) -> bool {
        let mut s = self.lock();
        s.failures = s.failures.saturating_add(1);
        let was_open = s.open_until.is_some();
        if was_open || s.failures >= self.options.trip_after.max(1) {
            s.open_until = Some(now + self.options.open_for);
        }
        !was_open && s.open_until.is_some()
    }
}

/// Lets one warning through per interval and counts the others.
#[derive(Debug)]
struct WarnLimiter {
    interval: Duration,
    state: Mutex<WarnState>,
}

#[derive(Debug, Default)]
struct WarnState {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    fn new(interval: Duration) -> Self {
        Self { interval, state: Mutex::default() }
    }

    /// `Some(number of warnings suppressed since the last one)` if a warning may be logged at
    /// `now`; `None` (and counted) otherwise.
    fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.last.is_some_and(|last| now.saturating_duration_since(last) < self.interval) {
            state.suppressed += 1;
            return None;
        }
        state.last = Some(now);
        Some(std::mem::take(&mut state.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_consecutive_failures_and_tries_again_after_a_while() {
        let b = Breaker::new(BreakerOptions { trip_after: 3, open_for: Duration::from_secs(5) });
        let t0 = Instant::now();
        assert!(b.allow(t0));
        assert!(!b.failed(t0));
        assert!(!b.failed(t0));
        b.succeeded();
        // A success resets the count: two more failures do not open it.
        assert!(!b.failed(t0));
        assert!(!b.failed(t0));
        assert!(b.allow(t0));
        assert!(b.failed(t0), "the third in a row opens it");
        assert!(!b.allow(t0 + Duration::from_secs(1)), "open: skip Redis");
        assert!(!b.allow(t0 + Duration::from_millis(4999)));
        let t1 = t0 + Duration::from_secs(5);
        assert!(b.allow(t1), "after the open period one trial goes to Redis");
        assert!(!b.allow(t1), "only one trial at a time");
        assert!(!b.failed(t1), "a failed trial reopens it (no new warning)");
        assert!(!b.allow(t1 + Duration::from_secs(4)));
        let t2 = t1 + Duration::from_secs(5);
        assert!(b.allow(t2));
        b.succeeded();
        assert!(b.allow(t2) && b.allow(t2), "a successful trial closes it");
        // A trial whose answer never comes (the login was cancelled) does not keep it open.
        for _ in 0..3 {
            b.failed(t2);
        }
        let t3 = t2 + Duration::from_secs(5);
        assert!(b.allow(t3), "trial");
        assert!(!b.allow(t3 + Duration::from_secs(1)));
        assert!(b.allow(t3 + Duration::from_secs(5)), "another trial one open period later");
    }

    #[test]
    fn one_warning_per_interval() {
        let limiter = WarnLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limiter.allow(t0), Some(0));
        assert_eq!(limiter.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(10)), Some(2), "reports the two suppressed");
        assert_eq!(limiter.allow(t0 + Duration::from_secs(11)), None);
        // A clock that seems to go backwards (another thread's earlier `now`) is not a panic.
        assert_eq!(limiter.allow(t0), None);
    }
}
