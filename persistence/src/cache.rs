//! The Redis cache: login hydration profiles, the power leaderboard and the market ticker.
//!
//! Everything in Redis is derived data: the database is the durable store, so Redis can be
//! wiped (or lost) at any time without losing anything. Keys, all under a configurable prefix
//! (empty by default):
//!
//! - `{prefix}player:profile:{player_id}`: a [`PlayerProfile`] as JSON, with a TTL (24 h by
//!   default) refreshed on every hit. It holds the argon2id PHC hash of the password (never the
//!   password itself).
//! - `{prefix}player:name:{username}`: the player id of `username` (decimal), same TTL.
//! - `{prefix}leaderboard:power`: sorted set, member = empire id (decimal), score = power.
//! - `{prefix}market:ticker`: the pub/sub channel of market ticker messages (JSON).
//!
//! Every operation is bounded by the response timeout (250 ms by default), including the
//! wait for a connection while Redis is down or reconnecting, so a dead or stalled Redis
//! costs a caller at most that long and never hangs it. The connection reconnects by itself
//! (redis' `ConnectionManager`) once Redis is back.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::RedisError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::db::redact_url;

/// The environment variable holding the Redis URL (`redis://[:password@]host:port[/db]`).
pub const REDIS_URL_ENV: &str = "REDIS_URL";

/// How long cached profiles live without being used, by default: 24 h.
pub const DEFAULT_PROFILE_TTL: Duration = Duration::from_secs(86_400);

/// How long one cache operation may take by default, waiting for a connection included.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);

/// How long one attempt to open a connection may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A login's lookup in one round trip (a hit used to take two, one per key): `GETEX` of the
/// name index (`KEYS[1]`), then `GETEX` of the profile key it names (`ARGV[2]` followed by the
/// id), both with the TTL `ARGV[1]`. Replies nil if the name is not cached, else the id and the
/// profile JSON (nil if that key is missing, or not read if the id is not a canonical
/// decimal); the caller checks both. The profile key is built
/// inside the script, which a standalone Redis (what the connection is) allows; a Redis Cluster
/// would need both keys in one slot. Sent as `EVALSHA`, loaded on first use.
static LOOKUP_BY_NAME: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        "local id = redis.call('GETEX', KEYS[1], 'EX', ARGV[1])\n\
         if not id then return false end\n\
         if not (id == '0' or string.match(id, '^[1-9]%d*$')) then return {id, false} end\n\
         return {id, redis.call('GETEX', ARGV[2] .. id, 'EX', ARGV[1])}",
    )
});

/// What a login needs of a player, as cached in Redis (JSON, readable by operators).
///
/// `password_hash` is the argon2id PHC string of the password, never the password itself.
/// `Debug` leaves the hash out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerProfile {
    /// The player's id (the raw id of their empire).
    pub player_id: u64,
    /// The login name, exact (case-sensitive).
    pub username: String,
    /// The argon2id PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
}

impl fmt::Debug for PlayerProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlayerProfile")
            .field("player_id", &self.player_id)
            .field("username", &self.username)
            .field("password_hash", &"<argon2 hash>")
            .finish()
    }
}

/// Settings of a [`RedisCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// Lifetime of cached profiles, renewed on every hit (whole seconds, at least 1 s).
    pub profile_ttl: Duration,
    /// Longest time one operation may take, waiting for a (re)connection included.
    pub response_timeout: Duration,
    /// Longest time one connection attempt may take.
    pub connect_timeout: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            profile_ttl: DEFAULT_PROFILE_TTL,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// What went wrong with Redis. Messages say which operation failed; URLs have their password
