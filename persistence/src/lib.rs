//! Starforge persistence: the world flushed to Postgres or SQLite without stalling the tick,
//! and restored after a restart.
//!
//! - [`PersistencePlugin`] (`FixedUpdate`, after the simulation): every tick, the records of
//!   entities whose persisted components were added or changed, and the ids of despawned ones,
//!   are merged into [`PendingChanges`] (newest state per id, so memory is bounded by the
//!   entity count however far the writer lags), plus the tick's trades and combat reports.
//!   Every flush interval (`world.flush_interval_s`) the pending state becomes a
//!   [`writer::Batch`] for the writer task, if a [`Persister`] is installed; a full queue
//!   hands it back and newer changes merge into it.
//! - [`writer`]: the tokio task applying batches in one transaction each, set-based, with
//!   retries; [`rows`]: the component ↔ row mapping; [`restore`]: loading a saved world.
//! - [`db`] connects and migrates; [`accounts`] keeps player accounts.
//!
//! Clean shutdown: when the app exits, [`final_flush`] sends everything pending and waits for
//! the database to confirm it (up to [`Persister::shutdown_timeout`]).

pub mod accounts;
pub mod cache;
pub mod db;
pub mod profiles;
pub mod restore;
pub mod rows;
pub mod writer;

pub use accounts::AccountError;
pub use cache::{CacheError, CacheOptions, PlayerProfile, RedisCache};
pub use db::{Backend, Db, DbError, DbTarget};
pub use profiles::{CacheCounts, CacheStats, Profiles};

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::event::EntityEvent;
use bevy_ecs::prelude::*;
use bevy_time::prelude::*;
use starforge_components::galaxy::Galaxy;
use starforge_components::ids::FastMap;
use starforge_components::prelude::*;
use tracing::{error, info, warn};

use rows::{ColonyView, EmpireView, FleetView, History, HistoryEntry, Record, ShipView, WorldMeta};
use writer::{Batch, Writer, WriterOptions, WriterState};

/// The persistence stage; runs in `FixedUpdate` after the whole simulation tick.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersistSystems {
    /// Merge this tick's changes into [`PendingChanges`], then flush if due.
    Collect,
}

/// The set persistence runs after. Persistence depends on `components` only, so the server
/// places this label after the simulation: `configure_sets(FixedUpdate,
/// PersistAfter.after(SimSystems::Bookkeeping))`.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersistAfter;

/// Unsaved state: newest record per changed entity (`None` = despawned) and history.
#[derive(Resource, Debug, Default)]
pub struct PendingChanges {
    /// Changed entities since the last flush, newest state only.
    pub entities: FastMap<EntityId, Option<Record>>,
    /// Trades and combat reports since the last flush.
    pub history: Vec<HistoryEntry>,
    /// Set by a restore: the first collection re-reads every entity (they are all "added");
    /// the database holds them already, so that collection is discarded.
    pub discard_next: bool,
}

impl PendingChanges {
    /// Number of pending entity entries.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// True when no entity change is pending.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }
}

/// Collects changes after each tick and, with a [`Persister`], flushes them.
pub struct PersistencePlugin;

impl Plugin for PersistencePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PendingChanges>()
            .configure_sets(FixedUpdate, PersistSystems::Collect.after(PersistAfter))
            .add_systems(FixedUpdate, (collect_changes, flush).chain().in_set(PersistSystems::Collect))
            .add_systems(First, watch_writer)
            .add_systems(Last, final_flush)
            .add_observer(record_despawn);
        app.world_mut().get_resource_or_init::<Market>().track_changes(true);
    }
}

type EmpireChanged =
    Or<(Changed<Empire>, Changed<Credits>, Changed<Stockpile>, Changed<ShipCensus>, Changed<NpcBrain>)>;
