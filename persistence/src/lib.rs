//! Starforge persistence: the world flushed to Postgres or SQLite without stalling the tick,
//! and restored after a restart.
//!
//! - [`PersistencePlugin`] (`FixedUpdate`, after the simulation): every flush interval
//!   (`world.flush_interval_s`), the records of entities whose persisted components were added
//!   or changed since the previous collection (Bevy change detection spans the whole interval,
//!   so an entity that changed on every tick is copied once), plus the ids of despawned ones
//!   and the interval's trades and combat reports, become a [`writer::Batch`] for the writer
//!   task, if a [`Persister`] is installed. Between flushes a tick only notes despawns,
//!   hyperspace exits and history. A full queue hands the batch back and the next collection
//!   merges into it (newest state per id, so memory is bounded by the entity count however
//!   far the writer lags).
//! - [`writer`]: the tokio task applying batches in one transaction each, set-based, with
//!   retries; [`rows`]: the component ↔ row mapping; [`restore`]: loading a saved world.
//! - [`db`] connects and migrates; [`accounts`] keeps player accounts.
//!
//! Clean shutdown: when the app exits, [`final_flush`] sends everything pending and waits for
//! the database to confirm it (up to [`Persister::shutdown_timeout`]).

pub mod accounts;
pub mod cache;
pub mod db;
pub mod lock;
pub mod profiles;
pub mod restore;
pub mod rows;
pub mod spill;
pub mod writer;

pub use accounts::AccountError;
pub use cache::{CacheError, CacheOptions, PlayerProfile, RedisCache};
pub use db::{Backend, Db, DbError, DbTarget};
pub use lock::WorldLock;
pub use profiles::{BreakerOptions, CacheCounts, CacheStats, Profiles};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::event::EntityEvent;
use bevy_ecs::prelude::*;
use bevy_time::prelude::*;
use starforge_components::galaxy::Galaxy;
use starforge_components::prelude::*;
use tracing::{error, info, warn};

use rows::{ColonyView, EmpireView, FleetView, History, HistoryEntry, Record, ShipView, WorldMeta};
use writer::{Batch, Writer, WriterOptions, WriterState};

/// The persistence stage; runs in `FixedUpdate` after the whole simulation tick.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersistSystems {
    /// Note this tick's history and hyperspace exits; every flush interval, collect the
    /// changed entities into [`PendingChanges`] and flush.
    Collect,
}

/// The set persistence runs after. Persistence depends on `components` only, so the server
/// places this label after the simulation: `configure_sets(FixedUpdate,
/// PersistAfter.after(SimSystems::Bookkeeping))`.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersistAfter;

/// Unsaved state: entity records (`None` = despawned) and history.
#[derive(Resource, Debug, Default)]
pub struct PendingChanges {
    /// Entity records in collection order; a later entry for an id supersedes an earlier one
    /// ([`Changes::compact`] keeps the newest). Filled by [`collect_now`] (every flush
    /// interval) and by despawns as they happen.
    pub entities: Changes,
    /// Trades and combat reports since the last flush.
    pub history: Vec<HistoryEntry>,
    /// Ships that left hyperspace since the last collection (a removal is not a change).
    transit_exits: Vec<Entity>,
    /// Entries the last collection made (to size the next one).
    last_collected: usize,
    /// Layout work for [`relayout`], from the last collection.
    layout: Layout,
    /// Emptied buffers of written batches, for the next collection.
    spare: Vec<Vec<Entry>>,
    /// Ships marked [`Hot`] so far (a measure of layout churn).
    pub woken: u64,
    /// Ships unmarked so far.
    pub cooled: u64,
}

impl PendingChanges {
    /// Number of pending entity entries (an id collected twice counts twice until compacted).
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// True when no entity change is pending.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }
}

/// What [`relayout`] does between flushes: the collection lists the changed ships outside the
/// [`Hot`] tables and the hot ships that no longer change; ships that changed in two
/// collections in a row are marked (a ship hit once, or everything at the first collection
/// after a start, is not). A collection that spans less than half a flush interval (one
/// right after another: `flush_now`, a shutdown, a test) adds to the previous one instead of
/// replacing it, so it does not make the layout forget what the full intervals showed.
#[derive(Debug, Default)]
struct Layout {
    /// Changed ships outside the hot tables, as the collections since the last comparison found
    /// them (not yet compared with the previous collection).
    changed: Vec<Entity>,
    /// Set by a collection, cleared when [`relayout`] has compared its `changed`.
    fresh: bool,
    /// Tick of the last collection, and the ticks its `changed` spans.
    last_tick: u64,
    span: u64,
    /// The span is under half a flush interval.
    short: bool,
    /// Entity indices of the previous collection's `changed` (one bit each; with the short
    /// collections after it, if any).
    previous: Vec<u64>,
    /// Ships to mark and to unmark, a bounded number per tick.
    wake: Vec<Entity>,
    cool: Vec<Entity>,
}

