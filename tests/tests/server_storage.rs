//! The assembled server over real Postgres (through a proxy the test cuts) and Redis:
//! `/health` turns degraded while the database is unreachable and back to ok when it returns,
//! the writer's gauges are on `/metrics`, and the market ticker and leaderboard reach Redis.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_app::App;
use bevy_time::TimeUpdateStrategy;
use redis::AsyncCommands;
use starforge_components::prelude::*;
use starforge_persistence::DbError;
use starforge_server::accounts::DbAccounts;
use starforge_server::{build_persistent_app, feed, start_network, storage};
use starforge_shared::http;
use starforge_tests::net::loopback_config;
use starforge_tests::persist::runtime;
use starforge_tests::services::{Proxy, TestPg, TestRedis};

/// Hang guard for conditions that depend on the writer's retries (real time).
const PATIENCE: Duration = Duration::from_secs(60);

fn health(addr: std::net::SocketAddr) -> (u16, String) {
    let r = http::get(addr, "/health").expect("GET /health");
    (r.status, r.text())
}

/// Steps frames until `done` holds (bounded by [`PATIENCE`]).
fn step_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done(app) {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        app.update();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn health_follows_the_database_and_the_feed_reaches_redis() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let Some((redis, _cache)) = rt.block_on(TestRedis::create(Duration::from_secs(3600))) else { return };
    let proxy = rt.block_on(Proxy::start(pg.upstream()));
    let starforge_persistence::DbTarget::Postgres(db_url) = pg.target_via(&proxy) else { unreachable!() };
    let redis_url = starforge_tests::services::redis_url();
    let config =
        loopback_config(12, &["--database-url", &db_url, "--redis-url", &redis_url, "--redis-prefix", &redis.prefix]);
    let mut storage = storage::open_storage(&config).expect("storage opens").expect("not ephemeral");
    let tuning = Tuning::default();
    let period = Duration::from_secs_f64(1.0 / f64::from(tuning.world.tick_hz));
    let mut app = build_persistent_app(&config, tuning, Some(&mut storage)).expect("app");
    app.insert_resource(TimeUpdateStrategy::ManualDuration(period));
    feed::add_redis_feed(&mut app, &storage);
    let accounts = Arc::new(DbAccounts::new(storage.profiles.clone()));
    let net = start_network(&mut app, &config, accounts, Some(storage.profiles.stats())).expect("network");
    app.finish();
    app.cleanup();

    // Subscribe before the first tick so the first ticker messages are seen.
    let channel = format!("{}market:ticker", redis.prefix);
    let client = redis.client.clone();
    let mut pubsub = rt.block_on(client.get_async_pubsub()).expect("pubsub");
    rt.block_on(pubsub.subscribe(&channel)).expect("subscribe");

    app.update();
    step_until(&mut app, "a confirmed flush", |app| {
        app.world().resource::<starforge_persistence::Persister>().status().snapshot().confirmed_tick > 0
    });
    let (status, body) = health(net.http.addr);
    assert_eq!(status, 200, "{body}");
    let metrics = http::get(net.http.addr, "/metrics").expect("metrics").text();
    assert!(metrics.contains("starforge_persist_state 0"), "{metrics}");
    assert!(metrics.contains("starforge_persist_rows_total"), "{metrics}");

    // The ticker arrives as JSON with the tick; the leaderboard holds the empires.
    let message = rt.block_on(async {
        use futures_util::StreamExt;
        tokio::time::timeout(PATIENCE, pubsub.on_message().next()).await.expect("a ticker message").expect("stream")
    });
    let payload: String = message.get_payload().expect("text payload");
    let json: serde_json::Value = serde_json::from_str(&payload).expect("ticker JSON");
    assert!(json["tick"].as_u64().is_some() && json["resources"].is_array(), "{payload}");
    let board: Vec<(u64, f64)> = rt.block_on(async {
        let mut conn = redis.conn().await;
        conn.zrevrange_withscores(format!("{}leaderboard:power", redis.prefix), 0, 4).await.expect("zrevrange")
    });
    let empires = {
        let world = app.world_mut();
        world.query::<&Empire>().iter(world).count()
    };
    assert!(!board.is_empty() && board.len() <= empires.min(5), "leaderboard {board:?}");

    // The database goes away: the game keeps ticking, health says degraded.
    proxy.cut();
    let tick_before = app.world().resource::<SimTick>().0;
    step_until(&mut app, "health degraded", |_| health(net.http.addr).0 == 503);
    let (_, body) = health(net.http.addr);
    assert!(body.contains("database unreachable"), "{body}");
    assert!(app.world().resource::<SimTick>().0 > tick_before, "the simulation keeps running");

    // It comes back: everything is written, health is ok again.
    proxy.restore();
    step_until(&mut app, "health ok", |_| health(net.http.addr).0 == 200);
    let status = app.world().resource::<starforge_persistence::Persister>().status().snapshot();
    assert!(status.failures > 0, "the outage was seen: {status:?}");
    drop(app);
    drop(net);
    drop(proxy);
}