/// hidden.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The Redis URL could not be parsed.
    #[error("bad Redis URL {url}: {reason}")]
    BadUrl {
        /// The URL, password hidden.
        url: String,
        /// The parser's message.
        reason: String,
    },
    /// No answer within the timeout (Redis stalled, unreachable or still reconnecting): the
    /// response timeout for operations, the connect timeout for [`RedisCache::connect`].
    #[error("Redis: {what}: no answer within {after:?}")]
    Timeout {
        /// The operation.
        what: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// Redis (or the connection to it) failed.
    #[error("Redis: {what} failed: {reason}")]
    Redis {
        /// The operation.
        what: String,
        /// The client's or server's message.
        reason: String,
    },
    /// A key held something this server did not write (not JSON, wrong shape, wrong id).
    #[error("Redis: key {key} holds unexpected data: {reason}")]
    Corrupt {
        /// The key (prefix included).
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// A leaderboard score was NaN (Redis rejects it); nothing was written.
    #[error("Redis: leaderboard score of empire {empire_id} is NaN")]
    InvalidScore {
        /// The empire whose score was NaN.
        empire_id: u64,
    },
}

impl CacheError {
    /// True for [`CacheError::Corrupt`]: Redis answered, but with data to overwrite.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, CacheError::Corrupt { .. })
    }

    /// A failed redis call, for `map_err`; redis' own timeouts (`limit`) become
    /// [`CacheError::Timeout`].
    fn redis(what: &str, limit: Duration) -> impl FnOnce(RedisError) -> CacheError + '_ {
        move |error| {
            if error.is_timeout() {
                CacheError::Timeout { what: what.to_owned(), after: limit }
            } else {
                CacheError::Redis { what: what.to_owned(), reason: error.to_string() }
            }
        }
    }
}

/// A connection to Redis (cheap to clone: clones share one multiplexed connection).
#[derive(Clone)]
pub struct RedisCache {
    conn: ConnectionManager,
    prefix: String,
    options: CacheOptions,
    /// The URL with any password hidden, for messages.
    location: String,
}

impl fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisCache")
            .field("location", &self.location)
            .field("prefix", &self.prefix)
            .field("options", &self.options)
            .finish()
    }
}

impl RedisCache {
    /// Connects to `url` with the default [`CacheOptions`] and checks Redis answers a `PING`
    /// within the connect timeout; see [`RedisCache::connect_with`].
    pub async fn connect(url: &str, key_prefix: &str) -> Result<RedisCache, CacheError> {
        Self::connect_with(url, key_prefix, CacheOptions::default()).await
    }

    /// [`RedisCache::open`], then a `PING` that must answer within `options.connect_timeout`
    /// (error otherwise). Use [`RedisCache::open`] to start without Redis.
    pub async fn connect_with(url: &str, key_prefix: &str, options: CacheOptions) -> Result<RedisCache, CacheError> {
        let cache = Self::open(url, key_prefix, options)?;
        cache.ping_within(options.connect_timeout).await?;
        Ok(cache)
    }

