//! The persisted world when the database fails, against real Postgres (a fresh database per
//! test) reached through a [`Proxy`] the test cuts, stalls and restores (the machine's
//! Postgres itself is never stopped), or made to refuse writes with a trigger:
//!
//! - unreachable or hanging mid-run: the simulation keeps running with bounded pending state,
//!   the writer retries, and once the database is back everything is written;
//! - a non-transient failure halts the simulation (virtual time paused) until an operator fixes
//!   the database, then it resumes by itself;
//! - a writer stuck for several flush intervals loses no change: the newest state is kept;
//! - a shutdown while the database is away spills the world to a file the next start writes.
//!
//! The tests print "skipped: ..." when Postgres is absent, unless
//! `STARFORGE_REQUIRE_SERVICES=1`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_app::{App, AppExit, FixedMain};
use bevy_ecs::message::Messages;
use bevy_ecs::query::With;
use bevy_time::{Time, Virtual};
use sqlx::Connection;
use starforge_components::prelude::*;
use starforge_persistence::Change;
use starforge_persistence::rows::{History, HistoryEntry, Record};
use starforge_persistence::spill::{self, SpillError, SpillTarget};
use starforge_persistence::writer::{StatusSnapshot, WriterOptions, WriterState};
use starforge_persistence::{Db, PendingChanges, Persister, collect_now, final_flush};
use starforge_systems::prelude::*;
use starforge_tests::persist::{connect, flush_and_confirm, generate, generated, restored, runtime, timed_sim_app};
use starforge_tests::services::{Proxy, TestPg};

/// Hang guard for conditions that follow from what the test did (not a performance bar).
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Short waits, so that outages and recoveries are noticed quickly.
fn quick_options(queue: usize, attempt_timeout: Duration) -> WriterOptions {
    WriterOptions {
        queue,
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        failed_retry: Duration::from_millis(50),
        attempt_timeout,
    }
}

fn status(app: &App) -> StatusSnapshot {
    app.world().resource::<Persister>().status().snapshot()
}