/// One pending entry: the newest state of an entity (`None`: deleted).
pub type Entry = (EntityId, Option<Record>);

/// Pending entity records, in the order they were collected: for an id present more than
/// once, the last entry is the newest state. Held in segments (a collection's threads each fill
/// one, so nothing is copied to join them) whose buffers the writer hands back for reuse
/// ([`Changes::into_buffers`]): a fresh multi-megabyte buffer per flush cost a page fault per
/// 4 KiB on the tick that collects.
#[derive(Debug, Default, Clone)]
pub struct Changes(Vec<Vec<Entry>>);

impl Changes {
    /// Appends the newest state of `id` (`None`: deleted).
    pub fn push(&mut self, id: EntityId, record: Option<Record>) {
        match self.0.last_mut() {
            Some(last) => last.push((id, record)),
            None => self.0.push(vec![(id, record)]),
        }
    }

    /// Appends a segment of entries (collected after everything already here).
    pub fn append(&mut self, segment: Vec<Entry>) {
        self.0.push(segment);
    }

    /// Entries, duplicates included.
    pub fn len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Vec::is_empty)
    }

    /// Entries in collection order, duplicates included.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&EntityId, &Option<Record>)> {
        self.0.iter().flatten().map(|(id, r)| (id, r))
    }

    /// The newest entry of each id, sorted by id.
    pub fn newest(&self) -> Vec<(&EntityId, &Option<Record>)> {
        let mut entries: Vec<(&EntityId, &Option<Record>)> = self.iter().collect();
        keep_newest(&mut entries, |e| *e.0);
        entries
    }

    /// The newest state of `id`, if pending.
    pub fn get(&self, id: &EntityId) -> Option<&Option<Record>> {
        self.iter().rev().find(|(i, _)| *i == id).map(|(_, r)| r)
    }

    /// Keeps only the newest entry of each id (sorted by id, in one segment): after it, the
    /// entries are bounded by the live entities plus the ids deleted since the last write.
    pub fn compact(&mut self) {
        let mut segments = std::mem::take(&mut self.0).into_iter();
        let mut all = segments.next().unwrap_or_default();
        for mut s in segments {
            all.append(&mut s);
        }
        keep_newest(&mut all, |e| e.0);
        self.0.push(all);
    }

    /// The emptied buffers, for reuse.
    pub fn into_buffers(self) -> Vec<Vec<Entry>> {
        let mut buffers = self.0;
        for b in &mut buffers {
            b.clear();
        }
        buffers
    }
}

/// Sorts `entries` (in collection order) by id, keeping only the last entry of each id.
fn keep_newest<T>(entries: &mut Vec<T>, id: impl Fn(&T) -> EntityId) {
    entries.reverse();
    // Stable: the newest entry of an id now comes first and survives `dedup_by_key`.
    entries.sort_by_key(&id);
    entries.dedup_by_key(|e| id(e));
}

/// Storage layout only: no game meaning, never saved, never hashed. Ships that changed in a
/// recent flush interval carry it, so Bevy keeps them in tables of their own and a flush copies
/// them as dense runs instead of rows scattered among the parked majority (a scattered ship
/// costs a cache miss per component column; measured in docs/PERFORMANCE.md). Set and cleared
/// by persistence alone, a bounded number per tick on the ticks between flushes ([`relayout`]).
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct Hot;

/// Storage layout only, like [`Hot`]: ships in alternate blocks of entity indices carry it
/// from the moment they appear ([`striped`]), so the ships outside the hot tables sit in two
/// halves of tables and the two collecting threads can scan their change ticks one half each
/// (a `Changed` filter walks whole tables; Bevy offers no safe way to split one table between
/// threads).
#[derive(Component, Debug, Default, Clone, Copy)]
pub struct Stripe;

/// Whether ship `e` belongs in the [`Stripe`] half: alternate blocks of entity indices, so
/// ships spawned together (a fleet's members, which the simulation visits together) stay
/// neighbours in one table. (Odd and even indices cost the simulation's tick 0.35 ms, +4 %, in
/// the 100k-ship world, in an interleaved A/B: a fleet's rows were spread over two tables;
/// blocks of 1 024 cost nothing measurable.)
pub fn striped(e: Entity) -> bool {
    (e.index_u32() / STRIPE_BLOCK) % 2 == 1
}

/// Entity indices per block of [`striped`].
const STRIPE_BLOCK: u32 = 1024;

/// A ship that appears in a striped block of entity indices gets [`Stripe`].
fn stripe_new_ship(ev: On<Add<Ship>>, mut commands: Commands) {
    let e = ev.event_target();
    if striped(e) {
        // Despawned by then (in the same command flush): nothing to mark.
        commands.entity(e).try_insert(Stripe);
    }
}

/// Notes changes every tick and, with a [`Persister`], collects and flushes them every flush
/// interval.
pub struct PersistencePlugin;

