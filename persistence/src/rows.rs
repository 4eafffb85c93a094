//! The mapping between the world's persisted components and database rows.
//!
//! Every persisted entity is one row of the `entities` table: its [`EntityId`], a [`Kind`], its
//! owner (for operators' queries) and `data`, the bincode encoding of its record ([`Record`]):
//! exactly the components a restore needs to rebuild it. Resources (tick, id allocator, ledger,
//! counters, engagements, market tickers) are one [`WorldMeta`] in the single-row `world` table
//! next to the galaxy. Trades and combat reports are appended to `history`.
//!
//! What is *not* stored is derived and rebuilt: the [`EntityIndex`], the spatial grid and each
//! ship's [`GridCell`], the obstacle world, per-system census, the market's indexes. Random
//! streams are keyed by (seed, system, tick, purpose), so restoring seed and tick restores the
//! "RNG position".

use bevy_ecs::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use starforge_components::prelude::*;

/// Version of the row encoding; stored in `world.format`. A database written with another
/// format is refused at startup rather than misread.
pub const FORMAT: i32 = 1;

/// What kind of entity a row holds (`entities.kind`).
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

impl Kind {
    /// The kind stored as `code`, if any.
    pub fn from_code(code: i16) -> Option<Kind> {
        Some(match code {
            1 => Kind::Empire,
            2 => Kind::Fleet,
            3 => Kind::Ship,
            4 => Kind::Colony,
            5 => Kind::Order,
            _ => return None,
        })
    }

    /// The stored code.
    pub fn code(self) -> i16 {
        self as i16
    }
}

/// An empire's persisted components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetRecord {
    /// Owning empire.
    pub owner: EntityId,
    /// Members.
    pub fleet: Fleet,
    /// An NPC fleet's brain.
    pub brain: Option<NpcBrain>,
}

/// A ship's persisted components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// A row that cannot be turned back into a record.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// `kind` holds no known code.
    #[error("entity {id}: unknown kind {kind}")]
    UnknownKind {
        /// The row's id.
        id: u64,
        /// The stored code.
        kind: i16,
    },
    /// `data` does not decode as the kind's record.
    #[error("entity {id} ({kind:?}): undecodable data: {reason}")]
    Data {
        /// The row's id.
        id: u64,
        /// Its kind.
        kind: Kind,
        /// The decoder's message.
        reason: String,
    },
    /// A world-level blob does not decode.
    #[error("world {what}: undecodable data: {reason}")]
    World {
        /// Which blob.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a serializable value the way rows store it (bincode 2, standard config).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail (no maps with non-string keys matter to
    // bincode, no I/O); an empty blob would be refused at decode time rather than misread.
    bincode::serde::encode_to_vec(value, config()).unwrap_or_default()
}

/// Decodes a value stored with [`encode`]; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, used) = bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(value)
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

    /// The owning empire (`entities.owner`); `None` for empires.
    pub fn owner(&self) -> Option<EntityId> {
        match self {
            Record::Empire(_) => None,
            Record::Fleet(f) => Some(f.owner),
            Record::Ship(s) => Some(s.owner),
            Record::Colony(c) => Some(c.owner),
            Record::Order(o) => Some(o.owner),
        }
    }

    /// The `data` column.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Record::Empire(r) => encode(r),
            Record::Fleet(r) => encode(r),
            Record::Ship(r) => encode(r),
            Record::Colony(r) => encode(r),
            Record::Order(r) => encode(r),
        }
    }

    /// The record of row (`id`, `kind`, `data`).
    pub fn decode(id: u64, kind: i16, data: &[u8]) -> Result<Record, RowError> {
        let kind = Kind::from_code(kind).ok_or(RowError::UnknownKind { id, kind })?;
        let err = |reason| RowError::Data { id, kind, reason };
        Ok(match kind {
            Kind::Empire => Record::Empire(decode(data).map_err(err)?),
            Kind::Fleet => Record::Fleet(decode(data).map_err(err)?),
            Kind::Ship => Record::Ship(decode(data).map_err(err)?),
            Kind::Colony => Record::Colony(decode(data).map_err(err)?),
            Kind::Order => {
                let order: MarketOrder = decode(data).map_err(err)?;
                if order.id.0 != id {
                    return Err(RowError::Data { id, kind, reason: format!("order id {} in the data", order.id.0) });
                }
                Record::Order(order)
            }
        })
    }
}

