//! The persisted state as Rust records: what a restore needs to rebuild each entity
//! ([`Record`]), the world's resources ([`WorldMeta`]), history ([`HistoryEntry`]), the
//! queries the collection reads them through, and [`spawn`] (a record back into an entity).
//! How records become table rows is in [`crate::tables::map`].
//!
//! What is *not* stored is derived and rebuilt: the [`EntityIndex`], the spatial grid and each
//! ship's [`GridCell`], the obstacle world, per-system census, the market's indexes. Random
//! streams are keyed by (seed, system, tick, purpose), so restoring seed and tick restores the
//! "RNG position".

use bevy_ecs::prelude::*;
use starforge_components::prelude::*;

/// What kind of entity a record is (each kind has its table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i16)]
pub enum Kind {
    /// An empire (player or NPC).
    Empire = 1,
    /// A fleet.
    Fleet = 2,
    /// A ship.
    Ship = 3,
    /// A colony.
    Colony = 4,
    /// An open market order.
    Order = 5,
}

/// An empire's persisted components.
#[derive(Clone, Debug, PartialEq)]
pub struct EmpireRecord {
    /// Name and kind.
    pub empire: Empire,
    /// Credits (milli).
    pub credits: Credits,
    /// Stockpile (milli).
    pub stockpile: Stockpile,
    /// Ships per class.
    pub census: ShipCensus,
    /// An NPC empire's brain.
    pub brain: Option<NpcBrain>,
}

/// A fleet's persisted components.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetRecord {
    /// Owning empire.
    pub owner: EntityId,
    /// Members.
    pub fleet: Fleet,
    /// An NPC fleet's brain.
    pub brain: Option<NpcBrain>,
}

/// A ship's persisted components.
#[derive(Clone, Debug, PartialEq)]
pub struct ShipRecord {
    /// Class.
    pub ship: Ship,
    /// Owning empire.
    pub owner: EntityId,
    /// Side it fights for.
    pub allegiance: Allegiance,
    /// Its fleet.
    pub fleet: Option<EntityId>,
    /// Where it is.
    pub position: Position,
    /// Velocity and heading.
    pub motion: Motion,
    /// Hull points.
    pub hull: Hull,
    /// Weapon cooldown.
    pub weapon: Weapon,
    /// Goods carried.
    pub cargo: Cargo,
    /// What it is doing.
    pub order: ShipOrder,
    /// Hyperlane travel, if jumping.
    pub transit: Option<Transit>,
    /// The ship it is firing at (kept while valid, so it is state).
    pub target: Option<EntityId>,
}

/// A colony's persisted components.
#[derive(Clone, Debug, PartialEq)]
pub struct ColonyRecord {
    /// Owning empire.
    pub owner: EntityId,
    /// Name, place, population.
    pub colony: Colony,
    /// Building levels.
    pub buildings: Buildings,
    /// Construction queue.
    pub construction: ConstructionQueue,
    /// Shipyard queue.
    pub shipyard: ShipyardQueue,
    /// Whether its buildings or a queue changed since the last collection (always for a
    /// whole-world batch or a restored record): only then are its rows in `buildings`,
    /// `construction_queue` and `shipyard_queue` rewritten. A colony's population changes far
    /// more often than its buildings.
    pub children_changed: bool,
}

/// One persisted entity.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// An empire.
    Empire(EmpireRecord),
    /// A fleet.
    Fleet(FleetRecord),
    /// A ship (inline: boxing it cost an allocation per changed ship at every collection).
    Ship(ShipRecord),
    /// A colony.
    Colony(ColonyRecord),
    /// An open market order.
    Order(MarketOrder),
}

impl Record {
    /// The row kind.
    pub fn kind(&self) -> Kind {
        match self {
            Record::Empire(_) => Kind::Empire,
            Record::Fleet(_) => Kind::Fleet,
            Record::Ship(_) => Kind::Ship,
            Record::Colony(_) => Kind::Colony,
            Record::Order(_) => Kind::Order,
        }
    }

    /// The owning empire; `None` for empires.
    pub fn owner(&self) -> Option<EntityId> {
        match self {
            Record::Empire(_) => None,
            Record::Fleet(f) => Some(f.owner),
            Record::Ship(s) => Some(s.owner),
            Record::Colony(c) => Some(c.owner),
            Record::Order(o) => Some(o.owner),
        }
    }
}

/// The world's resources at a flush: everything besides entities and the galaxy.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldMeta {
    /// The tick the batch was taken after (its state is the world at this tick).
    pub tick: u64,
    /// The world seed (random streams derive from seed and tick).
    pub seed: u64,
    /// The id allocator's next id.
    pub next_id: u64,
    /// Created/destroyed value.
    pub ledger: Ledger,
    /// Counters.
    pub stats: SimStats,
    /// Ongoing engagements.
    pub engagements: Engagements,
    /// Market tickers and their windows.
    pub market: MarketStats,
}

