//! The Redis cache and login hydration against real services: Redis on 127.0.0.1:6379 (each
//! test under its own random key prefix, whose keys are deleted afterwards), Postgres on
//! 127.0.0.1:5432 (a fresh database per test, dropped afterwards) and SQLite temporary files.
//! Outages are simulated with local sockets: a closed port (Redis down) and a listener that
//! accepts connections and never answers (Redis stalled).
//!
//! When Redis or Postgres is not reachable, the tests needing it print "skipped: ..." and pass,
//! unless `STARFORGE_REQUIRE_SERVICES=1`, which makes them fail.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use starforge_persistence::{
    AccountError, CacheCounts, CacheError, CacheOptions, Db, DbTarget, PlayerProfile, Profiles, RedisCache,
};

/// How long a test waits for something that should happen at once (a guard against hanging,
/// not a measurement).
const PATIENCE: Duration = Duration::from_secs(10);

fn redis_url() -> String {
    std::env::var("STARFORGE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn postgres_server() -> String {
    std::env::var("STARFORGE_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

fn random_suffix() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

fn skip<T>(service: &str, location: &str, reason: &str) -> Option<T> {
    if std::env::var("STARFORGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("{service} not reachable at {location} and STARFORGE_REQUIRE_SERVICES=1: {reason}");
    }
    println!("skipped: {service} not reachable at {location}: {reason}");
    None
}

fn profile(player_id: u64, username: &str) -> PlayerProfile {
    PlayerProfile {
        player_id,
        username: username.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt{player_id}$hash"),
    }
}

/// A key prefix of its own on the test Redis; every key under it is deleted when this is
/// dropped, also when the test panics.
struct TestRedis {
    prefix: String,
    client: redis::Client,
}

impl TestRedis {
    /// A cache with its own prefix and `ttl`; `None` (after printing why) if Redis is not
    /// reachable and services are not required.
    async fn create(ttl: Duration) -> Option<(TestRedis, RedisCache)> {
        let url = redis_url();
        let prefix = format!("starforge-test-{}:", random_suffix());
        // Generous timeouts against the real Redis: a loaded test machine must not turn a slow
        // answer into a counted error. Timeouts are tested with the stalled listener.
        let options = CacheOptions { profile_ttl: ttl, response_timeout: PATIENCE, connect_timeout: PATIENCE };
        let cache = match RedisCache::connect_with(&url, &prefix, options).await {
            Ok(cache) => cache,
            Err(error) => return skip("Redis", &url, &error.to_string()),
        };
        let client = redis::Client::open(url.as_str()).expect("the URL parsed once already");
        Some((TestRedis { prefix, client }, cache))
    }

    async fn conn(&self) -> redis::aio::MultiplexedConnection {
        self.client.get_multiplexed_async_connection().await.expect("test connection to Redis")
    }

    /// Every key under the prefix (SCAN, so it works on a busy shared Redis).
    fn keys(&self) -> Vec<String> {
        let mut conn = self.client.get_connection_with_timeout(PATIENCE).expect("test connection to Redis");
        let mut keys: Vec<String> = redis::cmd("SCAN")
            .cursor_arg(0)
            .arg("MATCH")
            .arg(format!("{}*", self.prefix))
            .arg("COUNT")
            .arg(1000)
            .clone()
            .iter(&mut conn)
            .expect("SCAN")
            .collect::<Result<_, _>>()
            .expect("SCAN");
        keys.sort();
        keys.dedup();
        keys
    }

    /// Deletes every key under the prefix: what an operator wiping Redis does.
    fn wipe(&self) -> usize {
        let keys = self.keys();
        if keys.is_empty() {
            return 0;
        }
        let mut conn = self.client.get_connection_with_timeout(PATIENCE).expect("test connection to Redis");
        redis::cmd("DEL").arg(&keys).query(&mut conn).expect("DEL")
    }

    async fn ttl(&self, key: &str) -> i64 {
        redis::cmd("TTL").arg(key).query_async(&mut self.conn().await).await.expect("TTL")
    }

    async fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET").arg(key).query_async(&mut self.conn().await).await.expect("GET")
    }

    async fn set(&self, key: &str, value: &str) {
        redis::cmd("SET").arg(key).arg(value).exec_async(&mut self.conn().await).await.expect("SET");
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // Synchronous client: Drop cannot await. A failure here must not hide the test's own.
        let keys = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.wipe()));
        if keys.is_err() {
            eprintln!("warning: could not delete the test keys {}*", self.prefix);
        }
    }
}