/// Calls `step` until `done` holds; panics (naming `what` and the writer's status) after the
/// hang guard.
fn until(app: &mut App, what: &str, mut step: impl FnMut(&mut App), mut done: impl FnMut(&App) -> bool) {
    let started = Instant::now();
    while !done(app) {
        assert!(started.elapsed() < HANG_GUARD, "{what}: still not the case; writer {:?}", status(app));
        step(app);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One tick, without the hash.
fn step(app: &mut App) {
    app.world_mut().run_schedule(FixedMain);
}

fn sim_tick(app: &App) -> u64 {
    app.world().resource::<SimTick>().0
}

fn flush_interval(app: &App) -> u64 {
    app.world().resource::<Tuning>().world.flush_interval_ticks()
}

/// Every pending entry is the entity's (or order's) current existence, each id once, so the
/// map is bounded by the live entities and open orders plus the ids deleted since the last
/// flush, however long the writer lags. Returns (entries, deletions).
fn check_pending(app: &mut App) -> (usize, usize) {
    let world = app.world_mut();
    // Changes are collected once per flush interval: collect the ticks since the last one, and
    // compact as a handed-back batch is.
    collect_now(world);
    world.resource_mut::<PendingChanges>().entities.compact();
    let live: HashSet<EntityId> = world.query::<&EntityId>().iter(world).copied().collect();
    let market = world.resource::<Market>();
    let pending = world.resource::<PendingChanges>();
    let mut deletions = 0;
    let ids: Vec<EntityId> = pending.entities.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "each id once");
    for (id, record) in pending.entities.iter() {
        match record {
            Change::Saved(Record::Order(order)) => {
                assert_eq!(market.get(*id), Some(order), "pending order {} is not the current one", id.0);
            }
            Change::Saved(_) => assert!(live.contains(id), "pending record of {}, which is gone", id.0),
            Change::Deleted(_) => {
                deletions += 1;
                assert!(!live.contains(id) && market.get(*id).is_none(), "{} is pending deletion but exists", id.0);
            }
        }
    }
    let open_orders = market.resting() + market.incoming().len();
    assert!(
        pending.len() - deletions <= live.len() + open_orders,
        "{} pending records for {} entities and {open_orders} orders",
        pending.len() - deletions,
        live.len()
    );
    (pending.len(), deletions)
}

/// The database (read directly, not through the proxy) holds exactly the live world.
fn assert_database_equals_world(rt: &tokio::runtime::Runtime, pg: &TestPg, app: &mut App) {
    let direct = connect(rt, &pg.target());
    let mut saved = restored(rt, &direct);
    assert_eq!(sim_tick(&saved), sim_tick(app), "the database holds the last tick");
    assert_eq!(world_hash(saved.world_mut()), world_hash(app.world_mut()), "the database equals the world");
    rt.block_on(direct.close());
}

/// A generated world persisted to a fresh Postgres database through a [`Proxy`], run for a
/// while and flushed (the database confirmed it).
struct ProxiedRun {
    app: App,
    db: Db,
    proxy: Proxy,
    pg: TestPg,
    rt: Arc<tokio::runtime::Runtime>,
}

impl ProxiedRun {
    /// `None` if Postgres is absent (and not required). The writer has a one-batch queue and
    /// gives an attempt up after `attempt_timeout`.
    fn start(seed: u64, attempt_timeout: Duration) -> Option<ProxiedRun> {
        let rt = runtime();
        let pg = rt.block_on(TestPg::create())?;
        let proxy = rt.block_on(Proxy::start(pg.upstream()));
        let db = connect(&rt, &pg.target_via(&proxy));
        let mut app = generated(seed);
        let options = quick_options(1, attempt_timeout);
        app.insert_resource(Persister::start(rt.clone(), db.clone(), options, 0, 0));
        for _ in 0..50 {
            step(&mut app);
        }
        flush_and_confirm(&mut app);
        assert_eq!(status(&app).state, WriterState::Healthy);
        Some(ProxiedRun { app, db, proxy, pg, rt })
    }
}

#[derive(Clone, Copy, Debug)]
enum Outage {
    /// Connections are closed and refused.
    Cut,
    /// Connections hang.
    Stall,
}

/// Postgres goes away mid-run and comes back: the simulation keeps running, the writer
/// retries, and afterwards the database equals the world.
fn outage_then_recovery(outage: Outage) {
    let Some(ProxiedRun { mut app, db, proxy, pg, rt }) = ProxiedRun::start(11, Duration::from_secs(2)) else {
        return;
    };
    let before = status(&app);

    match outage {
        Outage::Cut => proxy.cut(),
        Outage::Stall => proxy.stall(),
    }
    // Keep ticking for at least four flush intervals and until the writer has failed twice.
    let started_at = sim_tick(&app);
    let at_least = started_at + 4 * flush_interval(&app);
    let mut ticks = 0;
    until(
        &mut app,
        "the writer retries during the outage",
        |app| {
            step(app);
            ticks += 1;
        },
        |app| sim_tick(app) >= at_least && status(app).failures >= before.failures + 2,
    );
    assert_eq!(sim_tick(&app), started_at + ticks, "every tick ran during the outage");
    let during = status(&app);
    assert!(matches!(&during.state, WriterState::Retrying { attempts, .. } if *attempts >= 2), "{during:?}");
    assert_eq!(
        (during.confirmed_batch, during.confirmed_tick),
        (before.confirmed_batch, before.confirmed_tick),
        "nothing is confirmed while the database is away"
    );
    assert!(app.world().resource::<Persister>().deferred > 0, "the writer lagged, batches were handed back");
    let (pending, _) = check_pending(&mut app);
    assert!(pending > 0, "changes wait for the database");
    // Still bounded after many more ticks.
    for _ in 0..3 * flush_interval(&app) {
        step(&mut app);
    }
    check_pending(&mut app);

    proxy.restore();
    until(&mut app, "the writer catches up after the outage", step, |app| {
        let s = status(app);
        s.state == WriterState::Healthy && s.confirmed_batch > before.confirmed_batch
    });
    for _ in 0..10 {
        step(&mut app);
    }
    flush_and_confirm(&mut app);
    let after = status(&app);
    assert_eq!(after.state, WriterState::Healthy);
    assert!(after.failures >= during.failures, "{after:?}");
    assert_database_equals_world(&rt, &pg, &mut app);
    rt.block_on(db.close());
}

#[test]
fn postgres_cut_mid_run_loses_nothing_once_it_is_back() {
    outage_then_recovery(Outage::Cut);
}

#[test]
fn postgres_hanging_mid_run_loses_nothing_once_it_answers_again() {
    outage_then_recovery(Outage::Stall);
}

/// Runs `sql` on the test database (directly).
fn execute(rt: &tokio::runtime::Runtime, pg: &TestPg, sql: &'static str) {
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&pg.url).await.expect("connect to the test database");
        sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
        conn.close().await.expect("close");
    });
}

