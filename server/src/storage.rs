//! The server's storage: the database (Postgres when `--database-url`/`DATABASE_URL` is set,
//! else the SQLite file `--db-path`), the saved world, the writer, accounts and Redis.
//!
//! Startup ([`open_storage`]): connect (5 s timeout), take the world lock (a second server on
//! the same database stops here, see `starforge_persistence::lock`), run migrations (a failure
//! stops startup with the migration's name and reason), write a spill file the last shutdown
//! left, read the saved world if there is one. Each step against the database runs under
//! `--startup-timeout` (`Db::patiently`): a step the database keeps waiting (a lock held by
//! another session) is reported every 10 s with who holds the lock, and stops startup at
//! the limit.
//! Then [`install`] restores that world into the app, or generates one from the seed, and
//! starts the writer; accounts whose empire was never saved (the server stopped between the account's
//! creation and the next flush) get their starting empire back under their old id.
//!
//! Each frame [`report`] turns the writer's state into `/health` (degraded while the database
//! is unreachable or failing) and `/metrics` gauges.

use std::sync::Arc;

use anyhow::Context;
use bevy_app::prelude::*;
use bevy_ecs::prelude::{Res, Resource, World};
use bevy_ecs::schedule::IntoScheduleConfigs;
use starforge_components::prelude::*;
use starforge_persistence::restore::{self, LoadedWorld};
use starforge_persistence::spill::{self, SpillTarget};
use starforge_persistence::writer::{WriterOptions, WriterState};
use starforge_persistence::{
    CacheOptions, CacheStats, Db, DbTarget, PendingChanges, PersistAfter, PersistencePlugin, Persister, Profiles,
    RedisCache, WorldLock,
};
use starforge_systems::SimSystems;
use tracing::{info, warn};

use crate::ServerConfig;

/// An open database with what it holds.
pub struct Storage {
    /// The runtime the writer, the pool's connections and the Redis connection live on.
    pub runtime: Arc<tokio::runtime::Runtime>,
    /// The database.
    pub db: Db,
    /// Where it is (for logs; passwords hidden by its `Debug`).
    pub target: DbTarget,
    /// The saved world, until [`install`] consumes it.
    pub loaded: Option<LoadedWorld>,
    /// Accounts with the login cache in front.
    pub profiles: Arc<Profiles>,
    /// The Redis connection, if configured.
    pub cache: Option<RedisCache>,
    /// This server's claim on the database (a second server on it stops at startup).
    pub lock: WorldLock,
    /// Where the world goes if the database does not confirm it at shutdown.
    pub spill: SpillTarget,
}

/// Connects to the configured database and reads what it holds; `None` with `--ephemeral`.
pub fn open_storage(config: &ServerConfig) -> anyhow::Result<Option<Storage>> {
    if config.ephemeral {
        warn!("--ephemeral: nothing is saved; the world and all accounts are lost when the server stops");
        return Ok(None);
    }
    let target = DbTarget::from_url_or(config.database_url.clone(), &config.db_path);
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("persist")
            .enable_all()
            .build()
            .context("cannot start the persistence runtime")?,
    );
    let db = runtime.block_on(Db::connect(&target)).context("cannot open the database")?;
    let lock = runtime.block_on(db.lock_world()).context("cannot open the database")?;
    let limit = config.startup_timeout;
    step(&runtime, &db, limit, "running migrations", db.migrate()).context("database migrations failed")?;
    let spill = spill_target(config, &target);
    let applied = step(&runtime, &db, limit, "writing the spill file", spill::apply_pending(&db, &spill))
        .context("the last shutdown left a spill file")?;
    if let Some(tick) = applied {
        warn!(
            tick,
            "the last shutdown could not reach the database: the world it saved in {} is now written to the database",
            spill.path.display()
        );
    }
    let loaded = step(&runtime, &db, limit, "reading the saved world", restore::load(&db))
        .context("cannot read the saved world")?;
    let cache = match config.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
        None => None,
        Some(url) => {
            let _guard = runtime.enter();
            let cache = RedisCache::open(url, &config.redis_prefix, CacheOptions::default())
                .context("bad Redis URL (--redis-url / REDIS_URL)")?;
            match runtime.block_on(cache.ping()) {
                Ok(()) => info!("Redis at {}: login cache, leaderboard and ticker on", cache.location()),
                Err(e) => warn!("Redis unreachable ({e}); logins use the database until it answers"),
            }
            Some(cache)
        }
    };
    let profiles = Arc::new(Profiles::new(db.clone(), cache.clone()));
    Ok(Some(Storage { runtime, db, target, loaded, profiles, cache, lock, spill }))
}