type FleetChanged = Or<(Changed<Owner>, Changed<Fleet>, Changed<NpcBrain>)>;
// Flat: a nested tuple inside `Or` would be an AND of its members.
type ShipChanged = Or<(
    Changed<Ship>,
    Changed<Owner>,
    Changed<FleetMember>,
    Changed<Position>,
    Changed<Motion>,
    Changed<Hull>,
    Changed<Weapon>,
    Changed<Cargo>,
    Changed<ShipOrder>,
    Changed<Transit>,
    Changed<Target>,
)>;
type ColonyChanged =
    Or<(Changed<Owner>, Changed<Colony>, Changed<Buildings>, Changed<ConstructionQueue>, Changed<ShipyardQueue>)>;

/// Merges this tick's added/changed persisted components, despawns (via the observer),
/// market order changes and history into [`PendingChanges`].
#[expect(clippy::too_many_arguments, reason = "one query per persisted kind")]
pub fn collect_changes(
    mut pending: ResMut<PendingChanges>,
    mut market: ResMut<Market>,
    tick: Res<SimTick>,
    empires: Query<EmpireView<'static>, EmpireChanged>,
    fleets: Query<FleetView<'static>, FleetChanged>,
    ships: Query<ShipView<'static>, ShipChanged>,
    all_ships: Query<ShipView<'static>>,
    colonies: Query<ColonyView<'static>, ColonyChanged>,
    mut transit_removed: RemovedComponents<Transit>,
    mut trades: MessageReader<TradeExecuted>,
    mut reports: MessageReader<CombatReport>,
) {
    let p = &mut *pending;
    for v in &empires {
        p.entities.insert(*v.0, Some(Record::Empire(rows::empire_record(&v))));
    }
    for v in &fleets {
        p.entities.insert(*v.0, Some(Record::Fleet(rows::fleet_record(&v))));
    }
    for v in &ships {
        put_ship(&mut p.entities, &v);
    }
    // A ship leaving hyperspace loses `Transit`; removals are not changes.
    for e in transit_removed.read() {
        if let Ok(v) = all_ships.get(e) {
            put_ship(&mut p.entities, &v);
        }
    }
    for v in &colonies {
        p.entities.insert(*v.0, Some(Record::Colony(rows::colony_record(&v))));
    }
    for id in market.take_touched() {
        p.entities.insert(id, market.get(id).map(|o| Record::Order(*o)));
    }
    for (seq, t) in trades.read().enumerate() {
        p.history.push(HistoryEntry { tick: tick.0, seq: seq as u32, event: History::Trade(*t) });
    }
    for (seq, r) in reports.read().enumerate() {
        p.history.push(HistoryEntry { tick: tick.0, seq: seq as u32, event: History::Combat(r.clone()) });
    }
    if p.discard_next {
        p.discard_next = false;
        p.entities.clear();
        p.history.clear();
    }
}

/// Stores a ship's record, reusing the previous pending record's allocations.
fn put_ship(entities: &mut FastMap<EntityId, Option<Record>>, v: &ShipView<'_>) {
    let id = *v.0.0;
    if let Some(Some(Record::Ship(r))) = entities.get_mut(&id) {
        let mut order = std::mem::take(&mut r.order);
        order.clone_from(v.2.0);
        **r = rows::ship_record_with_order(v, order);
        return;
    }
    entities.insert(id, Some(Record::Ship(Box::new(rows::ship_record(v)))));
}

/// A despawned entity is pending deletion.
fn record_despawn(ev: On<Remove<EntityId>>, ids: Query<&EntityId>, mut pending: ResMut<PendingChanges>) {
    if let Ok(id) = ids.get(ev.event_target()) {
        pending.entities.insert(*id, None);
    }
}

