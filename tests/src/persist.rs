//! The simulation with persistence, as the persistence tests build it: a generated world, a
//! writer on its own tokio runtime, flushing and confirming, and restoring into a fresh app.

use std::sync::Arc;
use std::time::Duration;

use bevy_app::{App, FixedMain, FixedUpdate};
use bevy_ecs::schedule::IntoScheduleConfigs;
use bevy_time::{Fixed, Time, TimePlugin, TimeUpdateStrategy};
use starforge_components::prelude::*;
use starforge_persistence::{Db, DbTarget, PersistAfter, PersistencePlugin, flush_now, restore, wait_confirmed};
use starforge_systems::prelude::*;

/// Generous bound for the database to confirm a batch (a hang guard, not a performance bar).
pub const CONFIRM: Duration = Duration::from_secs(60);

/// A tokio runtime for the writer (and anything else the test runs asynchronously).
pub fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime"))
}

/// The simulation and persistence, no world yet; the test runs `FixedMain` itself.
pub fn sim_app() -> App {
    build(false)
}

/// Like [`sim_app`], plus `bevy_time`'s `TimePlugin` as the server has it, with time advanced
/// by exactly one tick period per `app.update()` (not by the wall clock): each update runs one
/// tick unless `Time<Virtual>` is paused.
pub fn timed_sim_app() -> App {
    build(true)
}

fn build(timed: bool) -> App {
    let mut app = App::new();
    app.insert_resource(Tuning::default());
    if timed {
        let period = Duration::from_secs_f64(1.0 / f64::from(Tuning::default().world.tick_hz.max(1)));
        app.add_plugins(TimePlugin);
        app.insert_resource(Time::<Fixed>::from_duration(period));
        app.insert_resource(TimeUpdateStrategy::FixedTimesteps(1));
    }
    app.add_plugins((SimulationPlugin, PersistencePlugin));
    app.configure_sets(FixedUpdate, PersistAfter.after(SimSystems::Bookkeeping));
    app.finish();
    app.cleanup();
    app
}

/// Generates the tests' world (seed `seed`, 12 systems, 500 ships, 30 colonies, 150 resting
/// orders) in `app`.
pub fn generate(app: &mut App, seed: u64) {
    let params = GenParams { seed, systems: Some(12), ships: Some(500), colonies: Some(30), resting_orders: 150 };
    generate_world(app.world_mut(), &params);
}

/// A [`sim_app`] with the generated world of `seed`.
pub fn generated(seed: u64) -> App {
    let mut app = sim_app();
    generate(&mut app, seed);
    app
}

/// Connects to `target` and migrates.
pub fn connect(rt: &tokio::runtime::Runtime, target: &DbTarget) -> Db {
    rt.block_on(async {
        let db = Db::connect(target).await.expect("connect");
        db.migrate().await.expect("migrate");
        db
    })
}

/// Runs one tick and returns the world hash after it.
pub fn tick(app: &mut App) -> u64 {
    app.world_mut().run_schedule(FixedMain);
    world_hash(app.world_mut())
}

/// Flushes now and waits until the database holds it.
pub fn flush_and_confirm(app: &mut App) {
    let batch = flush_now(app.world_mut(), CONFIRM).expect("the writer takes the batch");
    if let Err(status) = wait_confirmed(app.world(), batch, CONFIRM) {
        panic!("batch {batch} not confirmed: {status:?}");
    }
}

/// A new [`sim_app`] holding the world `db` holds.
pub fn restored(rt: &tokio::runtime::Runtime, db: &Db) -> App {
    let loaded = rt.block_on(restore::load(db)).expect("load").expect("the database holds a world");
    let mut app = sim_app();
    restore::apply(app.world_mut(), loaded).expect("apply");
    app
}
