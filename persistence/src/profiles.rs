//! Login hydration: player profiles from Redis when cached, from the database otherwise.
//!
//! The database is the durable store; Redis ([`RedisCache`]) holds copies. A lookup asks
//! Redis first (a hit renews the TTL), and on a miss asks the database and writes the answer
//! back to Redis. When Redis fails, is slow (beyond its response timeout) or holds garbage,
//! the database answers: the failure is counted in [`CacheStats`] and logged (at most one
//! warning per [`WARN_INTERVAL`]), never returned to the caller. So Redis can be wiped, or
//! be down, at any time without losing anything or failing a login.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::accounts::AccountError;
use crate::cache::{CacheError, PlayerProfile, RedisCache};
use crate::db::{Db, DbError};

/// At most one warning about Redis failures per this interval (the rest are counted).
pub const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Counters of the profile cache, for metrics (monotonic, relaxed atomics).
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    writebacks: AtomicU64,
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
}

impl CacheStats {
    /// The counters now.
    pub fn snapshot(&self) -> CacheCounts {
        CacheCounts {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            writebacks: self.writebacks.load(Ordering::Relaxed),
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
}

impl Profiles {
    /// Profiles in `db`, cached in `cache` if `Some`.
    pub fn new(db: Db, cache: Option<RedisCache>) -> Self {
        Self { db, cache, stats: Arc::default(), warnings: WarnLimiter::new(WARN_INTERVAL) }
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
        if let Some(cache) = &self.cache {
            match cache.get_profile_by_name(username).await {
                Ok(Some(profile)) => {
                    CacheStats::count(&self.stats.hits);
                    return Ok(Some(profile));
                }
                Ok(None) => {
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
        let Some(cache) = &self.cache else { return };
        match cache.put_profile(profile).await {
            Ok(()) => CacheStats::count(&self.stats.writebacks),
            Err(error) => self.cache_failed("writing a profile to Redis failed", &error),
        }
    }

    fn cache_failed(&self, message: &str, error: &CacheError) {
        CacheStats::count(&self.stats.errors);
        if let Some(suppressed) = self.warnings.allow(Instant::now()) {
            tracing::warn!(%error, suppressed, "{message}");
        }
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