/// The simulation's side of the writer: flush schedule, batch ids, shutdown policy.
#[derive(Resource)]
pub struct Persister {
    writer: Writer,
    /// Keeps the runtime the writer runs on alive for as long as the app.
    _runtime: Option<Arc<tokio::runtime::Runtime>>,
    next_batch: u64,
    last_flush_tick: u64,
    galaxy_sent: bool,
    halted: bool,
    last_halt_log: Option<Instant>,
    /// Longest wait for the database at shutdown.
    pub shutdown_timeout: Duration,
    /// Sends the busy writer handed back: one per tick while it lags behind a due flush (and
    /// one per retry of [`flush_now`]), so a lag indicator rather than a count of batches.
    pub deferred: u64,
}

impl Persister {
    /// A persister over `writer`. `confirmed_batch` and `tick` describe what the database holds
    /// (after a restore; 0 and the current tick for a new database). `runtime` is kept alive
    /// with the app if given.
    pub fn new(writer: Writer, runtime: Option<Arc<tokio::runtime::Runtime>>, confirmed_batch: u64, tick: u64) -> Self {
        Persister {
            writer,
            _runtime: runtime,
            next_batch: confirmed_batch + 1,
            last_flush_tick: tick,
            galaxy_sent: false,
            halted: false,
            last_halt_log: None,
            shutdown_timeout: Duration::from_secs(60),
            deferred: 0,
        }
    }

    /// Starts a writer over `db` on `runtime` and wraps it.
    pub fn start(
        runtime: Arc<tokio::runtime::Runtime>,
        db: Db,
        options: WriterOptions,
        confirmed_batch: u64,
        tick: u64,
    ) -> Self {
        let writer = Writer::spawn(runtime.handle(), db, options, confirmed_batch, tick);
        Persister::new(writer, Some(runtime), confirmed_batch, tick)
    }

    /// The writer's shared status.
    pub fn status(&self) -> &Arc<writer::WriterStatus> {
        self.writer.status()
    }

    /// Confirmations received since the last call (batch, rows, transaction time). The
    /// `First`-schedule system [`watch_writer`] drains them every frame, so this only sees
    /// them where ticks are run without it (benchmarks driving `FixedMain` directly).
    pub fn confirmations(&self) -> Vec<writer::Confirmation> {
        self.writer.confirmations()
    }

    /// Whether the simulation is halted because writes fail for a non-transient reason.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Takes everything pending into a batch and queues it; `false` if the writer was busy
    /// (everything stays pending).
    fn send(&mut self, world_meta: WorldMeta, galaxy: &Galaxy, pending: &mut PendingChanges) -> bool {
        let batch = Batch {
            id: self.next_batch,
            meta: world_meta,
            galaxy: (!self.galaxy_sent).then(|| Arc::new(galaxy.clone())),
            entities: std::mem::take(&mut pending.entities),
            history: std::mem::take(&mut pending.history),
        };
        let tick = batch.meta.tick;
        match self.writer.try_send(batch) {
            Ok(()) => {
                self.next_batch += 1;
                self.galaxy_sent = true;
                self.last_flush_tick = tick;
                true
            }
            Err(batch) => {
                // Nothing was collected since the take: the batch's maps are all there is.
                pending.entities = batch.entities;
                pending.history = batch.history;
                self.deferred += 1;
                false
            }
        }
    }
}

/// Flushes when the interval has passed since the last flush (exclusive: reads resources).
pub fn flush(world: &mut World) {
    let tick = world.resource::<SimTick>().0;
    let interval = world.resource::<Tuning>().world.flush_interval_ticks();
    // Most ticks are not due: decide before touching anything.
    if world.get_resource::<Persister>().is_none_or(|p| tick < p.last_flush_tick + interval) {
        return;
    }
    let Some(mut persister) = world.remove_resource::<Persister>() else { return };
    let meta = WorldMeta::capture(world);
    world.resource_scope(|world, mut pending: Mut<PendingChanges>| {
        persister.send(meta, world.resource::<Galaxy>(), &mut pending);
    });
    world.insert_resource(persister);
}

