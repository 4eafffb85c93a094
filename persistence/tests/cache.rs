//! The Redis cache and login hydration against real services: Redis on 127.0.0.1:6379 (each
//! test under its own random key prefix, whose keys are deleted afterwards), Postgres on
//! 127.0.0.1:5432 (a fresh database per test, dropped afterwards) and SQLite temporary files.
//! Outages are simulated with local sockets: a closed port (Redis down) and the shared test
//! `Proxy` (`tests/src/services.rs`), stalled (accepts connections, never answers) or cut.
//!
//! When Redis or Postgres is not reachable, the tests needing it print "skipped: ..." and pass,
//! unless `STARFORGE_REQUIRE_SERVICES=1`, which makes them fail.

use std::time::Duration;

use futures_util::StreamExt;
use starforge_persistence::{
    AccountError, BreakerOptions, CacheCounts, CacheError, CacheOptions, Db, DbTarget, PlayerProfile, Profiles,
    RedisCache,
};

#[path = "../../tests/src/services.rs"]
mod services;
use services::{PATIENCE, Proxy, TestPg, TestRedis, TestSqlite, closed_port};

fn profile(player_id: u64, username: &str) -> PlayerProfile {
    PlayerProfile {
        player_id,
        username: username.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt{player_id}$hash"),
    }
}

async fn migrated(target: &DbTarget) -> Db {
    let db = Db::connect(target).await.expect("connect");
    db.migrate().await.expect("migrate");
    db
}