/// The world's resources at a flush: everything besides entities and the galaxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// A trade or combat report, appended to `history`.
#[derive(Clone, Debug, PartialEq)]
pub enum History {
    /// A trade.
    Trade(TradeExecuted),
    /// An engagement ended.
    Combat(CombatReport),
}

impl History {
    /// `history.kind`: 1 trade, 2 combat report.
    pub fn code(&self) -> i16 {
        match self {
            History::Trade(_) => 1,
            History::Combat(_) => 2,
        }
    }

    /// `history.data`.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            History::Trade(t) => encode(t),
            History::Combat(c) => encode(c),
        }
    }
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
    (&'a EntityId, &'a Owner, &'a Colony, &'a Buildings, &'a ConstructionQueue, &'a ShipyardQueue);

/// The record of a colony read through [`ColonyView`].
pub fn colony_record(v: &ColonyView<'_>) -> ColonyRecord {
    ColonyRecord {
        owner: v.1.0,
        colony: v.2.clone(),
        buildings: *v.3,
        construction: v.4.clone(),
        shipyard: v.5.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_paths_and_names_are_stored_exactly_as_the_vectors_and_strings_before_them() {
        // Rows written when `ShipOrder` paths and waypoints were `Vec`s and colony names
        // `String`s must read back unchanged (same row format).
        let path = vec![SystemId(3), SystemId(300), SystemId(70_000)];
        assert_eq!(encode(&std::sync::Arc::<[SystemId]>::from(path.clone())), encode(&path));
        let points = vec![glam::Vec2::new(1.5, -2.0), glam::Vec2::ZERO];
        assert_eq!(encode(&std::sync::Arc::<[glam::Vec2]>::from(points.clone())), encode(&points));
        assert_eq!(encode(&std::sync::Arc::<str>::from("Colony 7")), encode(&String::from("Colony 7")));
        let order = ShipOrder::jump(path.clone());
        assert_eq!(decode::<ShipOrder>(&encode(&order)), Ok(order));
    }

    #[test]
    fn every_kind_code_round_trips_and_unknown_codes_are_refused() {
        for k in [Kind::Empire, Kind::Fleet, Kind::Ship, Kind::Colony, Kind::Order] {
            assert_eq!(Kind::from_code(k.code()), Some(k));
        }
        assert_eq!(Kind::from_code(0), None);
        assert_eq!(Kind::from_code(6), None);
        assert!(matches!(Record::decode(9, 77, &[]), Err(RowError::UnknownKind { id: 9, kind: 77 })));
    }

    #[test]
    fn garbage_data_is_an_error_naming_the_entity_never_a_panic() {
        let order = MarketOrder {
            id: EntityId(5),
            owner: EntityId(2),
            resource: ResourceKind::Minerals,
            side: Side::Buy,
            price: 10,
            quantity: 3,
            placed_tick: 1,
            expires_tick: 100,
        };
        let bytes = Record::Order(order).encode();
        assert_eq!(Record::decode(5, Kind::Order.code(), &bytes).unwrap(), Record::Order(order));
        // The same bytes under another id: refused (an order's id lives in its data too).
        assert!(Record::decode(6, Kind::Order.code(), &bytes).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        let e = Record::decode(5, Kind::Order.code(), &longer).unwrap_err().to_string();
        assert!(e.contains("entity 5") && e.contains("trailing"), "{e}");
        for len in 0..bytes.len() {
            assert!(Record::decode(5, Kind::Order.code(), &bytes[..len]).is_err(), "truncated to {len} bytes");
        }
        // Junk of every kind decodes to an error or (by chance) some record, never a panic.
        for kind in 1..=5 {
            let _ = Record::decode(5, kind, &[0xff; 40]);
        }
    }
}