/// Each frame: halts the simulation while the writer has failed for a non-transient reason
/// (pausing virtual time, so no tick runs and nothing more is lost), resumes when it recovers.
pub fn watch_writer(persister: Option<ResMut<Persister>>, mut time: ResMut<Time<Virtual>>) {
    let Some(mut p) = persister else { return };
    let _ = p.writer.confirmations();
    let state = p.status().snapshot().state;
    match (&state, p.halted) {
        (WriterState::Failed { error }, _) => {
            if !p.halted {
                p.halted = true;
                time.pause();
            }
            if p.last_halt_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(30)) {
                p.last_halt_log = Some(Instant::now());
                error!(
                    "persistence failed: {error}. The simulation is HALTED so no more progress is lost; \
                     fix the database (see docs/OPERATIONS.md) and it resumes by itself"
                );
            }
        }
        (_, true) => {
            p.halted = false;
            p.last_halt_log = None;
            time.unpause();
            info!("persistence recovered: the simulation resumes");
        }
        _ => {}
    }
    if p.writer.is_closed() && !p.halted {
        p.halted = true;
        time.pause();
        error!("persistence: the writer task stopped; the simulation is HALTED");
    }
}

/// Sends everything pending now as one batch (the world at the current tick), waiting up to
/// `timeout` for room in the writer's queue. Returns the batch id, or `None` without a
/// [`Persister`] or if the queue stayed full.
pub fn flush_now(world: &mut World, timeout: Duration) -> Option<u64> {
    let mut persister = world.remove_resource::<Persister>()?;
    let deadline = Instant::now() + timeout;
    let meta = WorldMeta::capture(world);
    let sent = world.resource_scope(|world, mut pending: Mut<PendingChanges>| {
        loop {
            if persister.send(meta.clone(), world.resource::<Galaxy>(), &mut pending) {
                break Some(persister.next_batch - 1);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    world.insert_resource(persister);
    sent
}

/// Waits up to `timeout` until the database holds batch `batch` (or a newer one). `Err` with
/// the writer's status if it does not.
pub fn wait_confirmed(world: &World, batch: u64, timeout: Duration) -> Result<(), writer::StatusSnapshot> {
    let Some(persister) = world.get_resource::<Persister>() else { return Ok(()) };
    let deadline = Instant::now() + timeout;
    let mut last_log = Instant::now();
    loop {
        let status = persister.status().snapshot();
        if status.confirmed_batch >= batch {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(status);
        }
        if last_log.elapsed() >= Duration::from_secs(5) {
            last_log = Instant::now();
            warn!(batch, "waiting for the database ({:?})", status.state);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// When the app is exiting: sends everything pending and waits until the database has it
/// (up to [`Persister::shutdown_timeout`]); if it cannot, logs what is lost and makes the exit
/// an error (status 3).
pub fn final_flush(world: &mut World) {
    let exiting = world.get_resource::<Messages<AppExit>>().is_some_and(|m| !m.is_empty());
    let Some(timeout) = world.get_resource::<Persister>().map(|p| p.shutdown_timeout).filter(|_| exiting) else {
        return;
    };
    let started = Instant::now();
    let tick = world.resource::<SimTick>().0;
    let pending = world.resource::<PendingChanges>().len();
    info!(tick, pending, "shutdown: writing the world to the database");
    let confirmed = match flush_now(world, timeout) {
        Some(batch) => wait_confirmed(world, batch, timeout.saturating_sub(started.elapsed())).map(|()| batch),
        None => Err(world.resource::<Persister>().status().snapshot()),
    };
    match confirmed {
        Ok(batch) => info!(tick, batch, "shutdown: the database holds the world"),
        Err(status) => {
            error!(
                "shutdown: the database did not confirm the final state within {timeout:?} ({:?}); changes after \
                 tick {} are LOST ({pending} entities were pending)",
                status.state, status.confirmed_tick
            );
            world.write_message(AppExit::from_code(3));
        }
    }
    // Never flush twice (a second exit frame would find nothing new anyway).
    world.remove_resource::<Persister>();
}

#[cfg(test)]
mod tests;
