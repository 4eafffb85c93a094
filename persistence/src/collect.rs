//! Collection: what changed since the last flush, read from Bevy change detection on the tick
//! thread.
//!
//! Every tick [`note_tick`] notes what is only visible in the frame it happens (trades, combat
//! reports, ships leaving hyperspace) and an observer notes despawns. Every flush interval
//! [`collect_changes`] copies the record of each entity whose persisted components were added
//! or changed since it last ran, and the market orders touched since then, into
//! [`PendingChanges`]. It is a registered system run only when a flush is due
//! ([`collect_now`]), so its change detection spans the whole interval: an entity that changed
//! on 20 ticks is copied once.

use std::collections::BTreeSet;

use bevy_ecs::prelude::*;
use starforge_components::prelude::*;
use tracing::error;

use crate::rows::{self, ColonyView, EmpireView, FleetView, History, HistoryEntry, Kind, Record, ShipView};

/// The state of one entity to save.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Its newest state.
    Saved(Record),
    /// It was despawned (or the order closed).
    Deleted(Kind),
}

/// One pending entry.
pub type Entry = (EntityId, Change);

/// Pending entity changes in the order they were collected: for an id present more than once,
/// the last entry is the newest state.
#[derive(Debug, Default, Clone)]
pub struct Changes(Vec<Entry>);

impl Changes {
    /// Appends the newest state of `id`.
    pub fn push(&mut self, id: EntityId, change: Change) {
        self.0.push((id, change));
    }

    /// Entries, duplicates included.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in collection order, duplicates included.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&EntityId, &Change)> {
        self.0.iter().map(|(id, c)| (id, c))
    }

    /// The newest entry of each id, sorted by id.
    pub fn newest(&self) -> Vec<(&EntityId, &Change)> {
        let mut entries: Vec<(&EntityId, &Change)> = self.iter().collect();
        keep_newest(&mut entries, |e| *e.0);
        entries
    }

    /// The newest state of `id`, if pending.
    pub fn get(&self, id: &EntityId) -> Option<&Change> {
        self.iter().rev().find(|(i, _)| *i == id).map(|(_, c)| c)
    }

    /// Keeps only the newest entry of each id, sorted by id: after it, the entries are bounded
    /// by the live entities plus the ids deleted since the last write. A colony whose children
    /// changed in any of its entries keeps that mark.
    pub fn compact(&mut self) {
        let children = self.colonies_with_new_children();
        keep_newest(&mut self.0, |e| e.0);
        for (id, change) in &mut self.0 {
            if let Change::Saved(Record::Colony(c)) = change {
                c.children_changed |= children.contains(id);
            }
        }
    }

    /// Colonies whose buildings or queues changed in any of their entries (so an older entry's
    /// change is written even when a newer entry, collected later, holds the same children).
    pub fn colonies_with_new_children(&self) -> BTreeSet<EntityId> {
        let changed = |c: &Change| matches!(c, Change::Saved(Record::Colony(r)) if r.children_changed);
        self.iter().filter(|(_, c)| changed(c)).map(|(id, _)| *id).collect()
    }

    fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) {
        self.0.extend(entries);
    }
}

/// Sorts `entries` (in collection order) by id, keeping only the last entry of each id.
fn keep_newest<T>(entries: &mut Vec<T>, id: impl Fn(&T) -> EntityId) {
    entries.reverse();
    // Stable: the newest entry of an id now comes first and survives `dedup_by_key`.
    entries.sort_by_key(&id);
    entries.dedup_by_key(|e| id(e));
}