/// A fresh Postgres database, dropped (with `FORCE`) when this is dropped.
struct TestPg {
    name: String,
}

impl TestPg {
    async fn create() -> Option<TestPg> {
        let admin_url = format!("{}/postgres", postgres_server());
        let admin = PgConnectOptions::from_str(&admin_url).expect("admin URL parses");
        let mut conn = match tokio::time::timeout(Duration::from_secs(3), admin.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => return skip("Postgres", &admin_url, &error.to_string()),
            Err(_) => return skip("Postgres", &admin_url, "no answer within 3 s"),
        };
        let name = format!("starforge_test_{}", random_suffix());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        Some(TestPg { name })
    }

    fn target(&self) -> DbTarget {
        DbTarget::Postgres(format!("{}/{}", postgres_server(), self.name))
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let admin = PgConnectOptions::from_str(&format!("{}/postgres", postgres_server()))?;
                let mut conn = admin.connect().await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// A SQLite file in a fresh temporary directory, removed when this is dropped.
struct TestSqlite {
    dir: PathBuf,
}

impl TestSqlite {
    fn new() -> TestSqlite {
        TestSqlite { dir: std::env::temp_dir().join(format!("starforge-cache-test-{}", random_suffix())) }
    }

    fn target(&self) -> DbTarget {
        DbTarget::Sqlite(self.dir.join("starforge.db"))
    }
}

impl Drop for TestSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn migrated(target: &DbTarget) -> Db {
    let db = Db::connect(target).await.expect("connect");
    db.migrate().await.expect("migrate");
    db
}

/// A port on which nothing listens (bound once, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
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
    assert_eq!(stats.snapshot(), CacheCounts { hits: 1, misses: 1, writebacks: 1, errors: 0 });

    // Unknown names are misses and write nothing.
    assert_eq!(profiles.lookup("nobody").await.expect("lookup"), None);
    assert_eq!(stats.snapshot(), CacheCounts { hits: 1, misses: 2, writebacks: 1, errors: 0 });
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("redis://{}", listener.local_addr().expect("addr"));
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });

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
    holder.abort();
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

/// A TCP proxy to the test Redis that the test can cut (open connections are closed, new
/// ones are accepted and closed at once) and restore.
struct CutProxy {
    addr: std::net::SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    async fn start(upstream: String) -> CutProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (task_open, task_links) = (open.clone(), links.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !task_open.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                task_links.lock().expect("links").push(link);
            }
        });
        CutProxy { addr, open, links, acceptor }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
        self.acceptor.abort();
    }
}

#[tokio::test]
async fn the_cache_comes_back_after_an_outage() {
    let Some((redis, direct)) = TestRedis::create(Duration::from_secs(3600)).await else { return };
    let upstream = redis.client.get_connection_info().addr().to_string();
    let proxy = CutProxy::start(upstream.clone()).await;
    // The test URL with the proxy's address instead of Redis' (password and database kept).
    let proxied_url = redis_url().replacen(&upstream, &proxy.addr.to_string(), 1);
    assert_ne!(proxied_url, redis_url(), "the URL names {upstream}");
    let file = TestSqlite::new();
    let db = migrated(&file.target()).await;
    let options = CacheOptions { response_timeout: PATIENCE, connect_timeout: PATIENCE, ..CacheOptions::default() };
    let cache =
        RedisCache::connect_with(&proxied_url, direct.key_prefix(), options).await.expect("connect through the proxy");
    let profiles = Profiles::new(db.clone(), Some(cache));
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
