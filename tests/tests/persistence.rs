//! The persisted world against real databases (Postgres in a fresh database per test, SQLite in
//! a temporary file): flush, restore, continue; the database equals the world.
//!
//! Postgres tests print "skipped: ..." when Postgres is absent, unless
//! `STARFORGE_REQUIRE_SERVICES=1`.

use std::sync::Arc;
use std::time::Duration;

use bevy_app::{App, FixedMain, FixedUpdate};
use bevy_ecs::schedule::IntoScheduleConfigs;
use starforge_components::prelude::*;
use starforge_persistence::writer::WriterOptions;
use starforge_persistence::{
    Db, DbTarget, PersistAfter, PersistencePlugin, Persister, flush_now, restore, wait_confirmed,
};
use starforge_systems::prelude::*;
use starforge_tests::services::{TestPg, TestSqlite};

/// Generous bound for the database to confirm a batch (a hang guard, not a performance bar).
const CONFIRM: Duration = Duration::from_secs(60);

fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime"))
}

fn sim_app() -> App {
    let mut app = App::new();
    app.insert_resource(Tuning::default());
    app.add_plugins((SimulationPlugin, PersistencePlugin));
    app.configure_sets(FixedUpdate, PersistAfter.after(SimSystems::Bookkeeping));
    app.finish();
    app.cleanup();
    app
}

fn connect(rt: &tokio::runtime::Runtime, target: &DbTarget) -> Db {
    rt.block_on(async {
        let db = Db::connect(target).await.expect("connect");
        db.migrate().await.expect("migrate");
        db
    })
}

fn generated(seed: u64) -> App {
    let mut app = sim_app();
    let params = GenParams { seed, systems: Some(12), ships: Some(500), colonies: Some(30), resting_orders: 150 };
    generate_world(app.world_mut(), &params);
    app
}

fn tick(app: &mut App) -> u64 {
    app.world_mut().run_schedule(FixedMain);
    world_hash(app.world_mut())
}

/// Flushes now and waits until the database holds it.
fn flush_and_confirm(app: &mut App) {
    let batch = flush_now(app.world_mut(), CONFIRM).expect("the writer takes the batch");
    if let Err(status) = wait_confirmed(app.world(), batch, CONFIRM) {
        panic!("batch {batch} not confirmed: {status:?}");
    }
}

fn restored(rt: &tokio::runtime::Runtime, db: &Db) -> App {
    let loaded = rt.block_on(restore::load(db)).expect("load").expect("the database holds a world");
    let mut app = sim_app();
    restore::apply(app.world_mut(), loaded).expect("apply");
    app
}

/// Run with periodic flushes, stop at a flush, restore into a new app: same hash, and the same
/// hashes tick by tick as the run that never stopped.
fn restore_continues_like_a_run_that_never_stopped(target: DbTarget) {
    let rt = runtime();
    let db = connect(&rt, &target);
    let mut a = generated(5);
    a.insert_resource(Persister::start(rt.clone(), db.clone(), WriterOptions::default(), 0, 0));
    for _ in 0..300 {
        tick(&mut a);
    }
    flush_and_confirm(&mut a);
    let at_flush = world_hash(a.world_mut());
    let flush_tick = a.world().resource::<SimTick>().0;

    let mut b = restored(&rt, &db);
    assert_eq!(b.world().resource::<SimTick>().0, flush_tick);
    assert_eq!(world_hash(b.world_mut()), at_flush, "the restored world equals the world at the last flush");
    let mut q = b.world_mut().query::<&EntityId>();
    assert!(q.iter(b.world()).count() > 500, "ships, fleets, empires and colonies came back");

    // A keeps running (and flushing); B, without a persister, must follow it exactly.
    for i in 0..400 {
        let (ha, hb) = (tick(&mut a), tick(&mut b));
        assert_eq!(ha, hb, "hashes diverge {} ticks after the restore", i + 1);
    }
    let stats = *a.world().resource::<SimStats>();
    assert!(stats.shots > 0 && stats.trades > 0, "the run exercised combat and trade: {stats:?}");

    // The database also equals A after A's last flush.
    flush_and_confirm(&mut a);
    let mut c = restored(&rt, &db);
    assert_eq!(world_hash(c.world_mut()), world_hash(a.world_mut()), "the database equals the world");
    rt.block_on(db.close());
}

#[test]
fn sqlite_restore_continues_like_a_run_that_never_stopped() {
    let file = TestSqlite::new();
    restore_continues_like_a_run_that_never_stopped(file.target());
}

#[test]
fn postgres_restore_continues_like_a_run_that_never_stopped() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    restore_continues_like_a_run_that_never_stopped(pg.target());
}

#[test]
fn an_empty_database_holds_no_world() {
    let file = TestSqlite::new();
    let rt = runtime();
    let db = connect(&rt, &file.target());
    assert!(rt.block_on(restore::load(&db)).expect("load").is_none());
}