/// Unsaved state: entity changes and history.
#[derive(Resource, Debug, Default)]
pub struct PendingChanges {
    /// Entity changes in collection order (filled by [`collect_now`] every flush interval and
    /// by despawns as they happen).
    pub entities: Changes,
    /// Trades and combat reports since the last flush.
    pub history: Vec<HistoryEntry>,
    /// Ships that left hyperspace since the last collection (a removal is not a change).
    transit_exits: Vec<Entity>,
    /// Entries the last collection made (to size the next one).
    last_collected: usize,
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

type EmpireChanged =
    Or<(Changed<Empire>, Changed<Credits>, Changed<Stockpile>, Changed<ShipCensus>, Changed<NpcBrain>)>;
type FleetChanged = Or<(Changed<Owner>, Changed<Fleet>, Changed<NpcBrain>)>;
// Flat: a nested tuple inside `Or` would be an AND of its members.
type ShipChanged = Or<(
    Changed<Ship>,
    Changed<Owner>,
    Changed<Allegiance>,
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

/// The registered [`collect_changes`] system (see the module docs). Bevy does not clamp the
/// last-run tick of registered systems against tick wrap-around; running at least once per
/// flush interval keeps it billions of change ticks away from that.
#[derive(Resource, Clone, Copy)]
pub(crate) struct Collector(pub(crate) bevy_ecs::system::SystemId);

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

/// Appends the records of every entity whose persisted components were added or changed since
/// this system last ran (ships that left hyperspace included), and the market orders touched
/// since then, to [`PendingChanges`]. Run through [`collect_now`].
pub fn collect_changes(
    mut pending: ResMut<PendingChanges>,
    mut market: ResMut<Market>,
    empires: Query<EmpireView<'static>, EmpireChanged>,
    fleets: Query<FleetView<'static>, FleetChanged>,
    ships: Query<ShipView<'static>, ShipChanged>,
    all_ships: Query<ShipView<'static>>,
    colonies: Query<ColonyView<'static>, ColonyChanged>,
) {
    let p = &mut *pending;
    // Straight into the pending entries (after the despawns noted since the last collection):
    // a copy of every record is most of a collection's cost, so it is made once.
    let out = &mut p.entities.0;
    let before = out.len();
    out.reserve(p.last_collected);
    out.extend(empires.iter().map(|v| empire_entry(&v)));
    out.extend(fleets.iter().map(|v| fleet_entry(&v)));
    out.extend(ships.iter().map(|v| ship_entry(&v)));
    for e in p.transit_exits.drain(..) {
        // Changed otherwise (collected above), or despawned since (pending deletion).
        if !ships.contains(e)
            && let Ok(v) = all_ships.get(e)
        {
            out.push(ship_entry(&v));
        }
    }
    out.extend(colonies.iter().map(|v| colony_entry(&v)));
    let mut touched = market.take_touched();
    touched.sort_unstable();
    touched.dedup();
    for id in touched {
        let change = match market.get(id) {
            Some(o) => Change::Saved(Record::Order(*o)),
            None => Change::Deleted(Kind::Order),
        };
        out.push((id, change));
    }
    p.last_collected = out.len() - before;
}

fn ship_entry(v: &ShipView<'_>) -> Entry {
    (*v.0.0, Change::Saved(Record::Ship(rows::ship_record(v))))
}

fn empire_entry(v: &EmpireView<'_>) -> Entry {
    (*v.0, Change::Saved(Record::Empire(rows::empire_record(v))))
}

fn fleet_entry(v: &FleetView<'_>) -> Entry {
    (*v.0, Change::Saved(Record::Fleet(rows::fleet_record(v))))
}

fn colony_entry(v: &ColonyView<'_>) -> Entry {
    (*v.0, Change::Saved(Record::Colony(rows::colony_record(v))))
}

/// Every saved entity and open order of `world`, as entries.
pub fn whole_world(world: &mut World) -> Changes {
    let mut out = Changes::default();
    out.extend(world.query::<EmpireView>().iter(world).map(|v| empire_entry(&v)));
    out.extend(world.query::<FleetView>().iter(world).map(|v| fleet_entry(&v)));
    out.extend(world.query::<ShipView>().iter(world).map(|v| ship_entry(&v)));
    out.extend(world.query::<ColonyView>().iter(world).map(|v| {
        let (id, mut record) = (*v.0, rows::colony_record(&v));
        record.children_changed = true;
        (id, Change::Saved(Record::Colony(record)))
    }));
    let orders = world.resource::<Market>().orders_sorted();
    out.extend(orders.into_iter().map(|o| (o.id, Change::Saved(Record::Order(o)))));
    out
}

/// Collects every change since the previous collection into [`PendingChanges`] now (a flush
/// does this itself; tests and tools call it to look at what is pending).
pub fn collect_now(world: &mut World) {
    let Some(collector) = world.get_resource::<Collector>().copied() else { return };
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

/// What a despawned entity was: its id and which saved kind it has.
type Kinds<'a> = (&'a EntityId, Has<Ship>, Has<Colony>, Has<Fleet>, Has<Empire>);

/// A despawned entity is pending deletion from its table.
pub(crate) fn record_despawn(
    ev: On<Remove<EntityId>>,
    ids: Query<Kinds<'static>>,
    mut pending: ResMut<PendingChanges>,
) {
    let Ok((id, ship, colony, fleet, empire)) = ids.get(ev.event_target()) else { return };
    let kind = match (ship, colony, fleet, empire) {
        (true, ..) => Kind::Ship,
        (_, true, ..) => Kind::Colony,
        (_, _, true, _) => Kind::Fleet,
        (.., true) => Kind::Empire,
        // Not a saved kind of entity.
        _ => return,
    };
    pending.entities.push(*id, Change::Deleted(kind));
}