/// Opens the storage `config` names, waiting while the database is "in use": a previous
/// server's lock goes with its Postgres session, which ends on its own time.
fn open(config: &starforge_server::ServerConfig) -> anyhow::Result<storage::Storage> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match storage::open_storage(config) {
            Ok(storage) => return Ok(storage.expect("not ephemeral")),
            Err(e)
                if Instant::now() < deadline
                    && e.chain().any(|c| matches!(c.downcast_ref(), Some(DbError::InUse { .. }))) =>
            {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => return Err(e),
        }
    }
}

/// A startup step the database keeps waiting (another session holds a lock on the saved
/// world's table) stops startup at `--startup-timeout` with an error naming that session, its
/// waiting statement is cancelled, and once the lock is released the server starts on the
/// same saved world.
#[test]
fn a_startup_step_held_up_by_a_lock_stops_startup_naming_the_holder() {
    use sqlx::{ConnectOptions, Connection};
    use starforge_persistence::{flush_now, wait_confirmed};
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let starforge_persistence::DbTarget::Postgres(db_url) = pg.target() else { unreachable!() };
    let config = loopback_config(8, &["--database-url", &db_url]);
    // A saved world.
    let saved = {
        let mut storage = open(&config).unwrap_or_else(|e| panic!("storage opens: {e:#}"));
        let mut app = build_persistent_app(&config, Tuning::default(), Some(&mut storage)).expect("app");
        app.finish();
        app.cleanup();
        let batch = flush_now(app.world_mut(), PATIENCE).expect("the batch is queued");
        wait_confirmed(app.world(), batch, PATIENCE).expect("the batch is confirmed");
        batch
    };
    let count_rows = || -> i64 {
        let db = starforge_tests::persist::connect(&rt, &pg.target());
        let starforge_persistence::Db::Postgres(pool) = &db else { unreachable!("a Postgres target") };
        let n =
            rt.block_on(sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM empires) + (SELECT count(*) FROM fleets) + (SELECT count(*) FROM ships) \
                 + (SELECT count(*) FROM colonies) + (SELECT count(*) FROM market_orders)",
            ).fetch_one(pool)).expect("count");
        rt.block_on(db.close());
        n
    };
    let rows = count_rows();
    assert!(rows > 0, "the world is saved");

    // Another session locks the ships table and keeps its transaction open.
    let options = sqlx::postgres::PgConnectOptions::from_str(&db_url).expect("URL").application_name("lock-holder");
    let mut holder = rt.block_on(options.connect()).expect("a second session");
    let pid: i32 = rt.block_on(sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut holder)).expect("pid");
    let mut tx = rt.block_on(holder.begin()).expect("BEGIN");
    rt.block_on(sqlx::query("LOCK TABLE ships IN ACCESS EXCLUSIVE MODE").execute(&mut *tx)).expect("LOCK");

    // Only this start has the short limit (a loaded machine may take a second for the others).
    let short = loopback_config(8, &["--database-url", &db_url, "--startup-timeout", "1"]);
    let (sender, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(open(&short).err()));
    let error = outcome
        .recv_timeout(PATIENCE)
        .expect("startup gives up within its limit instead of waiting for the lock")
        .expect("startup stops while the table is locked");
    let stalled = error.chain().find_map(|c| match c.downcast_ref() {
        Some(DbError::Stalled { step, blockers, .. }) => Some((*step, blockers.clone())),
        _ => None,
    });
    let (step, blockers) = stalled.unwrap_or_else(|| panic!("a stalled step: {error:#}"));
    assert_eq!(step, "reading the saved world", "{error:#}");
    assert!(
        blockers.contains(&format!("pid {pid} (lock-holder, idle in transaction"))
            && blockers.contains("LOCK TABLE ships IN ACCESS EXCLUSIVE MODE"),
        "the message names the session holding the lock: {error:#}"
    );
    assert!(format!("{error:#}").contains("--startup-timeout"), "and says what to do: {error:#}");
    // Its statement was cancelled rather than left queued for the lock (a backend waiting for a
    // lock does not notice its client leaving: it would block others until the holder ends).
    let deadline = Instant::now() + PATIENCE;
    loop {
        let db = starforge_tests::persist::connect(&rt, &pg.target());
        let starforge_persistence::Db::Postgres(pool) = &db else { unreachable!("a Postgres target") };
        let waiting: i64 = rt
            .block_on(
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND application_name = 'starforge' AND wait_event_type = 'Lock'",
                )
                .fetch_one(pool),
            )
            .expect("count the waiting sessions");
        rt.block_on(db.close());
        if waiting == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{waiting} statements of the stopped start still wait for the lock");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Released: the server starts on the same saved world.
    rt.block_on(tx.commit()).expect("COMMIT");
    let mut storage = open(&config).unwrap_or_else(|e| panic!("storage opens once the lock is gone: {e:#}"));
    let loaded = storage.loaded.take().expect("the saved world");
    assert_eq!((loaded.batch, loaded.records.len() as i64), (saved, rows));
    drop(storage);
    assert_eq!(count_rows(), rows);
}
