//! The database layer against real databases: Postgres on 127.0.0.1:5432 (each test in its own
//! fresh database, dropped afterwards) and SQLite in a temporary file.
//!
//! When Postgres is not reachable, the Postgres tests print "skipped: ..." and pass, unless
//! `STARFORGE_REQUIRE_SERVICES=1`, which makes them fail.

use std::time::Duration;

use starforge_persistence::{AccountError, Db, DbError, DbTarget};

#[path = "../../tests/src/services.rs"]
mod services;
use services::{TestPg, TestSqlite};

/// Migrating twice, an account round trip, and the taken errors, on one database.
async fn exercise(target: &DbTarget) {
    let db = Db::connect(target).await.expect("connect");
    db.migrate().await.expect("first migration");
    db.migrate().await.expect("migrating again does nothing");

    assert_eq!(db.get_account("ada").await.expect("get"), None);
    db.insert_account(7, "ada", "$argon2id$hash-a").await.expect("insert");
    assert_eq!(db.get_account("ada").await.expect("get"), Some((7, "$argon2id$hash-a".to_owned())));
    assert_eq!(db.get_account("Ada").await.expect("get"), None, "usernames are case-sensitive");

    let taken = db.insert_account(8, "ada", "$argon2id$hash-b").await;
    assert!(matches!(&taken, Err(AccountError::UsernameTaken(name)) if name == "ada"), "{taken:?}");
    let id_taken = db.insert_account(7, "grace", "$argon2id$hash-c").await;
    assert!(matches!(id_taken, Err(AccountError::PlayerIdTaken(7))), "{id_taken:?}");
    assert_eq!(db.get_account("ada").await.expect("get"), Some((7, "$argon2id$hash-a".to_owned())), "unchanged");
    assert_eq!(db.get_account("grace").await.expect("get"), None);

    let too_big = db.insert_account(u64::MAX, "big", "h").await;
    assert!(matches!(too_big, Err(AccountError::PlayerIdOutOfRange(u64::MAX))), "{too_big:?}");
    db.close().await;

    // A new connection (a restart) sees the data and migrates nothing.
    let db = Db::connect(target).await.expect("reconnect");
    db.migrate().await.expect("migrate after restart");
    assert_eq!(db.get_account("ada").await.expect("get"), Some((7, "$argon2id$hash-a".to_owned())));
    db.close().await;
}

#[tokio::test]
async fn postgres_accounts_and_migrations() {
    let Some(pg) = TestPg::create().await else { return };
    exercise(&pg.target()).await;
}

#[tokio::test]
async fn sqlite_accounts_and_migrations() {
    let file = TestSqlite::new();
    exercise(&file.target()).await;
    let DbTarget::Sqlite(path) = file.target() else { unreachable!() };
    assert!(path.exists(), "the SQLite file was created");
}

#[tokio::test]
async fn sqlite_uses_wal() {
    let file = TestSqlite::new();
    let db = Db::connect(&file.target()).await.expect("connect");
    let Db::Sqlite(pool) = &db else { panic!("expected SQLite") };
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(pool).await.expect("pragma");
    assert_eq!(mode.to_lowercase(), "wal");
    db.close().await;
}