fn paused(app: &App) -> bool {
    app.world().resource::<Time<Virtual>>().is_paused()
}

/// A write the database refuses (a trigger raising, as a full-disk or permission policy
/// would) is not retried as if transient: the simulation halts until the trigger is gone,
/// then resumes by itself and the database equals the world.
#[test]
fn a_refusing_database_halts_the_simulation_until_it_is_fixed() {
    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let db = connect(&rt, &pg.target());
    let mut app = timed_sim_app();
    generate(&mut app, 12);
    app.insert_resource(Persister::start(rt.clone(), db.clone(), quick_options(1, Duration::from_secs(30)), 0, 0));
    let start = sim_tick(&app);
    for _ in 0..30 {
        app.update();
    }
    assert!(sim_tick(&app) > start, "updates run ticks");
    flush_and_confirm(&mut app);
    let before = status(&app);
    assert!(!paused(&app));

    execute(
        &rt,
        &pg,
        "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'disk policy: no writes'; END $$; \
         CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE ON ships \
         FOR EACH ROW EXECUTE FUNCTION refuse_writes();",
    );
    // The next periodic flush fails; the frame after the writer reports it pauses time.
    until(&mut app, "the simulation halts", App::update, paused);
    let failed = status(&app);
    assert!(
        matches!(&failed.state, WriterState::Failed { error } if error.contains("disk policy: no writes")),
        "{failed:?}"
    );
    assert!(app.world().resource::<Persister>().is_halted());
    assert_eq!(failed.confirmed_batch, before.confirmed_batch, "nothing more is confirmed");

    // Halted: frames go on, ticks do not; the writer keeps retrying (every `failed_retry`).
    let halted_at = sim_tick(&app);
    until(&mut app, "the writer retries while failed", App::update, |app| status(app).failures >= failed.failures + 3);
    assert_eq!(sim_tick(&app), halted_at, "no tick runs while persistence is failed");
    assert!(paused(&app));
    let still = status(&app);
    assert!(matches!(still.state, WriterState::Failed { .. }), "{still:?}");
    assert_eq!(still.confirmed_batch, before.confirmed_batch);

    // The operator fixes the database: the writer succeeds, time resumes by itself.
    execute(&rt, &pg, "DROP TRIGGER refuse_writes ON ships; DROP FUNCTION refuse_writes();");
    until(&mut app, "the simulation resumes", App::update, |app| !paused(app));
    let recovered = status(&app);
    assert_eq!(recovered.state, WriterState::Healthy);
    assert!(recovered.confirmed_batch > before.confirmed_batch, "{recovered:?}");
    assert!(!app.world().resource::<Persister>().is_halted());
    let resumed_at = sim_tick(&app);
    for _ in 0..5 {
        app.update();
    }
    assert!(sim_tick(&app) > resumed_at, "ticks run again");

    flush_and_confirm(&mut app);
    assert_database_equals_world(&rt, &pg, &mut app);
    rt.block_on(db.close());
}