impl Plugin for PersistencePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PendingChanges>()
            .configure_sets(FixedUpdate, PersistSystems::Collect.after(PersistAfter))
            .add_systems(FixedUpdate, (note_tick, flush, relayout).chain().in_set(PersistSystems::Collect))
            .add_systems(FixedPreUpdate, warm_before_collecting)
            .insert_resource(Warmer::start())
            .add_systems(First, watch_writer)
            .add_systems(Last, final_flush)
            .add_observer(record_despawn)
            .add_observer(stripe_new_ship);
        let collector = app.world_mut().register_system(collect_changes);
        app.insert_resource(Collector(collector));
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

/// The registered [`collect_changes`] system: its change detection spans the ticks since it
/// last ran, so it runs only when a batch is due ([`collect_now`]). (Bevy does not clamp the
/// last-run tick of registered systems against tick wrap-around; running at least once per
/// flush interval keeps it billions of change ticks away from that.)
#[derive(Resource, Clone, Copy)]
struct Collector(bevy_ecs::system::SystemId);

/// Every tick: notes this tick's trades, combat reports and hyperspace exits (messages and
/// removals are only readable in the frame they happen).
pub fn note_tick(
    mut pending: ResMut<PendingChanges>,
    tick: Res<SimTick>,
    mut transit_removed: RemovedComponents<Transit>,
    mut trades: MessageReader<TradeExecuted>,
    mut reports: MessageReader<CombatReport>,
) {
    let p = &mut *pending;
    p.transit_exits.extend(transit_removed.read());
    for (seq, t) in trades.read().enumerate() {
        p.history.push(HistoryEntry { tick: tick.0, seq: seq as u32, event: History::Trade(*t) });
    }
    for (seq, r) in reports.read().enumerate() {
        p.history.push(HistoryEntry { tick: tick.0, seq: seq as u32, event: History::Combat(r.clone()) });
    }
}

