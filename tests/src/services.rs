//! Real services for tests: a fresh Postgres database per test (dropped afterwards, also on
//! panic), a SQLite file in a fresh temporary directory, a key prefix of its own on Redis
//! (its keys deleted afterwards), and a TCP [`Proxy`] that simulates outages (cut, stalled)
//! between the code under test and a real service, without touching the shared service.
//!
//! When Postgres or Redis is not reachable, [`TestPg::create`] / [`TestRedis::create`] print
//! "skipped: ..." and return `None`, unless `STARFORGE_REQUIRE_SERVICES=1`, which makes them
//! panic. Shared by the `tests` crate and `persistence/tests/` (included there with `#[path]`,
//! since persistence cannot depend on the `tests` crate), so it uses only crates both have:
//! sqlx, tokio, redis and `starforge_persistence`.
#![allow(dead_code, reason = "each including test file uses a different subset")]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use starforge_persistence::{CacheOptions, DbTarget, RedisCache};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen at once (a guard against hanging,
/// not a measurement).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The maintenance database used to create and drop the test databases (the server's
/// `postgres` database; `STARFORGE_TEST_POSTGRES_URL` overrides the server part).
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// `postgres://user@host:port` of the test server, without a database.
pub fn server() -> String {
    std::env::var("STARFORGE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// The maintenance database's URL.
pub fn admin_url() -> String {
    format!("{}/postgres", server())
}

/// 16 hex digits, different per call (names of test databases and key prefixes).
pub fn random_suffix() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// A fresh Postgres database, dropped (with `FORCE`) when this is dropped, also when the test
/// panics.
pub struct TestPg {
    /// The database name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestPg {
    /// Creates the database; `None` (after printing why) if Postgres is not reachable and
    /// services are not required.
    pub async fn create() -> Option<TestPg> {
        let admin = PgConnectOptions::from_str(&admin_url()).expect("admin URL parses");
        let mut conn = match tokio::time::timeout(Duration::from_secs(3), admin.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => return skip("Postgres", &admin_url(), &error.to_string()),
            Err(_) => return skip("Postgres", &admin_url(), "no answer within 3 s"),
        };
        let name = format!("starforge_test_{}", random_suffix());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        let _ = conn.close().await;
        let url = format!("{}/{name}", server());
        Some(TestPg { name, url })
    }

    /// The database as a connection target.
    pub fn target(&self) -> DbTarget {
        DbTarget::Postgres(self.url.clone())
    }

    /// `host:port` of the Postgres server (what a [`Proxy`] forwards to).
    pub fn upstream(&self) -> String {
        let options = PgConnectOptions::from_str(&self.url).expect("the URL parsed once already");
        format!("{}:{}", options.get_host(), options.get_port())
    }

    /// The database reached through `proxy` instead of directly.
    pub fn target_via(&self, proxy: &Proxy) -> DbTarget {
        DbTarget::Postgres(replace_address(&self.url, &self.upstream(), proxy.addr))
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot block on a future: use a thread
        // with its own runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async move {
                let admin = PgConnectOptions::from_str(&admin_url())?;
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

/// `url` with `upstream` (`host:port`) replaced by `addr` (user, password, database kept).
fn replace_address(url: &str, upstream: &str, addr: SocketAddr) -> String {
    let replaced = url.replacen(upstream, &addr.to_string(), 1);
    assert_ne!(replaced, url, "{url} does not name {upstream} literally");
    replaced
}

/// Prints why a test skips (`service` is not reachable at `location`) and returns `None`;
/// panics instead if services are required.
pub fn skip<T>(service: &str, location: &str, reason: &str) -> Option<T> {
    if std::env::var("STARFORGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("{service} not reachable at {location} and STARFORGE_REQUIRE_SERVICES=1: {reason}");
    }
    println!("skipped: {service} not reachable at {location}: {reason}");
    None
}

/// A SQLite file in a fresh temporary directory, removed when this is dropped.
pub struct TestSqlite {
    /// The temporary directory.
    pub dir: PathBuf,
}

impl Default for TestSqlite {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSqlite {
    /// A fresh temporary directory (not created yet).
    pub fn new() -> TestSqlite {
        TestSqlite { dir: std::env::temp_dir().join(format!("starforge-test-{}", random_suffix())) }
    }

    /// The database file, in a subdirectory that does not exist yet.
    pub fn target(&self) -> DbTarget {
        // A subdirectory that does not exist yet: connect creates it.
        DbTarget::Sqlite(self.dir.join("data").join("starforge.db"))
    }
}

impl Drop for TestSqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test Redis (`STARFORGE_TEST_REDIS_URL` overrides the default).
pub fn redis_url() -> String {
    std::env::var("STARFORGE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix of its own on the test Redis; every key under it is deleted when this is
/// dropped, also when the test panics.
pub struct TestRedis {
    /// The key prefix (ends with `:`).
    pub prefix: String,
    /// A client of the test Redis, for checking what the code under test wrote.
    pub client: redis::Client,
}

impl TestRedis {
    /// A cache with its own prefix and `ttl`; `None` (after printing why) if Redis is not
    /// reachable and services are not required.
    pub async fn create(ttl: Duration) -> Option<(TestRedis, RedisCache)> {
        let url = redis_url();
        let prefix = format!("starforge-test-{}:", random_suffix());
        // Generous timeouts against the real Redis: a loaded test machine must not turn a slow
        // answer into a counted error. Timeouts are tested through a stalled [`Proxy`].
        let options = CacheOptions { profile_ttl: ttl, response_timeout: PATIENCE, connect_timeout: PATIENCE };
        let cache = match RedisCache::connect_with(&url, &prefix, options).await {
            Ok(cache) => cache,
            Err(error) => return skip("Redis", &url, &error.to_string()),
        };
        let client = redis::Client::open(url.as_str()).expect("the URL parsed once already");
        Some((TestRedis { prefix, client }, cache))
    }

    /// `host:port` of the Redis server (what a [`Proxy`] forwards to).
    pub fn upstream(&self) -> String {
        self.client.get_connection_info().addr().to_string()
    }

    /// The test Redis' URL with `proxy`'s address instead of Redis' (password and database
    /// kept).
    pub fn url_via(&self, proxy: &Proxy) -> String {
        replace_address(&redis_url(), &self.upstream(), proxy.addr)
    }

    /// A new asynchronous connection to the test Redis.
    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        self.client.get_multiplexed_async_connection().await.expect("test connection to Redis")
    }

    /// Every key under the prefix (SCAN, so it works on a busy shared Redis).
    pub fn keys(&self) -> Vec<String> {
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

    /// Deletes every key under the prefix (what an operator wiping Redis does); returns how
    /// many there were.
    pub fn wipe(&self) -> usize {
        let keys = self.keys();
        if keys.is_empty() {
            return 0;
        }
        let mut conn = self.client.get_connection_with_timeout(PATIENCE).expect("test connection to Redis");
        redis::cmd("DEL").arg(&keys).query(&mut conn).expect("DEL")
    }

    /// `TTL key`.
    pub async fn ttl(&self, key: &str) -> i64 {
        redis::cmd("TTL").arg(key).query_async(&mut self.conn().await).await.expect("TTL")
    }

    /// `GET key`.
    pub async fn get(&self, key: &str) -> Option<String> {
        redis::cmd("GET").arg(key).query_async(&mut self.conn().await).await.expect("GET")
    }

    /// `SET key value`.
    pub async fn set(&self, key: &str, value: &str) {
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

/// A port on which nothing listens (bound once, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// What a [`Proxy`] does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forwards both ways.
    Open,
    /// The service is gone: open connections were closed, new ones are closed at once.
    Cut,
    /// The service hangs: connections stay open (new ones are accepted) but nothing is
    /// forwarded either way until the proxy is restored.
    Stalled,
}

/// A TCP proxy on a local port in front of a real service (`upstream`, `host:port`), which the
/// test can [`cut`](Proxy::cut), [`stall`](Proxy::stall) and [`restore`](Proxy::restore).
/// Its tasks run on the tokio runtime it was started on; dropping it closes everything.
pub struct Proxy {
    /// The proxy's address: point the code under test here.
    pub addr: SocketAddr,
    mode: Arc<watch::Sender<ProxyMode>>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a fresh local port and forwards every connection to `upstream`.
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("addr");
        let mode = Arc::new(watch::Sender::new(ProxyMode::Open));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (task_mode, task_links) = (mode.clone(), links.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *task_mode.borrow() == ProxyMode::Cut {
                    continue; // dropped: closed at once
                }
                let link = tokio::spawn(forward(client, upstream.clone(), task_mode.subscribe()));
                let mut links = task_links.lock().unwrap_or_else(PoisonError::into_inner);
                links.retain(|l| !l.is_finished());
                links.push(link);
            }
        });
        Proxy { addr, mode, links, acceptor }
    }

    /// The current mode.
    pub fn mode(&self) -> ProxyMode {
        *self.mode.borrow()
    }

    /// Closes every open connection and closes new ones at once, until [`Proxy::restore`].
    pub fn cut(&self) {
        self.mode.send_replace(ProxyMode::Cut);
        for link in self.links.lock().unwrap_or_else(PoisonError::into_inner).drain(..) {
            link.abort();
        }
    }

    /// Stops forwarding: open connections and new ones stay open but nothing gets through
    /// either way until [`Proxy::restore`] (what was sent meanwhile is delivered then).
    pub fn stall(&self) {
        self.mode.send_replace(ProxyMode::Stalled);
    }

    /// Forwards again.
    pub fn restore(&self) {
        self.mode.send_replace(ProxyMode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.acceptor.abort();
    }
}

/// Waits while the proxy is stalled; `true` if it is open (`false`: cut or gone).
async fn wait_open(mode: &mut watch::Receiver<ProxyMode>) -> bool {
    matches!(mode.wait_for(|m| *m != ProxyMode::Stalled).await.as_deref(), Ok(ProxyMode::Open))
}

/// One proxied connection: connects upstream once the proxy is open, then pumps both ways
/// until either side closes.
async fn forward(client: TcpStream, upstream: String, mut mode: watch::Receiver<ProxyMode>) {
    if !wait_open(&mut mode).await {
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let ((client_read, client_write), (server_read, server_write)) = (client.into_split(), server.into_split());
    tokio::select! {
        () = pump(client_read, server_write, mode.clone()) => {}
        () = pump(server_read, client_write, mode) => {}
    }
}

/// Copies `from` to `to`, holding data back while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<ProxyMode>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !wait_open(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