#[tokio::test]
async fn unreachable_postgres_is_reported_clearly() {
    let target = DbTarget::Postgres("postgres://postgres:secret@127.0.0.1:1/starforge".into());
    let error = Db::connect(&target).await.expect_err("nothing listens on port 1");
    assert!(matches!(error, DbError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("Postgres at 127.0.0.1:1/starforge is unreachable"), "{message}");
    assert!(!message.contains("secret"), "{message}");
    println!("{message}");
}

#[tokio::test]
async fn silent_postgres_times_out() {
    // Accepts TCP connections (the kernel does, from the backlog) but never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = DbTarget::Postgres(format!("postgres://postgres@127.0.0.1:{port}/x"));
    // The message names the timeout that gave up (the driver's own would say something else).
    let error = Db::connect_with_timeout(&target, Duration::from_millis(500)).await.expect_err("no answer");
    let message = error.to_string();
    assert!(message.contains("unreachable") && message.contains("no answer within 500ms"), "{message}");
    drop(listener);
}

#[tokio::test]
async fn bad_url_is_reported() {
    let error = Db::connect(&DbTarget::Postgres("postgres://u:pw@host:notaport/db".into())).await.expect_err("bad");
    assert!(matches!(error, DbError::BadUrl { .. }), "{error:?}");
    assert!(!error.to_string().contains("pw@"), "{error}");
}

#[tokio::test]
async fn missing_postgres_database_is_refused() {
    let Some(pg) = TestPg::create().await else { return };
    let url = format!("{}_missing", pg.url);
    let error = Db::connect(&DbTarget::Postgres(url)).await.expect_err("no such database");
    assert!(matches!(error, DbError::Refused { .. }), "{error:?}");
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[tokio::test]
async fn a_failing_migration_names_itself() {
    // A `players` table made outside the migrations makes migration 1's CREATE TABLE fail.
    let file = TestSqlite::new();
    let db = Db::connect(&file.target()).await.expect("connect");
    let Db::Sqlite(pool) = &db else { panic!("expected SQLite") };
    sqlx::query("CREATE TABLE players (x INTEGER)").execute(pool).await.expect("table");
    let error = db.migrate().await.expect_err("migration 1 clashes with the table");
    let message = error.to_string();
    assert!(matches!(error, DbError::Migration { version: 1, .. }), "{error:?}");
    assert!(message.contains("SQLite: migration 1 (players) failed"), "{message}");
    db.close().await;
}

/// A second `lock_world` on the same database fails with `InUse` while the first lock lives,
/// and succeeds once it is dropped (the session or file lock goes with it).
async fn second_server_is_refused(target: &DbTarget, expect_in_message: &str) {
    let first = Db::connect(target).await.expect("connect");
    let second = Db::connect(target).await.expect("connect again");
    let lock = first.lock_world().await.expect("the first server takes the lock");
    let err = second.lock_world().await.expect_err("a second server must be refused");
    assert!(matches!(err, DbError::InUse { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("in use") && message.contains("stop the other server"), "{message}");
    assert!(message.contains(expect_in_message), "{message}");
    drop(lock);
    // Postgres ends the released session asynchronously: retry (bounded, a hang guard).
    let mut again = None;
    for _ in 0..200 {
        match second.lock_world().await {
            Ok(lock) => {
                again = Some(lock);
                break;
            }
            Err(DbError::InUse { .. }) => tokio::time::sleep(Duration::from_millis(25)).await,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(again.is_some(), "the lock is free once the first server is gone");
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn postgres_refuses_a_second_server_on_one_world() {
    let Some(pg) = TestPg::create().await else { return };
    second_server_is_refused(&pg.target(), "Postgres session pid").await;
}

#[tokio::test]
async fn sqlite_refuses_a_second_server_on_one_world() {
    let file = TestSqlite::new();
    second_server_is_refused(&file.target(), "starforge.db.lock").await;
}

#[tokio::test]
async fn an_unusable_lock_file_is_an_error_that_does_not_say_in_use() {
    let file = TestSqlite::new();
    let target = file.target();
    let db = Db::connect(&target).await.expect("connect");
    let DbTarget::Sqlite(path) = &target else { unreachable!("a SQLite target") };
    // A directory where the lock file should be: it cannot be opened for writing.
    std::fs::create_dir_all(starforge_persistence::lock::lock_file(path)).expect("mkdir");
    let err = db.lock_world().await.expect_err("the lock file cannot be opened");
    assert!(matches!(err, DbError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot open the lock file"), "{err}");
    db.close().await;
}

/// The session holding the world lock in the connection's database, if any.
async fn lock_holder_pid(conn: &mut sqlx::PgConnection) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
    )
    .bind(starforge_persistence::lock::LOCK_KEY)
    .fetch_optional(conn)
    .await
    .expect("read pg_locks")
}

#[tokio::test]
async fn postgres_takes_the_world_lock_again_when_its_session_is_cut() {
    use sqlx::Connection;
    let Some(pg) = TestPg::create().await else { return };
    let first = Db::connect(&pg.target()).await.expect("connect");
    let _lock = first.lock_world().await.expect("the server takes the lock");
    let mut admin = sqlx::PgConnection::connect(&pg.url).await.expect("a connection of the test's own");
    let cut = lock_holder_pid(&mut admin).await.expect("the lock is held");
    // Cut the lock's session, as a network cut or an operator's pg_terminate_backend would.
    let terminated: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(cut).fetch_one(&mut admin).await.expect("terminate");
    assert!(terminated);
    // The keeper notices at its next check (every 10 s) and takes the lock on a new session.
    // Bounded wait (a hang guard, not a timing assertion).
    let mut again = None;
    for _ in 0..600 {
        match lock_holder_pid(&mut admin).await {
            Some(pid) if pid != cut => {
                again = Some(pid);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(again.is_some(), "the server took its world lock again after losing the session");
    // So a second server is still refused.
    let second = Db::connect(&pg.target()).await.expect("connect again");
    let err = second.lock_world().await.expect_err("a second server must be refused");
    assert!(matches!(err, DbError::InUse { .. }), "{err:?}");
    let _ = admin.close().await;
    first.close().await;
    second.close().await;
}