/// The ship queries of [`collect_changes`]: changed hot ships, changed other ships (the two
/// [`Stripe`] halves), all hot ships, all ships.
type ShipQueries<'w, 's> = (
    Query<'w, 's, ShipView<'static>, (ShipChanged, With<Hot>)>,
    Query<'w, 's, (Entity, ShipView<'static>), (ShipChanged, Without<Hot>, Without<Stripe>)>,
    Query<'w, 's, (Entity, ShipView<'static>), (ShipChanged, Without<Hot>, With<Stripe>)>,
    Query<'w, 's, Entity, With<Hot>>,
    Query<'w, 's, ShipView<'static>>,
);

/// The shared counters of one collection's work: the two halves of the other ships, the runs
/// of hot ships, the runs of colonies.
#[derive(Default)]
struct Shares {
    cold: Runs,
    hot: Runs,
    colonies: Runs,
}

/// Appends the records of every entity whose persisted components were added or changed since
/// this system last ran (ships that left hyperspace included), and the market orders touched
/// since then, to [`PendingChanges`]. Run through [`collect_now`].
pub fn collect_changes(
    mut pending: ResMut<PendingChanges>,
    mut market: ResMut<Market>,
    empires: Query<EmpireView<'static>, EmpireChanged>,
    fleets: Query<FleetView<'static>, FleetChanged>,
    (hot, cold_even, cold_odd, all_hot, all_ships): ShipQueries,
    colonies: Query<ColonyView<'static>, ColonyChanged>,
    (tick, tuning, warmer): (Res<SimTick>, Res<Tuning>, Option<Res<Warmer>>),
) {
    let warmer = warmer.as_deref();
    let p = &mut *pending;
    // Copying the records is most of the cost in a big world (tens of thousands of records per
    // flush). Ships that changed recently are [`Hot`], in tables of their own, so their copy
    // streams through memory; a changed ship among the others costs a cache miss per column
    // and is marked hot for next time. Two threads share the work (read-only queries; the
    // order of entries does not matter, each id is collected once): each takes, first come
    // first served from shared counters ([`Runs`]), one of the two [`Stripe`] halves of the
    // other ships (scanning their change ticks is the largest single part), then runs of
    // `PART` hot ships and colonies; the tick's own thread first does the serial tail
    // (empires, fleets, orders, ships that left hyperspace). So neither waits for the other,
    // whichever part is slow on a given flush or however late the helper thread starts.
    let exits = std::mem::take(&mut p.transit_exits);
    let mut touched = market.take_touched();
    touched.sort_unstable();
    touched.dedup();
    let market = &*market;
    let shares = Shares::default();
    // Copies the parts this thread takes; returns the number of hot ships it copied. Changed
    // ships outside the hot tables go to `changed` as well.
    let share = |out: &mut Vec<Entry>, changed: &mut Vec<Entity>, shares: &Shares| {
        let mut claim = shares.cold.claim();
        let mut copy = |(e, v): (Entity, ShipView<'_>)| {
            out.push(ship_entry(&v));
            changed.push(e);
        };
        if claim.mine(0) {
            cold_even.iter().for_each(&mut copy);
        }
        if claim.mine(1) {
            cold_odd.iter().for_each(&mut copy);
        }
        let before = out.len();
        let mut claim = shares.hot.claim();
        out.extend(hot.iter().enumerate().filter(|(i, _)| claim.mine(i / PART)).map(|(_, v)| ship_entry(&v)));
        let hot_changed = out.len() - before;
        let mut claim = shares.colonies.claim();
        for (i, v) in colonies.iter().enumerate() {
            if claim.mine(i / PART) {
                out.push(colony_entry(&v));
            }
        }
        hot_changed
    };
    let tail = |out: &mut Vec<Entry>| {
        for &e in &exits {
            // Changed otherwise (collected by one of the threads), or despawned since (pending
            // deletion).
            if !hot.contains(e)
                && !cold_even.contains(e)
                && !cold_odd.contains(e)
                && let Ok(v) = all_ships.get(e)
            {
                out.push(ship_entry(&v));
            }
        }
        out.extend(empires.iter().map(|v| empire_entry(&v)));
        out.extend(fleets.iter().map(|v| fleet_entry(&v)));
        for &id in &touched {
            out.push((id, market.get(id).map(|o| Record::Order(*o))));
        }
    };
    let expected = p.last_collected;
    let mut main = reuse_buffer(&mut p.spare, expected);
    let mut changed = std::mem::take(&mut p.layout.changed);
    // A collection under half an interval after the previous one is "short". If the previous
    // one was not compared yet (two on one tick), a short one joins it: one span. Otherwise a
    // new span starts (every collection, when the interval is one tick: `relayout` never gets
    // to compare, and `changed` must not grow).
    let half = (tuning.world.flush_interval_ticks() / 2).max(1);
    let since = tick.0.saturating_sub(p.layout.last_tick);
    let merged = p.layout.fresh && since < half;
    if merged {
        p.layout.span += since;
    } else {
        changed.clear();
        p.layout.span = since;
    }
    p.layout.last_tick = tick.0;
    p.layout.short = p.layout.span < half;
    let (other, hot_changed) = if expected < PARALLEL_COLLECTION_MIN {
        tail(&mut main);
        (None, share(&mut main, &mut changed, &shares))
    } else {
        let mut other = reuse_buffer(&mut p.spare, expected);
        let (share, shares) = (&share, &shares);
        std::thread::scope(|scope| {
            let main_cpu = cpu::current();
            let helper = std::thread::Builder::new().name("persist-collect".into()).spawn_scoped(scope, move || {
                // On a core of its own, which the warmer kept awake; it can rest now.
                cpu::leave(main_cpu);
                warmer.inspect(|w| w.rest());
                let mut changed = Vec::new();
                let hot_changed = share(&mut other, &mut changed, shares);
                (other, changed, hot_changed)
            });
            // A new thread may land on this thread's core, where it would wait for this
            // thread's time slice to end (~2 ms): let it start (and move away) first.
            let since = Instant::now();
            while warmer.is_some_and(Warmer::waiting) && since.elapsed() < HELPER_WAIT {
                std::thread::yield_now();
            }
            tail(&mut main);
            let mine = share(&mut main, &mut changed, shares);
            match helper.map(|h| h.join()) {
                Ok(Ok((out, theirs, hot_theirs))) => {
                    changed.extend(theirs);
                    (Some(out), mine + hot_theirs)
                }
                // No thread to be had: this thread took every part. It panicked: which parts
                // it held is unknown, so copy them all again, alone on fresh counters (the
                // newest entry per id wins, and these are the same state; a ship listed twice
                // in `changed` is only compared twice).
                Ok(Err(_)) => {
                    let mut out = Vec::new();
                    let hot_changed = share(&mut out, &mut changed, &Shares::default());
                    (Some(out), hot_changed)
                }
                Err(_) => (None, mine),
            }
        })
    };
    warmer.inspect(|w| w.rest());
    p.transit_exits = exits;
    p.transit_exits.clear();
    // What the next collection can expect (it sizes buffers and picks one thread or two by
    // it): a short collection right after another says little about a full interval.
    let collected = main.len() + other.as_ref().map_or(0, Vec::len);
    let partial = merged || p.layout.short;
    p.last_collected = if partial { p.last_collected.max(collected) } else { collected };
    p.entities.append(main);
    if let Some(other) = other {
        p.entities.append(other);
    }

    // Layout: changed ships outside the hot tables may join them ([`relayout`] decides); when
    // most hot ships did not change this interval, the unchanged ones leave (so the hot tables
    // stay mostly changing ships).
    p.layout.changed = changed;
    p.layout.fresh = true;
    if partial {
        return; // too few ticks to tell which hot ships stopped changing: keep the last verdict
    }
    let hot_total = all_hot.iter().count();
    p.layout.cool.clear();
    if hot_total > 2 * hot_changed + COOL_SLACK {
        p.layout.cool.extend(all_hot.iter().filter(|e| !hot.contains(*e)));
    }
}

/// Hot ships that may stay unchanged before a sweep unmarks the unchanged ones (besides as
/// many as changed).
const COOL_SLACK: usize = 256;
/// Most ships marked or unmarked [`Hot`] on one tick (each moves its row to another table).
const RELAYOUT_PER_TICK: usize = 1024;

/// Between flushes: moves a bounded number of ships into or out of the [`Hot`] tables, as the
/// last collection asked. Not on a tick that collected (it has paid enough); a ship despawned
/// meanwhile is skipped.
pub fn relayout(world: &mut World) {
    let tick = world.resource::<SimTick>().0;
    if world.get_resource::<Persister>().is_some_and(|p| p.last_attempt_tick == tick) {
        return;
    }
    let mut pending = world.resource_mut::<PendingChanges>();
    let p = &mut *pending;
    let l = &mut p.layout;
    if l.fresh {
        l.fresh = false;
        // A new collection: mark the ships that also changed in the previous one.
        let mut bits = vec![0u64; l.changed.iter().map(|e| e.index_u32() as usize / 64 + 1).max().unwrap_or(0)];
        if !l.short {
            l.wake.clear();
        }
        for e in l.changed.drain(..) {
            let (word, bit) = (e.index_u32() as usize / 64, 1u64 << (e.index_u32() % 64));
            if l.previous.get(word).is_some_and(|w| w & bit != 0) {
                l.wake.push(e);
            }
            bits[word] |= bit;
        }
        if l.short {
            // Part of the interval the previous collection stands for.
            if l.previous.len() < bits.len() {
                l.previous.resize(bits.len(), 0);
            }
            l.previous.iter_mut().zip(&bits).for_each(|(p, b)| *p |= b);
        } else {
            l.previous = bits;
        }
        return;
    }
    if l.wake.is_empty() && l.cool.is_empty() {
        return;
    }
    let n = l.wake.len().min(RELAYOUT_PER_TICK);
    let wake: Vec<Entity> = l.wake.drain(l.wake.len() - n..).collect();
    let m = l.cool.len().min(RELAYOUT_PER_TICK - n);
    let cool: Vec<Entity> = l.cool.drain(l.cool.len() - m..).collect();
    p.woken += n as u64;
    p.cooled += m as u64;
    // Entities that no longer exist are skipped (the error only names them).
    let _ = world.try_insert_batch(wake.into_iter().map(|e| (e, Hot)));
    for e in cool {
        if let Ok(mut e) = world.get_entity_mut(e) {
            e.remove::<Hot>();
        }
    }
}

/// A spare buffer with room for `expected` entries (a new one if none is spare; spares much
/// larger than needed, left by a whole-world batch, are freed).
fn reuse_buffer(spare: &mut Vec<Vec<Entry>>, expected: usize) -> Vec<Entry> {
    let mut b = loop {
        match spare.pop() {
            Some(b) if oversized(&b, expected) => continue,
            Some(b) => break b,
            None => break Vec::new(),
        }
    };
    b.reserve(expected);
    b
}

/// A buffer far larger than `entries` need (left by a whole-world batch): freed, not reused.
fn oversized(buffer: &Vec<Entry>, entries: usize) -> bool {
    buffer.capacity() > 4 * entries + 4096
}

/// A ship's pending entry.
fn ship_entry(v: &ShipView<'_>) -> Entry {
    (*v.0.0, Some(Record::Ship(rows::ship_record(v))))
}

/// An empire's pending entry.
fn empire_entry(v: &EmpireView<'_>) -> Entry {
    (*v.0, Some(Record::Empire(rows::empire_record(v))))
}

/// A fleet's pending entry.
fn fleet_entry(v: &FleetView<'_>) -> Entry {
    (*v.0, Some(Record::Fleet(rows::fleet_record(v))))
}

/// A colony's pending entry.
fn colony_entry(v: &ColonyView<'_>) -> Entry {
    (*v.0, Some(Record::Colony(rows::colony_record(v))))
}

/// Below this many records in the previous collection a collection is copied on one thread.
const PARALLEL_COLLECTION_MIN: usize = 4_000;
/// Records (hot ships, colonies) in a run taken by one of the collecting threads.
const PART: usize = 64;

/// Hands out the runs of a query's items (run `i / PART` for the `i`-th item) to the threads
/// that iterate it together, each run to exactly one of them, first come first served.
#[derive(Default)]
struct Runs(AtomicUsize);

impl Runs {
    fn claim(&self) -> Claim<'_> {
        Claim { next: &self.0, held: None }
    }
}

/// One thread's view of [`Runs`].
struct Claim<'a> {
    next: &'a AtomicUsize,
    held: Option<usize>,
}