/// Runs one startup step against `db` under `limit` ([`Db::patiently`]): the step's own error
/// or the database's stall, as one error.
fn step<T, E>(
    runtime: &tokio::runtime::Runtime,
    db: &Db,
    limit: std::time::Duration,
    name: &'static str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    Ok(runtime.block_on(db.patiently(name, limit, work))??)
}

/// Where the world is spilled at a shutdown the database does not confirm (`--spill-path`; made
/// absolute from the working directory at startup), and the database's name as the file records
/// it (a SQLite file by its canonical path, so `./world.db` and `world.db` are one).
pub fn spill_target(config: &ServerConfig, target: &DbTarget) -> SpillTarget {
    let path = config.spill_path.clone().unwrap_or_else(|| match target {
        DbTarget::Sqlite(db) => starforge_persistence::db::beside(db, ".spill"),
        DbTarget::Postgres(_) => "starforge.spill".into(),
    });
    let path = std::path::absolute(&path).unwrap_or(path);
    let database = match target {
        DbTarget::Sqlite(db) => format!("{:?}", DbTarget::Sqlite(std::fs::canonicalize(db).unwrap_or(db.clone()))),
        DbTarget::Postgres(_) => format!("{target:?}"),
    };
    SpillTarget { path, database }
}

/// Restores the saved world into `app` (or generates one with `generate`), adds persistence
/// and starts the writer.
pub fn install(
    app: &mut App,
    storage: &mut Storage,
    config: &ServerConfig,
    generate: impl FnOnce(&mut World),
) -> anyhow::Result<()> {
    app.add_plugins(PersistencePlugin);
    app.configure_sets(FixedUpdate, PersistAfter.after(SimSystems::Bookkeeping));
    let world = app.world_mut();
    let (batch, tick) = match storage.loaded.take() {
        Some(loaded) => {
            let (batch, tick, entities) = (loaded.batch, loaded.meta.tick, loaded.records.len());
            restore::apply(world, loaded).context("cannot restore the saved world")?;
            info!(
                tick,
                batch,
                entities,
                seed = world.resource::<WorldSeed>().0,
                "restored the world from {:?} (generation flags such as --seed and --systems are ignored)",
                storage.target
            );
            let respawned = reconcile_accounts(world, storage, config.startup_timeout)?;
            // Everything restored counts as "added" at the first collection; the database holds
            // it already, so that collection is dropped now (unless accounts were reconciled:
            // then it is written again with the respawned empires, which is harmless).
            if respawned == 0 {
                starforge_persistence::mark_saved(world);
            }
            (batch, tick)
        }
        None => {
            generate(world);
            info!("new world generated from seed {}; it is saved at the first flush", config.seed);
            // Accounts without a saved world: the server stopped before its first flush.
            reconcile_accounts(world, storage, config.startup_timeout)?;
            (0, world.resource::<SimTick>().0)
        }
    };
    let mut persister =
        Persister::start(storage.runtime.clone(), storage.db.clone(), WriterOptions::default(), batch, tick);
    persister.shutdown_timeout = config.shutdown_timeout;
    persister.spill = Some(storage.spill.clone());
    app.insert_resource(persister);
    Ok(())
}

/// Gives every account whose empire is missing from the restored world its starting empire
/// back, under its old id. Returns how many were recreated.
fn reconcile_accounts(world: &mut World, storage: &Storage, limit: std::time::Duration) -> anyhow::Result<usize> {
    let db = &storage.db;
    let accounts = step(&storage.runtime, db, limit, "listing accounts", restore::account_ids(db))
        .context("cannot list accounts")?;
    let mut respawned = 0;
    for (id, name) in accounts {
        let id = EntityId(id);
        if let Some(e) = world.resource::<EntityIndex>().get(id) {
            if world.get::<Empire>(e).is_some() {
                continue;
            }
            anyhow::bail!(
                "account {name:?} names entity {}, which is not an empire: the saved world and the accounts \
                 disagree (a partially restored database, or generation flags changed before the first save); \
                 refusing to start rather than give that player someone else's entity",
                id.0
            );
        }
        // An id the allocator never reached (the world was saved before it was handed out):
        // move the allocator past it so it is never given to anything else.
        let next = world.resource::<IdAllocator>().next;
        if id.0 >= next {
            world.resource_mut::<IdAllocator>().next = id.0 + 1;
        }
        starforge_systems::spawn::respawn_player_empire(world, &name, id)
            .map_err(|e| anyhow::anyhow!("cannot recreate the empire of account {name:?} ({}): {e}", id.0))?;
        warn!(player = id.0, %name, "the account's empire was not saved before the last stop; starting empire recreated");
        respawned += 1;
    }
    Ok(respawned)
}