impl WorldMeta {
    /// The resources of `world` (which must hold the simulation's resources).
    pub fn capture(world: &World) -> WorldMeta {
        WorldMeta {
            tick: world.resource::<SimTick>().0,
            seed: world.resource::<WorldSeed>().0,
            next_id: world.resource::<IdAllocator>().next,
            ledger: world.resource::<Ledger>().clone(),
            stats: *world.resource::<SimStats>(),
            engagements: world.resource::<Engagements>().clone(),
            market: world.resource::<Market>().stats(),
        }
    }
}

/// A trade or combat report (appended to `market_trades` or `combat_reports`).
#[derive(Clone, Debug, PartialEq)]
pub enum History {
    /// A trade.
    Trade(TradeExecuted),
    /// An engagement ended.
    Combat(CombatReport),
}

/// One history row: the tick it happened at, and its place among that tick's entries.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    /// The tick (the world tick after it happened).
    pub tick: u64,
    /// Order within the tick (unique per tick; makes re-applying a batch idempotent).
    pub seq: u32,
    /// The event.
    pub event: History,
}

/// A ship's components as the collection query reads them.
pub type ShipView<'a> = (
    (&'a EntityId, &'a Ship, &'a Owner, &'a Allegiance, Option<&'a FleetMember>),
    (&'a Position, &'a Motion, &'a Hull, &'a Weapon, &'a Cargo),
    (&'a ShipOrder, Option<&'a Transit>, &'a Target),
);

/// The record of a ship read through [`ShipView`].
pub fn ship_record(v: &ShipView<'_>) -> ShipRecord {
    let ((_, ship, owner, allegiance, fleet), (position, motion, hull, weapon, cargo), (order, transit, target)) = v;
    ShipRecord {
        ship: **ship,
        owner: owner.0,
        allegiance: **allegiance,
        fleet: fleet.map(|f| f.0),
        position: **position,
        motion: **motion,
        hull: **hull,
        weapon: **weapon,
        cargo: **cargo,
        order: (*order).clone(),
        transit: transit.copied(),
        target: target.0.map(|(id, _)| id),
    }
}

/// An empire's components as the collection query reads them.
pub type EmpireView<'a> = (&'a EntityId, &'a Empire, &'a Credits, &'a Stockpile, &'a ShipCensus, Option<&'a NpcBrain>);

/// The record of an empire read through [`EmpireView`].
pub fn empire_record(v: &EmpireView<'_>) -> EmpireRecord {
    EmpireRecord { empire: v.1.clone(), credits: *v.2, stockpile: *v.3, census: *v.4, brain: v.5.copied() }
}

/// A fleet's components as the collection query reads them.
pub type FleetView<'a> = (&'a EntityId, &'a Owner, &'a Fleet, Option<&'a NpcBrain>);

/// The record of a fleet read through [`FleetView`].
pub fn fleet_record(v: &FleetView<'_>) -> FleetRecord {
    FleetRecord { owner: v.1.0, fleet: v.2.clone(), brain: v.3.copied() }
}

/// A colony's components as the collection query reads them.
pub type ColonyView<'a> =
    (&'a EntityId, &'a Owner, &'a Colony, Ref<'a, Buildings>, Ref<'a, ConstructionQueue>, Ref<'a, ShipyardQueue>);

/// The record of a colony read through [`ColonyView`]; its children count as changed if one
/// of them changed since the reading system last ran.
pub fn colony_record(v: &ColonyView<'_>) -> ColonyRecord {
    ColonyRecord {
        owner: v.1.0,
        colony: v.2.clone(),
        buildings: *v.3,
        construction: (*v.4).clone(),
        shipyard: (*v.5).clone(),
        children_changed: v.3.is_changed() || v.4.is_changed() || v.5.is_changed(),
    }
}

/// Spawns the entity of `record` with exactly the components a freshly spawned one has
/// (ships get their [`Target`] id resolved later by the caller, see
/// [`crate::restore::apply`]); orders are not entities and return `None`.
pub fn spawn(world: &mut World, id: EntityId, record: &Record) -> Option<Entity> {
    let entity = match record {
        Record::Empire(r) => {
            let mut e = world.spawn((id, r.empire.clone(), r.credits, r.stockpile, r.census));
            if let Some(brain) = r.brain {
                e.insert(brain);
            }
            e.id()
        }
        Record::Fleet(r) => {
            let mut e = world.spawn((id, Owner(r.owner), r.fleet.clone()));
            if let Some(brain) = r.brain {
                e.insert(brain);
            }
            e.id()
        }
        Record::Ship(r) => {
            let mut e = world.spawn((
                (id, r.ship, Owner(r.owner), r.allegiance),
                (r.position, r.motion, r.hull),
                (r.weapon, r.cargo, r.order.clone(), Target::default(), GridCell::default()),
            ));
            if let Some(fleet) = r.fleet {
                e.insert(FleetMember(fleet));
            }
            if let Some(transit) = r.transit {
                e.insert(transit);
            }
            e.id()
        }
        Record::Colony(r) => world
            .spawn((id, Owner(r.owner), r.colony.clone(), r.buildings, r.construction.clone(), r.shipyard.clone()))
            .id(),
        Record::Order(_) => return None,
    };
    world.resource_mut::<EntityIndex>().insert(id, entity);
    Some(entity)
}