impl Claim<'_> {
    /// Whether this thread copies run `run`. Every thread iterates the same items in the same
    /// order (a read-only query) and asks for every run in increasing order. A thread that has
    /// passed the run it held takes the next unclaimed one, which is never behind it: whoever
    /// passed run `r − 1` held it or held a later one, so runs `0..r` were handed out before
    /// anyone asks at `r`. So each run goes to exactly one thread, which has not passed it.
    fn mine(&mut self, run: usize) -> bool {
        loop {
            match self.held {
                Some(h) if h == run => return true,
                Some(h) if h > run => return false,
                _ => self.held = Some(self.next.fetch_add(1, Ordering::Relaxed)),
            }
        }
    }
}

/// Before a tick that collects on two threads: wakes the [`Warmer`], so the collection's helper
/// thread finds a core awake (the tick counter advances before the collection, hence `+ 1`).
fn warm_before_collecting(
    persister: Option<Res<Persister>>,
    warmer: Res<Warmer>,
    pending: Res<PendingChanges>,
    tick: Res<SimTick>,
    tuning: Res<Tuning>,
) {
    if persister.is_some_and(|p| p.due(tick.0 + 1, tuning.world.flush_interval_ticks()))
        && pending.last_collected >= PARALLEL_COLLECTION_MIN
    {
        warmer.wake();
    }
}