/// What [`report`] writes to.
#[derive(Resource, Clone)]
pub struct PersistReport {
    /// `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `/health`.
    pub health: Arc<crate::http::HealthState>,
    /// Login cache counters, if accounts are in the database.
    pub cache: Option<Arc<CacheStats>>,
}

/// Writer state → `/health` and `/metrics` (every frame, in `Last`).
pub fn report(
    report: Option<Res<PersistReport>>,
    persister: Option<Res<Persister>>,
    pending: Option<Res<PendingChanges>>,
    tuning: Res<Tuning>,
    tick: Res<SimTick>,
) {
    let (Some(report), Some(persister)) = (report, persister) else { return };
    let status = persister.status().snapshot();
    let m = &report.metrics;
    let state = match &status.state {
        WriterState::Healthy => 0.0,
        WriterState::Retrying { .. } => 1.0,
        WriterState::Failed { .. } => 2.0,
    };
    m.set_gauge(
        "starforge_persist_state",
        "gauge",
        "Database writer: 0 healthy, 1 retrying, 2 failed (simulation halted).",
        state,
    );
    m.set_gauge(
        "starforge_persist_confirmed_tick",
        "gauge",
        "Tick of the newest state the database holds.",
        status.confirmed_tick as f64,
    );
    m.set_gauge(
        "starforge_persist_lag_ticks",
        "gauge",
        "Ticks since the state the database holds.",
        tick.0.saturating_sub(status.confirmed_tick) as f64,
    );
    m.set_gauge(
        "starforge_persist_pending_entities",
        "gauge",
        "Entity records held for the database: deletions since the last flush, plus every change while \
         the writer lags (changes are collected once per flush interval).",
        pending.map_or(0, |p| p.len()) as f64,
    );
    m.set_gauge("starforge_persist_rows_total", "counter", "Rows written to the database.", status.rows as f64);
    m.set_gauge("starforge_persist_batches_total", "counter", "Batches (transactions) written.", status.batches as f64);
    m.set_gauge("starforge_persist_failures_total", "counter", "Failed write attempts.", status.failures as f64);
    m.set_gauge(
        "starforge_persist_flush_seconds",
        "gauge",
        "Duration of the last write transaction.",
        status.last_flush_ms / 1000.0,
    );
    if let Some(cache) = &report.cache {
        let c = cache.snapshot();
        m.set_gauge("starforge_login_cache_hits_total", "counter", "Login lookups answered by Redis.", c.hits as f64);
        m.set_gauge(
            "starforge_login_cache_misses_total",
            "counter",
            "Login lookups Redis did not have.",
            c.misses as f64,
        );
        m.set_gauge(
            "starforge_login_cache_errors_total",
            "counter",
            "Login lookups where Redis failed (the database answered).",
            c.errors as f64,
        );
        m.set_gauge(
            "starforge_login_cache_bypassed_total",
            "counter",
            "Login lookups and cache writes that skipped Redis while it was failing (circuit breaker open).",
            c.bypassed as f64,
        );
    }
    let interval = tuning.world.flush_interval_ticks();
    let degraded = match &status.state {
        WriterState::Failed { error } => {
            Some(format!("persistence failed, simulation halted until the database accepts writes: {error}"))
        }
        WriterState::Retrying { attempts, error } => Some(format!(
            "database unreachable ({attempts} failed attempts, retrying): {error}; the game runs, changes since tick {} are kept in memory",
            status.confirmed_tick
        )),
        WriterState::Healthy if tick.0.saturating_sub(status.confirmed_tick) > 10 * interval + 20 => {
            Some(format!("database writes lag: it holds tick {} of {}", status.confirmed_tick, tick.0))
        }
        WriterState::Healthy => None,
    };
    report.health.set_degraded(degraded);
}

/// Adds [`report`] (call after the network is up).
pub fn add_reporting(app: &mut App, report_to: PersistReport) {
    app.insert_resource(report_to).add_systems(Last, report);
}