    /// A cache for `url` that connects lazily: fails only for a bad URL, never because Redis
    /// is down (operations then fail with a timeout or connection error until it is back).
    /// Must be called within a tokio runtime (an error otherwise).
    pub fn open(url: &str, key_prefix: &str, options: CacheOptions) -> Result<RedisCache, CacheError> {
        let location = redact_url(url);
        let bad_url = |reason: String| CacheError::BadUrl { url: location.clone(), reason };
        let client = redis::Client::open(url).map_err(|e| bad_url(e.to_string()))?;
        if tokio::runtime::Handle::try_current().is_err() {
            // The connection manager spawns its tasks on the current runtime.
            return Err(CacheError::Redis {
                what: format!("opening {location}"),
                reason: "not called within a tokio runtime".to_owned(),
            });
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            // Few, quick retries: callers give up after the response timeout anyway, and a
            // failed attempt is retried on the next operation.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(|e| bad_url(e.to_string()))?;
        Ok(RedisCache { conn, prefix: key_prefix.to_owned(), options, location })
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// The settings.
    pub fn options(&self) -> CacheOptions {
        self.options
    }

    /// The URL, password hidden.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Checks Redis answers a `PING` within the response timeout.
    pub async fn ping(&self) -> Result<(), CacheError> {
        self.ping_within(self.options.response_timeout).await
    }

    async fn ping_within(&self, limit: Duration) -> Result<(), CacheError> {
        let what = format!("PING {}", self.location);
        let mut conn = self.conn.clone();
        bounded(&what, limit, async { redis::cmd("PING").query_async::<String>(&mut conn).await }).await.map(drop)
    }

    /// `{prefix}player:profile:{player_id}`.
    pub fn profile_key(&self, player_id: u64) -> String {
        format!("{}player:profile:{player_id}", self.prefix)
    }

    /// `{prefix}player:profile:` (what [`Self::profile_key`] puts before the id).
    fn profile_key_prefix(&self) -> String {
        format!("{}player:profile:", self.prefix)
    }

    /// `{prefix}player:name:{username}`.
    pub fn name_key(&self, username: &str) -> String {
        format!("{}player:name:{username}", self.prefix)
    }

    /// `{prefix}leaderboard:power`.
    pub fn leaderboard_key(&self) -> String {
        format!("{}leaderboard:power", self.prefix)
    }

    /// `{prefix}market:ticker`.
    pub fn ticker_channel(&self) -> String {
        format!("{}market:ticker", self.prefix)
    }

    /// The TTL in whole seconds (at least 1; Redis rejects `EX 0`).
    fn ttl_secs(&self) -> u64 {
        self.options.profile_ttl.as_secs().max(1)
    }

    /// Maps a failed redis call about `what`.
    fn failed<'a>(&self, what: &'a str) -> impl FnOnce(RedisError) -> CacheError + 'a {
        CacheError::redis(what, self.options.response_timeout)
    }

    /// Runs `op` within the response timeout.
    async fn run<T>(&self, what: &str, op: impl Future<Output = Result<T, CacheError>>) -> Result<T, CacheError> {
        let limit = self.options.response_timeout;
        tokio::time::timeout(limit, op)
            .await
            .unwrap_or_else(|_| Err(CacheError::Timeout { what: what.to_owned(), after: limit }))
    }

    /// The cached profile of `username`, following the name index to the profile in one round
    /// trip ([`LOOKUP_BY_NAME`]); both keys' TTLs are renewed (`GETEX … EX`). `Ok(None)` if
    /// either key is missing;
    /// [`CacheError::Corrupt`] if a key holds something else than what [`Self::put_profile`]
    /// writes (callers treat that as a miss and overwrite it).
    pub async fn get_profile_by_name(&self, username: &str) -> Result<Option<PlayerProfile>, CacheError> {
        let name_key = self.name_key(username);
        let ttl = self.ttl_secs();
        let mut conn = self.conn.clone();
        let what = format!("looking up {name_key}");
        self.run(&what, async {
            let found: Option<(String, Option<String>)> = LOOKUP_BY_NAME
                .key(&name_key)
                .arg(ttl)
                .arg(self.profile_key_prefix())
                .invoke_async(&mut conn)
                .await
                .map_err(self.failed(&what))?;
            let Some((id, json)) = found else { return Ok(None) };
            // What `put_profile` writes: the id in decimal, nothing else ("07" and "+7" parse,
            // but the script did not read the profile under those).
            let player_id =
                id.parse::<u64>().ok().filter(|p| p.to_string() == id).ok_or_else(|| CacheError::Corrupt {
                    key: name_key.clone(),
                    reason: format!("{:?} is not a player id", truncated(&id)),
                })?;
            let profile_key = self.profile_key(player_id);
            let Some(json) = json else { return Ok(None) };
            let profile: PlayerProfile = serde_json::from_str(&json)
                .map_err(|e| CacheError::Corrupt { key: profile_key.clone(), reason: format!("not a profile: {e}") })?;
            if profile.player_id != player_id || profile.username != username {
                return Err(CacheError::Corrupt {
                    key: profile_key,
                    reason: format!(
                        "holds player {} {:?}, expected player {player_id} {username:?}",
                        profile.player_id, profile.username
                    ),
                });
            }
            Ok(Some(profile))
        })
        .await
    }