/// A thread that keeps a second core busy, yielding to anything else that wants it, from the
/// start of a tick that collects until the collection's helper thread runs there.
///
/// Between ticks the second core of a small machine is often idle, and an idle virtual CPU
/// takes milliseconds to wake: on the 2-vCPU VM, paced at 20 Hz, the helper thread started
/// p50 2.45 ms after its spawn, by which time the tick's own thread had copied nearly
/// everything alone. So the warmer is woken at the start of the tick (its own wake-up happens
/// while the simulation runs); the collecting thread yields until the helper has started (a
/// new thread may be queued behind it on its core), and the helper moves off the collecting
/// thread's core ([`cpu::leave`]) to the one the warmer kept awake. Measured: persistence on
/// flush ticks p50 1.75-2.07 ms against 2.75-3.83 ms without (docs/PERFORMANCE.md, issue 4,
/// seventh pass). The thread ends when the resource is dropped.
#[derive(Resource, Debug)]
pub struct Warmer(Option<Arc<WarmState>>);

#[derive(Debug, Default)]
struct WarmState {
    go: Mutex<bool>,
    wake: Condvar,
    rest: AtomicBool,
    stop: AtomicBool,
}

/// Longest a warmer stays busy per wake (a tick that never reaches its collection).
const WARM_LIMIT: Duration = Duration::from_millis(100);
/// Longest the collecting thread yields to let its helper start.
const HELPER_WAIT: Duration = Duration::from_millis(1);

impl Warmer {
    fn start() -> Warmer {
        let state = Arc::new(WarmState { rest: AtomicBool::new(true), ..WarmState::default() });
        let shared = state.clone();
        let thread = std::thread::Builder::new().name("persist-warm".into()).spawn(move || warm(&shared));
        Warmer(thread.ok().map(|_| state))
    }

    fn wake(&self) {
        let Some(s) = &self.0 else { return };
        s.rest.store(false, Ordering::Relaxed);
        *s.go.lock().unwrap_or_else(PoisonError::into_inner) = true;
        s.wake.notify_one();
    }

    /// Whether it is awake and waiting for the collection's helper thread.
    fn waiting(&self) -> bool {
        self.0.as_ref().is_some_and(|s| !s.rest.load(Ordering::Relaxed))
    }

    fn rest(&self) {
        if let Some(s) = &self.0 {
            s.rest.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for Warmer {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            s.stop.store(true, Ordering::Relaxed);
            self.wake();
        }
    }
}

fn warm(s: &WarmState) {
    loop {
        {
            let mut go = s.go.lock().unwrap_or_else(PoisonError::into_inner);
            while !*go {
                go = s.wake.wait(go).unwrap_or_else(PoisonError::into_inner);
            }
            *go = false;
        }
        if s.stop.load(Ordering::Relaxed) {
            return;
        }
        let start = Instant::now();
        while !s.rest.load(Ordering::Relaxed) && start.elapsed() < WARM_LIMIT {
            std::thread::yield_now();
        }
    }
}

/// Which core a thread runs on, and moving the calling thread off one.
#[cfg(target_os = "linux")]
mod cpu {
    use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
    use nix::unistd::Pid;

    /// The calling thread's core, if the system says.
    pub fn current() -> Option<usize> {
        sched_getcpu().ok()
    }

