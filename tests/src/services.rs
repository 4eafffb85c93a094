//! Real services for tests: a fresh Postgres database per test (dropped afterwards, also on
//! panic) and a SQLite file in a fresh temporary directory.
//!
//! When Postgres is not reachable, [`TestPg::create`] prints "skipped: ..." and returns `None`,
//! unless `STARFORGE_REQUIRE_SERVICES=1`, which makes it panic. Shared by the `tests` crate and
//! `persistence/tests/` (included there with `#[path]`, since persistence cannot depend on the
//! `tests` crate).
#![allow(dead_code, reason = "each including test file uses a different subset")]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use starforge_persistence::DbTarget;

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
            Ok(Err(error)) => return skip(&error.to_string()),
            Err(_) => return skip("no answer within 3 s"),
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

/// Prints why a test skips and returns `None`; panics instead if services are required.
pub fn skip<T>(reason: &str) -> Option<T> {
    if std::env::var("STARFORGE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("Postgres not reachable at {} and STARFORGE_REQUIRE_SERVICES=1: {reason}", admin_url());
    }
    println!("skipped: Postgres not reachable at {}: {reason}", admin_url());
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