    /// Writes the profile and its name index, both with the profile TTL, in one transaction.
    pub async fn put_profile(&self, profile: &PlayerProfile) -> Result<(), CacheError> {
        let profile_key = self.profile_key(profile.player_id);
        let name_key = self.name_key(&profile.username);
        let what = format!("writing {profile_key} and {name_key}");
        let json = serde_json::to_string(profile)
            .map_err(|e| CacheError::Redis { what: what.clone(), reason: format!("encoding JSON: {e}") })?;
        let ttl = self.ttl_secs();
        let mut conn = self.conn.clone();
        self.run(&what, async {
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&profile_key)
                .arg(json)
                .arg("EX")
                .arg(ttl)
                .ignore()
                .cmd("SET")
                .arg(&name_key)
                .arg(profile.player_id)
                .arg("EX")
                .arg(ttl)
                .ignore()
                .exec_async(&mut conn)
                .await
                .map_err(self.failed(&what))
        })
        .await
    }

    /// Removes the cached profile of `player_id` and the name index of `username`.
    pub async fn delete_profile(&self, player_id: u64, username: &str) -> Result<(), CacheError> {
        let keys = [self.profile_key(player_id), self.name_key(username)];
        let what = format!("deleting {} and {}", keys[0], keys[1]);
        let mut conn = self.conn.clone();
        self.run(&what, async { redis::cmd("DEL").arg(&keys).exec_async(&mut conn).await.map_err(self.failed(&what)) })
            .await
    }

    /// Sets the power of each `(empire_id, power)` in the leaderboard (one `ZADD`; existing
    /// members are updated). An empty slice does nothing. A NaN power is refused
    /// ([`CacheError::InvalidScore`]) before anything is written; infinities are stored.
    pub async fn update_leaderboard(&self, entries: &[(u64, f64)]) -> Result<(), CacheError> {
        if entries.is_empty() {
            return Ok(());
        }
        if let Some(&(empire_id, _)) = entries.iter().find(|(_, power)| power.is_nan()) {
            return Err(CacheError::InvalidScore { empire_id });
        }
        let key = self.leaderboard_key();
        let what = format!("ZADD {key} ({} members)", entries.len());
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(&key);
        for &(empire_id, power) in entries {
            zadd.arg(power).arg(empire_id);
        }
        let mut conn = self.conn.clone();
        self.run(&what, async { zadd.exec_async(&mut conn).await.map_err(self.failed(&what)) }).await
    }

    /// The `n` most powerful empires, most powerful first: `(empire_id, power)`. Equal powers
    /// are ordered by Redis (members in reverse lexicographic order).
    pub async fn leaderboard_top(&self, n: usize) -> Result<Vec<(u64, f64)>, CacheError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let key = self.leaderboard_key();
        let stop = isize::try_from(n - 1).unwrap_or(isize::MAX);
        let what = format!("ZREVRANGE {key} 0 {stop}");
        let mut conn = self.conn.clone();
        let rows: Vec<(String, f64)> = self
            .run(&what, async {
                redis::cmd("ZREVRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(stop)
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await
                    .map_err(self.failed(&what))
            })
            .await?;
        rows.into_iter()
            .map(|(member, power)| match member.parse::<u64>() {
                Ok(id) => Ok((id, power)),
                Err(_) => Err(CacheError::Corrupt {
                    key: key.clone(),
                    reason: format!("member {:?} is not an empire id", truncated(&member)),
                }),
            })
            .collect()
    }

    /// Removes empires from the leaderboard (ids that are not in it are ignored).
    pub async fn leaderboard_remove(&self, empire_ids: &[u64]) -> Result<(), CacheError> {
        if empire_ids.is_empty() {
            return Ok(());
        }
        let key = self.leaderboard_key();
        let what = format!("ZREM {key} ({} members)", empire_ids.len());
        let mut conn = self.conn.clone();
        self.run(&what, async {
            redis::cmd("ZREM").arg(&key).arg(empire_ids).exec_async(&mut conn).await.map_err(self.failed(&what))
        })
        .await
    }

    /// Publishes one market ticker message (JSON text) on `{prefix}market:ticker`; returns how
    /// many subscribers received it.
    pub async fn publish_ticker(&self, json: &str) -> Result<usize, CacheError> {
        let channel = self.ticker_channel();
        let what = format!("PUBLISH {channel}");
        let mut conn = self.conn.clone();
        self.run(&what, async {
            redis::cmd("PUBLISH").arg(&channel).arg(json).query_async(&mut conn).await.map_err(self.failed(&what))
        })
        .await
    }
}