    /// Restricts the calling thread to the cores it may use other than `cpu` (if any remain).
    pub fn leave(cpu: Option<usize>) {
        let Some(cpu) = cpu else { return };
        let Ok(mut set) = sched_getaffinity(Pid::from_raw(0)) else { return };
        if set.unset(cpu).is_err() {
            return;
        }
        if (0..CpuSet::count()).any(|c| set.is_set(c).unwrap_or(false)) {
            let _ = sched_setaffinity(Pid::from_raw(0), &set);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod cpu {
    pub fn current() -> Option<usize> {
        None
    }
    pub fn leave(_: Option<usize>) {}
}

/// Collects every change since the previous collection into [`PendingChanges`] now (a flush
/// does this itself; tests and tools call it to look at what is pending).
pub fn collect_now(world: &mut World) {
    let Some(collector) = world.get_resource::<Collector>().copied() else { return };
    reuse_written_buffers(world);
    if let Err(e) = world.run_system(collector.0) {
        error!("persistence: change collection did not run: {e}");
    }
}

/// Marks the world as saved: collects and drops what is pending. After a restore, every
/// entity counts as added, and the database holds them already.
pub fn mark_saved(world: &mut World) {
    collect_now(world);
    let mut p = world.resource_mut::<PendingChanges>();
    p.entities = Changes::default();
    p.history.clear();
}

/// A despawned entity is pending deletion.
fn record_despawn(ev: On<Remove<EntityId>>, ids: Query<&EntityId>, mut pending: ResMut<PendingChanges>) {
    if let Ok(id) = ids.get(ev.event_target()) {
        pending.entities.push(*id, None);
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
    /// Tick of the last collection for a flush, sent or handed back: the next is due one
    /// interval later either way (a lagging writer does not make every tick collect).
    last_attempt_tick: u64,
    galaxy_sent: bool,
    halted: bool,
    last_halt_log: Option<Instant>,
    /// Longest wait for the database at shutdown.
    pub shutdown_timeout: Duration,
    /// Sends the busy writer handed back: one per flush interval while it lags (and one per
    /// retry of [`flush_now`]), so a lag indicator rather than a count of batches.
    pub deferred: u64,
    /// Where the whole world goes if the database does not confirm it at shutdown (`None`:
    /// nowhere, it is lost).
    pub spill: Option<spill::SpillTarget>,
    /// Trades and combat reports of the batches handed to the writer, by batch id, until a
    /// send after the database confirmed them: a spill file carries those it did not confirm.
    /// At most the writer's queue plus the batch it is writing (nothing is sent to a full queue).
    sent_history: Vec<(u64, Vec<HistoryEntry>)>,
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
            last_attempt_tick: tick,
            galaxy_sent: false,
            halted: false,
            last_halt_log: None,
            shutdown_timeout: Duration::from_secs(60),
            deferred: 0,
            spill: None,
            sent_history: Vec::new(),
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
        Persister::start_restored(runtime, db, options, confirmed_batch, tick, writer::Written::default())
    }

    /// [`Persister::start`] over a database that holds the entity rows `written` (the restored
    /// world's): the writer updates them in place from their first write.
    pub fn start_restored(
        runtime: Arc<tokio::runtime::Runtime>,
        db: Db,
        options: WriterOptions,
        confirmed_batch: u64,
        tick: u64,
        written: writer::Written,
    ) -> Self {
        let writer = Writer::spawn(runtime.handle(), db, options, confirmed_batch, tick, written);
        Persister::new(writer, Some(runtime), confirmed_batch, tick)
    }

    /// Whether a flush is due at `tick` (one interval after the last attempt).
    fn due(&self, tick: u64, interval: u64) -> bool {
        tick >= self.last_attempt_tick + interval
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

    /// Emptied entity buffers of written batches, for the next collection to reuse (taken by
    /// each collection).
    pub fn take_spare(&self) -> Vec<Vec<Entry>> {
        self.writer.take_spare()
    }

    /// Tick of the newest batch handed to the writer.
    pub fn last_flush_tick(&self) -> u64 {
        self.last_flush_tick
    }

    /// Whether the simulation is halted because writes fail for a non-transient reason.
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Takes everything pending into a batch and queues it; `false` if the writer was busy
    /// (everything stays pending).
    fn send(&mut self, world_meta: WorldMeta, galaxy: &Galaxy, pending: &mut PendingChanges) -> bool {
        let Some(place) = self.writer.reserve() else {
            // Everything stays pending for the next attempt. Compacted, it holds each id once,
            // so a lagging writer costs at most the entity count.
            pending.entities.compact();
            self.deferred += 1;
            return false;
        };
        let batch = Batch {
            id: self.next_batch,
            meta: world_meta,
            galaxy: (!self.galaxy_sent).then(|| Arc::new(galaxy.clone())),
            entities: std::mem::take(&mut pending.entities),
            history: std::mem::take(&mut pending.history),
        };
        let confirmed = self.writer.status().snapshot().confirmed_batch;
        self.sent_history.retain(|(b, _)| *b > confirmed);
        if !batch.history.is_empty() {
            self.sent_history.push((batch.id, batch.history.clone()));
        }
        self.last_flush_tick = batch.meta.tick;
        place.send(batch);
        self.next_batch += 1;
        self.galaxy_sent = true;
        true
    }
}

/// Collects and flushes when the interval has passed since the last attempt (exclusive: reads
/// resources). A busy writer hands the batch back; the next attempt, one interval later,
/// collects what changed since and sends both as one batch.
pub fn flush(world: &mut World) {
    let tick = world.resource::<SimTick>().0;
    let interval = world.resource::<Tuning>().world.flush_interval_ticks();
    // Most ticks are not due: decide before touching anything.
    if world.get_resource::<Persister>().is_none_or(|p| !p.due(tick, interval)) {
        return;
    }
    collect_now(world);
    let Some(mut persister) = world.remove_resource::<Persister>() else { return };
    persister.last_attempt_tick = tick;
    let meta = WorldMeta::capture(world);
    world.resource_scope(|world, mut pending: Mut<PendingChanges>| {
        persister.send(meta, world.resource::<Galaxy>(), &mut pending);
    });
    world.insert_resource(persister);
}

/// Hands the buffers of written batches to the next collection.
fn reuse_written_buffers(world: &mut World) {
    let spare = world.get_resource::<Persister>().map(Persister::take_spare).unwrap_or_default();
    let mut pending = world.resource_mut::<PendingChanges>();
    pending.spare.extend(spare);
    // Spares pile up only if collections stop (a writer that keeps every buffer is bounded).
    pending.spare.truncate(writer::SPARE_BUFFERS);
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
    world.get_resource::<Persister>()?;
    collect_now(world);
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
            let spilled = spill_world(world);
            match spilled {
                Some(Ok(path)) => error!(
                    "shutdown: the database did not confirm the final state within {timeout:?} ({:?}; it holds tick \
                     {}); the whole world at tick {tick} is saved in the spill file {}, which the next start writes \
                     to the database before anything else (start with the same database; keep the file until then)",
                    status.state,
                    status.confirmed_tick,
                    path.display()
                ),
                Some(Err(e)) => error!(
                    "shutdown: the database did not confirm the final state within {timeout:?} ({:?}), and the \
                     spill file could not be written ({e}); changes after tick {} are LOST ({pending} entities were \
                     pending)",
                    status.state, status.confirmed_tick
                ),
                None => error!(
                    "shutdown: the database did not confirm the final state within {timeout:?} ({:?}); no spill file \
                     is configured: changes after tick {} are LOST ({pending} entities were pending)",
                    status.state, status.confirmed_tick
                ),
            }
            world.write_message(AppExit::from_code(3));
        }
    }
    // Never flush twice (a second exit frame would find nothing new anyway).
    world.remove_resource::<Persister>();
}

/// Writes the whole world, as a batch that replaces what the database holds and with the next
/// batch id, and the trades and combat reports the database did not confirm, to the persister's
/// spill file ([`spill`]); [`final_flush`] does this when the database does not confirm the
/// final state. Returns the file; `None` without a persister or
/// a spill target.
pub fn spill_world(world: &mut World) -> Option<Result<std::path::PathBuf, spill::SpillError>> {
    let persister = world.get_resource::<Persister>()?;
    let target = persister.spill.clone()?;
    // Every batch sent, confirmed or not, has a smaller id.
    let id = persister.next_batch;
    // The history of the batches the database did not confirm, then what is pending. One the
    // database commits after all is skipped when the file is applied (history rows are keyed
    // by tick, kind and sequence number).
    let confirmed = persister.status().snapshot().confirmed_batch;
    let mut history: Vec<HistoryEntry> =
        persister.sent_history.iter().filter(|(b, _)| *b > confirmed).flat_map(|(_, h)| h.iter().cloned()).collect();
    let mut batch = whole_world_batch(world, id);
    history.append(&mut batch.history);
    batch.history = history;
    let encoded = match writer::encode_batch(&batch, &writer::Written::default()) {
        Ok(e) => e,
        Err(reason) => return Some(Err(spill::SpillError::Unencodable { path: target.path, reason })),
    };
    let spill = spill::Spill {
        database: target.database,
        format: rows::FORMAT,
        batch: writer::EncodedBatch { replace: true, ..encoded },
    };
    Some(spill::write(&target.path, &spill).map(|()| target.path))
}

/// Every saved entity and open order at this tick, the world row with the galaxy, and the
/// history not yet handed to the writer: a batch that replaces whatever the database holds.
pub fn whole_world_batch(world: &mut World, id: u64) -> Batch {
    let mut out = Vec::new();
    out.extend(world.query::<EmpireView>().iter(world).map(|v| empire_entry(&v)));
    out.extend(world.query::<FleetView>().iter(world).map(|v| fleet_entry(&v)));
    out.extend(world.query::<ShipView>().iter(world).map(|v| ship_entry(&v)));
    out.extend(world.query::<ColonyView>().iter(world).map(|v| colony_entry(&v)));
    out.extend(world.resource::<Market>().orders_sorted().into_iter().map(|o| (o.id, Some(Record::Order(o)))));
    let mut entities = Changes::default();
    entities.append(out);
    Batch {
        id,
        meta: WorldMeta::capture(world),
        galaxy: Some(Arc::new(world.resource::<Galaxy>().clone())),
        entities,
        history: world.resource::<PendingChanges>().history.clone(),
    }
}

#[cfg(test)]
mod tests;