/// With a one-batch queue and a hanging database, the writer is stuck on one batch for
/// several flush intervals: later flushes are handed back and merge into the pending map,
/// which keeps each entity's newest state once; when the database answers again, nothing is
/// missing.
#[test]
fn a_stuck_writer_keeps_the_newest_state_of_every_entity() {
    // An attempt timeout long enough that the stuck batch is never given up during the test.
    let Some(ProxiedRun { mut app, db, proxy, pg, rt }) = ProxiedRun::start(13, Duration::from_secs(600)) else {
        return;
    };
    let before = status(&app);

    proxy.stall();
    let deferred = |app: &App| app.world().resource::<Persister>().deferred;
    let deferred_before = deferred(&app);
    let interval = flush_interval(&app);
    let mut largest = 0;
    for flush in 1..=6 {
        for _ in 0..interval {
            step(&mut app);
        }
        let (pending, _) = check_pending(&mut app);
        largest = largest.max(pending);
        if flush == 1 {
            assert_eq!(deferred(&app), deferred_before, "the idle writer takes the first batch (and hangs)");
        }
    }
    // One batch hangs in the writer, one waits in the queue, later flushes are handed back —
    // once per flush interval, not on every tick while the writer lags.
    assert!(deferred(&app) > deferred_before, "the writer lags: flushes were handed back");
    assert!(deferred(&app) - deferred_before <= 6, "one attempt per interval: {}", deferred(&app) - deferred_before);
    let stuck = status(&app);
    assert_eq!(stuck.confirmed_batch, before.confirmed_batch, "the writer is stuck: {stuck:?}");
    assert!(largest > 0);

    proxy.restore();
    until(&mut app, "the stuck batches are written", step, |app| {
        status(app).confirmed_batch >= before.confirmed_batch + 2
    });
    flush_and_confirm(&mut app);
    assert_eq!(status(&app).state, WriterState::Healthy);
    assert_database_equals_world(&rt, &pg, &mut app);
    rt.block_on(db.close());
}