/// `op` within `limit`, its redis error or a timeout as a [`CacheError`].
async fn bounded<T>(
    what: &str,
    limit: Duration,
    op: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, CacheError> {
    match tokio::time::timeout(limit, op).await {
        Ok(result) => result.map_err(CacheError::redis(what, limit)),
        Err(_) => Err(CacheError::Timeout { what: what.to_owned(), after: limit }),
    }
}

/// At most the first 64 characters of `text`, for messages about unexpected data.
fn truncated(text: &str) -> &str {
    text.char_indices().nth(64).map_or(text, |(end, _)| &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_hash() {
        let profile = PlayerProfile { player_id: 7, username: "ada".into(), password_hash: "$argon2id$secret".into() };
        let debug = format!("{profile:?}");
        assert!(debug.contains("ada") && !debug.contains("secret"), "{debug}");
    }

    #[test]
    fn profiles_are_readable_json() {
        let profile = PlayerProfile { player_id: 7, username: "ada".into(), password_hash: "$argon2id$h".into() };
        let json = serde_json::to_string(&profile).expect("encode");
        assert_eq!(json, r#"{"player_id":7,"username":"ada","password_hash":"$argon2id$h"}"#);
        assert_eq!(serde_json::from_str::<PlayerProfile>(&json).expect("decode"), profile);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncated("abc"), "abc");
        let long = "é".repeat(100);
        assert_eq!(truncated(&long).chars().count(), 64);
    }

    #[tokio::test]
    async fn bad_urls_are_errors_with_the_password_hidden() {
        let error = RedisCache::open("http://:hunter2@host/", "", CacheOptions::default()).expect_err("not redis");
        assert!(matches!(error, CacheError::BadUrl { .. }), "{error:?}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error = RedisCache::open("not a url", "", CacheOptions::default()).expect_err("not a URL");
        assert!(matches!(error, CacheError::BadUrl { .. }), "{error:?}");
    }

    #[test]
    fn opening_outside_a_runtime_is_an_error() {
        let error = RedisCache::open("redis://127.0.0.1:1", "", CacheOptions::default()).expect_err("no runtime");
        assert!(error.to_string().contains("tokio runtime"), "{error}");
    }

    #[tokio::test]
    async fn keys_carry_the_prefix() {
        let cache = RedisCache::open("redis://127.0.0.1:1", "t1:", CacheOptions::default()).expect("lazy");
        assert_eq!(cache.profile_key(7), "t1:player:profile:7");
        assert_eq!(cache.name_key("ada"), "t1:player:name:ada");
        assert_eq!(cache.leaderboard_key(), "t1:leaderboard:power");
        assert_eq!(cache.ticker_channel(), "t1:market:ticker");
        let bare = RedisCache::open("redis://127.0.0.1:1", "", CacheOptions::default()).expect("lazy");
        assert_eq!(bare.profile_key(7), "player:profile:7");
    }
}