#[tokio::test]
async fn a_hit_renews_the_ttl_of_both_keys() {
    let Some((redis, cache)) = TestRedis::create(Duration::from_secs(100)).await else { return };
    let ada = profile(7, "ada");
    assert_eq!(cache.get_profile_by_name("ada").await.expect("lookup"), None);
    cache.put_profile(&ada).await.expect("put");
    let (profile_key, name_key) = (cache.profile_key(7), cache.name_key("ada"));
    assert_eq!(redis.keys(), vec![name_key.clone(), profile_key.clone()]);
    for key in [&profile_key, &name_key] {
        let ttl = redis.ttl(key).await;
        assert!((1..=100).contains(&ttl), "{key} has TTL {ttl}, expected the configured 100 s");
    }
    // Operators can read the profile.
    let json = redis.get(&profile_key).await.expect("profile stored");
    assert!(json.contains(r#""username":"ada""#) && json.contains("$argon2id$"), "{json}");

    // Let both keys nearly expire, then hit: Redis reports the full TTL again.
    for key in [&profile_key, &name_key] {
        redis::cmd("EXPIRE").arg(key).arg(5).exec_async(&mut redis.conn().await).await.expect("EXPIRE");
        assert!(redis.ttl(key).await <= 5);
    }
    assert_eq!(cache.get_profile_by_name("ada").await.expect("lookup"), Some(ada.clone()));
    for key in [&profile_key, &name_key] {
        let ttl = redis.ttl(key).await;
        assert!(ttl > 5 && ttl <= 100, "{key}: TTL {ttl} was not renewed to 100 s by the hit");
    }

    assert_eq!(cache.get_profile_by_name("Ada").await.expect("lookup"), None, "names are case-sensitive");
    // The lookup is a script: Redis forgetting it (a restart, `SCRIPT FLUSH`) costs a reload.
    redis::cmd("SCRIPT").arg("FLUSH").exec_async(&mut redis.conn().await).await.expect("SCRIPT FLUSH");
    assert_eq!(cache.get_profile_by_name("ada").await.expect("lookup"), Some(ada.clone()));
    // The name index without its profile is a miss.
    redis::cmd("DEL").arg(&profile_key).exec_async(&mut redis.conn().await).await.expect("DEL");
    assert_eq!(cache.get_profile_by_name("ada").await.expect("lookup"), None);
    cache.delete_profile(7, "ada").await.expect("delete");
    assert_eq!(cache.get_profile_by_name("ada").await.expect("lookup"), None);
    assert!(redis.keys().is_empty(), "{:?}", redis.keys());
}

/// Miss ⇒ database ⇒ write back; hit; unknown names; wiping Redis loses nothing; create writes
/// the database first and then the cache.
async fn hydration(target: &DbTarget) {
    let Some((redis, cache)) = TestRedis::create(Duration::from_secs(3600)).await else { return };
    let db = migrated(target).await;
    db.insert_account(7, "ada", &profile(7, "ada").password_hash).await.expect("insert");
    let profiles = Profiles::new(db.clone(), Some(cache.clone()));
    let stats = profiles.stats();

    // A miss: the database answers and the profile is written back.
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(stats.snapshot(), CacheCounts { misses: 1, writebacks: 1, ..CacheCounts::default() });
    assert_eq!(cache.get_profile_by_name("ada").await.expect("cached"), Some(profile(7, "ada")));
    assert!(redis.ttl(&cache.profile_key(7)).await > 0, "written back with a TTL");

    // Now a hit.
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(stats.snapshot(), CacheCounts { hits: 1, misses: 1, writebacks: 1, ..CacheCounts::default() });

    // Unknown names are misses and write nothing.
    assert_eq!(profiles.lookup("nobody").await.expect("lookup"), None);
    assert_eq!(stats.snapshot(), CacheCounts { hits: 1, misses: 2, writebacks: 1, ..CacheCounts::default() });
    assert_eq!(redis.keys().len(), 2, "{:?}", redis.keys());

    // A new account goes to the database, then to the cache.
    profiles.create(&profile(8, "grace")).await.expect("create");
    assert_eq!(db.get_account("grace").await.expect("db"), Some((8, profile(8, "grace").password_hash)));
    assert_eq!(cache.get_profile_by_name("grace").await.expect("cached"), Some(profile(8, "grace")));
    let taken = profiles.create(&profile(9, "grace")).await;
    assert!(matches!(&taken, Err(AccountError::UsernameTaken(name)) if name == "grace"), "{taken:?}");
    assert_eq!(profiles.lookup("grace").await.expect("lookup"), Some(profile(8, "grace")), "unchanged");

    // Wipe Redis: nothing is lost, the next lookups go to the database and repopulate.
    assert_eq!(redis.wipe(), 4);
    let before = stats.snapshot();
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(profiles.lookup("grace").await.expect("lookup"), Some(profile(8, "grace")));
    let after = stats.snapshot();
    assert_eq!((after.misses - before.misses, after.writebacks - before.writebacks), (2, 2));
    assert_eq!(redis.keys().len(), 4, "repopulated: {:?}", redis.keys());
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(stats.snapshot().hits, after.hits + 1);
    assert_eq!(stats.snapshot().errors, 0);
    db.close().await;
}

#[tokio::test]
async fn hydration_with_sqlite() {
    let file = TestSqlite::new();
    hydration(&file.target()).await;
}

#[tokio::test]
async fn hydration_with_postgres() {
    let Some(pg) = TestPg::create().await else { return };
    hydration(&pg.target()).await;
}

#[tokio::test]
async fn redis_down_means_the_database_answers() {
    let file = TestSqlite::new();
    let db = migrated(&file.target()).await;
    let url = format!("redis://127.0.0.1:{}", closed_port());

    let refused = RedisCache::connect(&url, "x:").await.expect_err("nothing listens");
    assert!(refused.to_string().contains("PING redis://127.0.0.1:"), "{refused}");

    let cache = RedisCache::open(&url, "x:", CacheOptions::default()).expect("opening is lazy");
    let profiles = Profiles::new(db.clone(), Some(cache));
    // Creating works (the database is the durable store); the cache write fails and is counted.
    profiles.create(&profile(7, "ada")).await.expect("create without Redis");
    assert_eq!(profiles.stats().snapshot(), CacheCounts { errors: 1, ..CacheCounts::default() });
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(profiles.lookup("nobody").await.expect("lookup"), None);
    assert_eq!(profiles.stats().snapshot(), CacheCounts { errors: 3, ..CacheCounts::default() });
    db.close().await;
}

#[tokio::test]
async fn stalled_redis_means_the_database_answers() {
    // Accepts connections and never answers.
    let proxy = Proxy::start(format!("127.0.0.1:{}", closed_port())).await;
    proxy.stall();
    let url = format!("redis://{}", proxy.addr);

    let file = TestSqlite::new();
    let db = migrated(&file.target()).await;
    db.insert_account(7, "ada", &profile(7, "ada").password_hash).await.expect("insert");

    let options = CacheOptions::default();
    let error = RedisCache::connect_with(&url, "x:", options).await.expect_err("no answer");
    assert!(matches!(error, CacheError::Timeout { .. }), "{error:?}");

    let cache = RedisCache::open(&url, "x:", options).expect("opening is lazy");
    let profiles = Profiles::new(db.clone(), Some(cache.clone()));
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(profiles.stats().snapshot(), CacheCounts { errors: 1, ..CacheCounts::default() });
    // Every operation gives up after the response timeout.
    let error = cache.update_leaderboard(&[(1, 1.0)]).await.expect_err("stalled");
    assert!(matches!(&error, CacheError::Timeout { after, .. } if *after == options.response_timeout), "{error:?}");
    let error = cache.publish_ticker("{}").await.expect_err("stalled");
    assert!(matches!(error, CacheError::Timeout { .. }), "{error:?}");
    drop(proxy);
    db.close().await;
}

/// A stalled Redis costs the response timeout per call: after three failures in a row the
/// breaker sends lookups straight to the database (counted as bypassed, Redis not asked),
/// and once Redis answers again a trial lookup closes it.
#[tokio::test]
async fn a_failing_redis_is_skipped_until_it_answers_again() {
    let Some((redis, direct)) = TestRedis::create(Duration::from_secs(3600)).await else { return };
    let proxy = Proxy::start(redis.upstream()).await;
    let file = TestSqlite::new();
    let db = migrated(&file.target()).await;
    // Stalled calls wait for the response timeout: 1 s keeps the test short; a slow answer
    // after the restore only means one more retry below.
    let options =
        CacheOptions { response_timeout: Duration::from_secs(1), connect_timeout: PATIENCE, ..CacheOptions::default() };
    let cache = RedisCache::connect_with(&redis.url_via(&proxy), direct.key_prefix(), options).await.expect("connect");
    // Open long enough that the five lookups below surely fall inside it, even on a busy machine.
    let breaker = BreakerOptions { trip_after: 3, open_for: Duration::from_millis(1500) };
    let profiles = Profiles::with_breaker(db.clone(), Some(cache), breaker);
    profiles.create(&profile(7, "ada")).await.expect("create");

    proxy.stall();
    for _ in 0..3 {
        assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    }
    let tripped = profiles.stats().snapshot();
    assert_eq!((tripped.errors, tripped.bypassed), (3, 0), "{tripped:?}");
    for _ in 0..5 {
        assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")), "the database answers");
    }
    let open = profiles.stats().snapshot();
    assert_eq!((open.errors, open.bypassed, open.hits), (3, 5, 0), "Redis is not asked while open: {open:?}");

    proxy.restore();
    // Past the open period a trial lookup asks Redis again and closes the breaker (bounded
    // retries: the stalled connection may need a reconnect first).
    let mut attempts = 0;
    while profiles.stats().snapshot().hits == 0 {
        attempts += 1;
        assert!(attempts <= 100, "Redis never asked again: {:?}", profiles.stats().snapshot());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    }
    let before = profiles.stats().snapshot();
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(profiles.stats().snapshot().hits, before.hits + 1, "closed again: the next lookup hits");
    assert_eq!(profiles.stats().snapshot().bypassed, before.bypassed);
    db.close().await;
}

#[tokio::test]
async fn garbage_in_redis_is_a_miss_and_is_overwritten() {
    let Some((redis, cache)) = TestRedis::create(Duration::from_secs(3600)).await else { return };
    let file = TestSqlite::new();
    let db = migrated(&file.target()).await;
    db.insert_account(7, "ada", &profile(7, "ada").password_hash).await.expect("insert");
    let profiles = Profiles::new(db.clone(), Some(cache.clone()));
    let (profile_key, name_key) = (cache.profile_key(7), cache.name_key("ada"));

    let garbage = [
        (name_key.as_str(), "not an id"),
        (name_key.as_str(), "-7"),
        (name_key.as_str(), "07"),
        (name_key.as_str(), "+7"),
        (profile_key.as_str(), "not json {"),
        (profile_key.as_str(), r#"{"player_id":7}"#),
        // Valid JSON of another player under player 7's key.
        (profile_key.as_str(), r#"{"player_id":8,"username":"eve","password_hash":"$argon2id$eve"}"#),
    ];
    for (round, (key, value)) in garbage.into_iter().enumerate() {
        redis.set(&name_key, "7").await;
        redis.set(&profile_key, r#"{"player_id":7,"username":"ada","password_hash":"x"}"#).await;
        redis.set(key, value).await;
        let before = profiles.stats().snapshot();
        assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")), "garbage {value:?}");
        let after = profiles.stats().snapshot();
        assert_eq!(after.errors, before.errors + 1, "round {round}: garbage is counted");
        assert_eq!(after.writebacks, before.writebacks + 1, "round {round}: and overwritten");
        assert_eq!(after.hits, before.hits);
        let stored: PlayerProfile =
            serde_json::from_str(&redis.get(&profile_key).await.expect("rewritten")).expect("valid JSON again");
        assert_eq!(stored, profile(7, "ada"));
        assert_eq!(redis.get(&name_key).await.as_deref(), Some("7"));
        assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
        assert_eq!(profiles.stats().snapshot().hits, after.hits + 1, "round {round}: a hit again");
    }
    db.close().await;
}

#[tokio::test]
async fn leaderboard_orders_updates_and_removes() {
    let Some((redis, cache)) = TestRedis::create(Duration::from_secs(60)).await else { return };
    assert_eq!(cache.leaderboard_top(10).await.expect("empty"), vec![]);
    cache.update_leaderboard(&[]).await.expect("nothing to do");
    cache.update_leaderboard(&[(1, 10.0), (2, 30.5), (3, 20.0)]).await.expect("update");
    assert_eq!(cache.leaderboard_top(2).await.expect("top"), vec![(2, 30.5), (3, 20.0)]);
    assert_eq!(cache.leaderboard_top(0).await.expect("top"), vec![]);

    cache.update_leaderboard(&[(1, 50.0), (4, 0.0)]).await.expect("update");
    assert_eq!(cache.leaderboard_top(10).await.expect("top"), vec![(1, 50.0), (2, 30.5), (3, 20.0), (4, 0.0)]);

    cache.leaderboard_remove(&[2, 99]).await.expect("remove");
    cache.leaderboard_remove(&[]).await.expect("nothing to remove");
    assert_eq!(cache.leaderboard_top(usize::MAX).await.expect("top"), vec![(1, 50.0), (3, 20.0), (4, 0.0)]);

    let nan = cache.update_leaderboard(&[(5, 1.0), (6, f64::NAN)]).await;
    assert!(matches!(nan, Err(CacheError::InvalidScore { empire_id: 6 })), "{nan:?}");
    assert_eq!(cache.leaderboard_top(10).await.expect("top").len(), 3, "nothing of a refused update is written");

    // A member that is not an empire id is reported, not a panic.
    redis::cmd("ZADD")
        .arg(cache.leaderboard_key())
        .arg(99.0)
        .arg("intruder")
        .exec_async(&mut redis.conn().await)
        .await
        .expect("ZADD");
    let error = cache.leaderboard_top(10).await.expect_err("garbage member");
    assert!(matches!(&error, CacheError::Corrupt { reason, .. } if reason.contains("intruder")), "{error:?}");
}

#[tokio::test]
async fn ticker_messages_reach_subscribers() {
    let Some((redis, cache)) = TestRedis::create(Duration::from_secs(60)).await else { return };
    assert_eq!(cache.publish_ticker(r#"{"tick":1}"#).await.expect("publish"), 0, "nobody listens yet");

    let mut pubsub = redis.client.get_async_pubsub().await.expect("pubsub connection");
    pubsub.subscribe(cache.ticker_channel()).await.expect("subscribe");
    let message = r#"{"tick":2,"prices":{"minerals":12.5}}"#;
    assert_eq!(cache.publish_ticker(message).await.expect("publish"), 1);
    let received = tokio::time::timeout(PATIENCE, pubsub.on_message().next())
        .await
        .expect("a message within the patience")
        .expect("the subscription is open");
    assert_eq!(received.get_channel_name(), cache.ticker_channel());
    assert_eq!(received.get_payload::<String>().expect("text payload"), message);
}

#[tokio::test]
async fn the_cache_comes_back_after_an_outage() {
    let Some((redis, direct)) = TestRedis::create(Duration::from_secs(3600)).await else { return };
    let proxy = Proxy::start(redis.upstream()).await;
    let proxied_url = redis.url_via(&proxy);
    let file = TestSqlite::new();
    let db = migrated(&file.target()).await;
    let options = CacheOptions { response_timeout: PATIENCE, connect_timeout: PATIENCE, ..CacheOptions::default() };
    let cache =
        RedisCache::connect_with(&proxied_url, direct.key_prefix(), options).await.expect("connect through the proxy");
    // A short open period: failures while Redis reconnects do not keep it skipped for long.
    let breaker = BreakerOptions { open_for: Duration::from_millis(100), ..BreakerOptions::default() };
    let profiles = Profiles::with_breaker(db.clone(), Some(cache), breaker);
    profiles.create(&profile(7, "ada")).await.expect("create");
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
    assert_eq!(profiles.stats().snapshot(), CacheCounts { hits: 1, writebacks: 1, ..CacheCounts::default() });

    proxy.cut();
    assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")), "the database answers");
    let during = profiles.stats().snapshot();
    assert_eq!((during.hits, during.errors), (1, 1));

    // Back: the connection is re-established by itself and lookups hit Redis again (a few
    // lookups may still fail while it reconnects).
    proxy.restore();
    let mut attempts = 0;
    while profiles.stats().snapshot().hits == during.hits {
        attempts += 1;
        assert!(attempts <= 100, "no hit after the outage: {:?}", profiles.stats().snapshot());
        assert_eq!(profiles.lookup("ada").await.expect("lookup"), Some(profile(7, "ada")));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.close().await;
}