/// A scratch directory for spill files, removed at the end.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("starforge-{name}-{}-{:?}", std::process::id(), Instant::now()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Postgres is away at shutdown: the whole world goes to the spill file, and the next start
/// writes it to the database — which then equals the world at shutdown, ships destroyed after
/// the last write included (they do not come back), and holds the trades of the batches the
/// writer could not write. A spill file of another database is refused and kept.
#[test]
fn a_shutdown_while_postgres_is_away_spills_the_world_and_the_next_start_writes_it() {
    let Some(ProxiedRun { mut app, db, proxy, pg, rt }) = ProxiedRun::start(13, Duration::from_secs(1)) else {
        return;
    };
    let scratch = ScratchDir::new("spill");
    let path = scratch.0.join("world.spill");
    let target = SpillTarget { path: path.clone(), database: "the test's database".into() };
    {
        let mut persister = app.world_mut().resource_mut::<Persister>();
        persister.spill = Some(target.clone());
        persister.shutdown_timeout = Duration::from_secs(1);
    }
    for _ in 0..(2 * flush_interval(&app) + 3) {
        step(&mut app);
    }
    // Nothing of the run before the cut is left in the writer's hands.
    flush_and_confirm(&mut app);
    proxy.cut();
    // The database holds this ship; it is destroyed while the database is away.
    let mut ships = app.world_mut().query_filtered::<(bevy_ecs::entity::Entity, &EntityId), With<Ship>>();
    let (doomed, doomed_id) = ships.iter(app.world()).map(|(e, id)| (e, *id)).next().expect("a ship");
    app.world_mut().despawn(doomed);
    // Two trades the database never confirms: one in a batch the writer is handed while the
    // database is away (it keeps retrying it), one in the batch of the final flush.
    let trade = |app: &mut App, seq: u32| {
        let tick = sim_tick(app);
        let event = TradeExecuted {
            resource: ResourceKind::Energy,
            price: 1_000,
            quantity: 1,
            buyer: EntityId(1),
            seller: EntityId(2),
            buy_order: EntityId(3),
            sell_order: EntityId(4),
            fee: 0,
            tick,
        };
        let entry = HistoryEntry { tick, seq, event: History::Trade(event) };
        app.world_mut().resource_mut::<PendingChanges>().history.push(entry);
        (tick as i64, seq as i32)
    };
    let mut trades = vec![trade(&mut app, 900)];
    for _ in 0..flush_interval(&app) {
        step(&mut app);
    }
    let pending = &app.world().resource::<PendingChanges>().history;
    assert!(pending.iter().all(|h| h.seq != 900), "the first trade went to the writer with a batch");
    trades.push(trade(&mut app, 901));
    for _ in 0..3 {
        step(&mut app);
    }
    app.world_mut().write_message(AppExit::Success);
    final_flush(app.world_mut());
    let exit = app.world_mut().resource_mut::<Messages<AppExit>>().drain().collect::<Vec<_>>();
    assert!(exit.contains(&AppExit::from_code(3)), "the exit status says the database did not confirm: {exit:?}");
    assert!(path.exists(), "the world was spilled to {}", path.display());
    let file = spill::read(&path).expect("a readable spill file").expect("a spill file");
    let seqs: Vec<i32> = file.rows.trades.seq.iter().copied().filter(|s| *s >= 900).collect();
    assert_eq!(seqs, [900, 901], "the file holds both trades");

    let direct = connect(&rt, &pg.target());
    let Db::Postgres(pool) = &direct else { unreachable!("a Postgres target") };
    let our_trades = || -> Vec<(i64, i32)> {
        let sql = "SELECT tick, seq FROM market_trades WHERE seq >= 900 ORDER BY seq";
        rt.block_on(sqlx::query_as(sql).fetch_all(pool)).expect("read history")
    };
    assert_eq!(our_trades(), [], "the database never confirmed the trades");
    let mut before = restored(&rt, &direct);
    assert!(sim_tick(&before) < sim_tick(&app), "the database missed the last ticks");
    let mut ids = before.world_mut().query::<&EntityId>();
    assert!(ids.iter(before.world()).any(|id| *id == doomed_id), "the database still holds the destroyed ship");
    // Another database's server refuses the file and leaves it.
    let other = SpillTarget { database: "another database".into(), ..target.clone() };
    let err = rt.block_on(spill::apply_pending(&direct, &other)).expect_err("another database");
    assert!(matches!(err, SpillError::OtherDatabase { .. }), "{err}");
    assert!(path.exists(), "a refused spill file stays");

    let tick = rt.block_on(spill::apply_pending(&direct, &target)).expect("the spill is written");
    assert_eq!(tick, Some(sim_tick(&app)), "the spill holds the shutdown tick");
    assert!(!path.exists(), "a written spill file is removed");
    let mut saved = restored(&rt, &direct);
    assert_eq!(sim_tick(&saved), sim_tick(&app));
    assert_eq!(world_hash(saved.world_mut()), world_hash(app.world_mut()), "the database equals the world at shutdown");
    let mut ids = saved.world_mut().query::<&EntityId>();
    assert!(ids.iter(saved.world()).all(|id| *id != doomed_id), "a ship destroyed after the last write stays gone");
    assert_eq!(our_trades(), trades, "the trades the database had not confirmed came with the spill");
    // Nothing left to apply at the next start.
    assert_eq!(rt.block_on(spill::apply_pending(&direct, &target)).expect("no file"), None);
    rt.block_on(direct.close());
    rt.block_on(db.close());
}
