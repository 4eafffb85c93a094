//! Rows read back → the world they hold (the inverse of [`super::map::encode`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use glam::Vec2;
use starforge_components::galaxy::{Galaxy, Hyperlane, Planet, StarSystem};
use starforge_components::prelude::*;

use super::map::{BUILDINGS, CLASSES, FACTIONS, KINDS, REGIONS, RESOURCES, SIDES};
use super::schema::*;
use super::{Json, Table, Text};
use crate::restore::LoadedWorld;
use crate::rows::{ColonyRecord, EmpireRecord, FleetRecord, Record, ShipRecord, WorldMeta};

/// A row that cannot be turned back into the world.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// A text column holds a value no enumeration has.
    #[error("{table} row {key}: {column} = {value:?} is not a known value")]
    Unknown {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: i64,
        /// The column.
        column: &'static str,
        /// What it holds.
        value: String,
    },
    /// A column that this row's kind needs is NULL.
    #[error("{table} row {key}: {column} is NULL but needed")]
    Missing {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: i64,
        /// The column.
        column: &'static str,
    },
    /// Rows contradict each other (ids out of order, a child without its parent, a JSON column
    /// that does not parse).
    #[error("{0}")]
    Inconsistent(String),
}

/// Where a value was read from, for errors.
#[derive(Clone, Copy)]
struct At {
    table: &'static str,
    key: i64,
}

impl At {
    fn parse<T: Copy>(self, names: &[(T, &'static str)], column: &'static str, v: &str) -> Result<T, RowError> {
        names.iter().find(|(_, n)| *n == v).map(|(t, _)| *t).ok_or_else(|| RowError::Unknown {
            table: self.table,
            key: self.key,
            column,
            value: v.to_owned(),
        })
    }

    fn need<T>(self, column: &'static str, v: Option<T>) -> Result<T, RowError> {
        v.ok_or(RowError::Missing { table: self.table, key: self.key, column })
    }

    fn json<T: serde::de::DeserializeOwned>(self, column: &'static str, v: &Json) -> Result<T, RowError> {
        serde_json::from_str(&v.0).map_err(|e| {
            RowError::Inconsistent(format!("{} row {}: {column} is not the expected JSON: {e}", self.table, self.key))
        })
    }
}

/// The world `rows` hold (as read back by the restore: one world row, every entity, no
/// history). Entities come out in id order.
pub fn decode(rows: Rows) -> Result<LoadedWorld, RowError> {
    let w = &rows.world;
    if w.len() != 1 {
        return Err(RowError::Inconsistent(format!("expected one world row, found {}", w.len())));
    }
    let meta = WorldMeta {
        tick: w.tick[0] as u64,
        seed: w.seed[0] as u64,
        next_id: w.next_id[0] as u64,
        ledger: Ledger {
            created: [
                w.created_credits[0],
                w.created_energy[0],
                w.created_minerals[0],
                w.created_rare_elements[0],
                w.created_population[0],
            ],
            destroyed: [
                w.destroyed_credits[0],
                w.destroyed_energy[0],
                w.destroyed_minerals[0],
                w.destroyed_rare_elements[0],
                w.destroyed_population[0],
            ],
        },
        stats: SimStats {
            battles: w.battles[0] as u64,
            shots: w.shots[0] as u64,
            ships_destroyed: w.ships_destroyed[0] as u64,
            ships_built: w.ships_built[0] as u64,
            buildings_completed: w.buildings_completed[0] as u64,
            trades: w.trades[0] as u64,
            intents_accepted: w.intents_accepted[0] as u64,
            intents_rejected: w.intents_rejected[0] as u64,
            jumps: w.jumps[0] as u64,
        },
        engagements: decode_engagements(&rows.engagements)?,
        market: decode_market(&rows.tickers)?,
    };
    let galaxy = decode_galaxy(&rows)?;
    let mut records = Vec::new();
    let e = &rows.empires;
    for i in 0..e.len() {
        let at = At { table: "empires", key: e.id[i] };
        let stockpile = [e.energy[i], e.minerals[i], e.rare_elements[i], e.population[i]];
        let census = [e.fighters[i], e.corvettes[i], e.cruisers[i], e.battleships[i], e.freighters[i]];
        let record = EmpireRecord {
            empire: Empire { name: e.name[i].to_string(), kind: at.parse(&KINDS, "kind", &e.kind[i])? },
            credits: Credits(e.credits[i]),
            stockpile: Stockpile(ResourceAmounts(stockpile)),
            census: ShipCensus(census.map(|n| n as u32)),
            brain: decode_brain(at, &e.brain_faction[i], e.brain_home_system_id[i], e.brain_next_think[i])?,
        };
        records.push((EntityId(e.id[i] as u64), Record::Empire(record)));
    }
    let f = &rows.fleets;
    for i in 0..f.len() {
        let at = At { table: "fleets", key: f.id[i] };
        let record = FleetRecord {
            owner: EntityId(f.owner_id[i] as u64),
            fleet: Fleet { ships: f.ships[i].0.iter().map(|s| EntityId(*s as u64)).collect() },
            brain: decode_brain(at, &f.brain_faction[i], f.brain_home_system_id[i], f.brain_next_think[i])?,
        };
        records.push((EntityId(f.id[i] as u64), Record::Fleet(record)));
    }
    let s = &rows.ships;
    for i in 0..s.len() {
        records.push((EntityId(s.id[i] as u64), Record::Ship(decode_ship(s, i)?)));
    }
    decode_colonies(&rows, &mut records)?;
    let o = &rows.orders;
    for i in 0..o.len() {
        let at = At { table: "market_orders", key: o.id[i] };
        let order = MarketOrder {
            id: EntityId(o.id[i] as u64),
            owner: EntityId(o.owner_id[i] as u64),
            resource: at.parse(&RESOURCES, "resource", &o.resource[i])?,
            side: at.parse(&SIDES, "side", &o.side[i])?,
            price: o.price[i],
            quantity: o.quantity[i],
            placed_tick: o.placed_tick[i] as u64,
            expires_tick: o.expires_tick[i] as u64,
        };
        records.push((order.id, Record::Order(order)));
    }
    records.sort_by_key(|(id, _)| *id);
    if let Some(w) = records.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(RowError::Inconsistent(format!("entity {} is saved in two tables", w[0].0.0)));
    }
    Ok(LoadedWorld { batch: rows.world.batch[0] as u64, meta, galaxy, records })
}

fn decode_brain(
    at: At,
    faction: &Option<Text>,
    home: Option<i32>,
    next: Option<i64>,
) -> Result<Option<NpcBrain>, RowError> {
    let Some(faction) = faction else { return Ok(None) };
    Ok(Some(NpcBrain {
        faction: at.parse(&FACTIONS, "brain_faction", faction)?,
        home: SystemId(at.need("brain_home_system_id", home)? as u32),
        next_think: at.need("brain_next_think", next)? as u64,
    }))
}

fn decode_ship(s: &ShipRows, i: usize) -> Result<ShipRecord, RowError> {
    let at = At { table: "ships", key: s.id[i] };
    let goal = || -> Result<Vec2, RowError> {
        Ok(Vec2::new(at.need("order_x", s.order_x[i])?, at.need("order_y", s.order_y[i])?))
    };
    let order = match s.order_kind[i].as_ref() {
        "idle" => ShipOrder::Idle,
        "manual" => ShipOrder::Manual {
            thrust: at.need("order_thrust", s.order_thrust[i])?,
            turn: at.need("order_turn", s.order_turn[i])?,
            fire: at.need("order_fire", s.order_fire[i])?,
            until: at.need("order_until", s.order_until[i])? as u64,
        },
        "move_to" => ShipOrder::MoveTo(goal()?),
        "jump" => ShipOrder::Jump {
            path: at.need("order_path", s.order_path[i].as_ref())?.0.iter().map(|s| SystemId(*s as u32)).collect(),
            next: SystemId(at.need("order_next", s.order_next[i])? as u32),
        },
        "attack" => ShipOrder::Attack(EntityId(at.need("order_target_id", s.order_target_id[i])? as u64)),
        "patrol" => {
            let flat = &at.need("order_points", s.order_points[i].as_ref())?.0;
            if flat.len() % 2 != 0 {
                return Err(RowError::Inconsistent(format!("ships row {}: order_points has odd length", s.id[i])));
            }
            ShipOrder::Patrol {
                points: flat.chunks(2).map(|p| Vec2::new(p[0], p[1])).collect::<Arc<[Vec2]>>(),
                next: at.need("order_next", s.order_next[i])? as usize,
                goal: goal()?,
            }
        }
        other => {
            return Err(RowError::Unknown { table: "ships", key: s.id[i], column: "order_kind", value: other.into() });
        }
    };
    let transit = match (s.transit_to[i], s.transit_ticks_left[i]) {
        (Some(to), Some(left)) => Some(Transit { to: SystemId(to as u32), ticks_left: left as u32 }),
        (None, None) => None,
        _ => return Err(RowError::Missing { table: "ships", key: s.id[i], column: "transit_to/transit_ticks_left" }),
    };
    Ok(ShipRecord {
        ship: Ship { class: at.parse(&CLASSES, "class", &s.class[i])? },
        owner: EntityId(s.owner_id[i] as u64),
        allegiance: Allegiance(at.parse(&KINDS, "allegiance", &s.allegiance[i])?),
        fleet: s.fleet_id[i].map(|f| EntityId(f as u64)),
        position: Position { system: SystemId(s.system_id[i] as u32), local: Vec2::new(s.x[i], s.y[i]) },
        motion: Motion { vel: Vec2::new(s.vx[i], s.vy[i]), heading: s.heading[i] },
        hull: Hull(s.hull[i]),
        weapon: Weapon { ready_tick: s.weapon_ready_tick[i] as u64 },
        cargo: Cargo(ResourceAmounts([
            s.cargo_energy[i],
            s.cargo_minerals[i],
            s.cargo_rare_elements[i],
            s.cargo_population[i],
        ])),
        order,
        transit,
        target: s.target_id[i].map(|t| EntityId(t as u64)),
    })
}

fn decode_colonies(rows: &Rows, records: &mut Vec<(EntityId, Record)>) -> Result<(), RowError> {
    let c = &rows.colonies;
    let mut colonies: BTreeMap<i64, ColonyRecord> = BTreeMap::new();
    for i in 0..c.len() {
        let record = ColonyRecord {
            owner: EntityId(c.owner_id[i] as u64),
            colony: Colony {
                name: c.name[i].as_ref().into(),
                system: SystemId(c.system_id[i] as u32),
                planet: c.planet[i] as u32,
                population: c.population[i],
            },
            buildings: Buildings::default(),
            construction: ConstructionQueue::default(),
            shipyard: ShipyardQueue::default(),
            children_changed: true,
        };
        colonies.insert(c.id[i], record);
    }
    let orphan =
        |table: &str, id: i64| RowError::Inconsistent(format!("{table} row of colony {id}, which is not saved"));
    let b = &rows.buildings;
    for i in 0..b.len() {
        let at = At { table: "buildings", key: b.colony_id[i] };
        let kind = at.parse(&BUILDINGS, "building", &b.building[i])?;
        let colony = colonies.get_mut(&b.colony_id[i]).ok_or_else(|| orphan("buildings", b.colony_id[i]))?;
        colony.buildings.0[kind.index()] = b.level[i] as u8;
    }
    // Queue rows come in (colony, position) order.
    let q = &rows.construction;
    for i in 0..q.len() {
        let at = At { table: "construction_queue", key: q.colony_id[i] };
        let job = ConstructionJob {
            building: at.parse(&BUILDINGS, "building", &q.building[i])?,
            target_level: q.target_level[i] as u8,
            ticks_left: q.ticks_left[i] as u32,
        };
        let colony = colonies.get_mut(&q.colony_id[i]).ok_or_else(|| orphan("construction_queue", q.colony_id[i]))?;
        colony.construction.0.push_back(job);
    }
    let q = &rows.shipyard;
    for i in 0..q.len() {
        let at = At { table: "shipyard_queue", key: q.colony_id[i] };
        let job = ShipJob {
            class: at.parse(&CLASSES, "class", &q.class[i])?,
            ticks_left: q.ticks_left[i] as u32,
            fleet: q.fleet_id[i].map(|f| EntityId(f as u64)),
        };
        let colony = colonies.get_mut(&q.colony_id[i]).ok_or_else(|| orphan("shipyard_queue", q.colony_id[i]))?;
        colony.shipyard.0.push_back(job);
    }
    records.extend(colonies.into_iter().map(|(id, c)| (EntityId(id as u64), Record::Colony(c))));
    Ok(())
}

fn decode_market(t: &TickerRows) -> Result<MarketStats, RowError> {
    let mut stats = MarketStats::default();
    for i in 0..t.len() {
        let at = At { table: "market_tickers", key: i as i64 };
        let r = at.parse(&RESOURCES, "resource", &t.resource[i])?;
        let Some(slot) = ResourceKind::TRADED.iter().position(|x| *x == r) else {
            return Err(RowError::Inconsistent(format!("market_tickers: {r:?} is not traded")));
        };
        stats.tickers[slot] =
            Ticker { last: t.last_price[i], best_bid: t.best_bid[i], best_ask: t.best_ask[i], volume: t.volume[i] };
        let window: VecDeque<(u64, i64)> = at.json("volume_window", &t.volume_window[i])?;
        stats.windows[slot] = window;
    }
    Ok(stats)
}

fn decode_engagements(t: &EngagementRows) -> Result<Engagements, RowError> {
    let mut all = Engagements::default();
    for i in 0..t.len() {
        let at = At { table: "engagements", key: i64::from(t.system_id[i]) };
        let participants: Vec<u64> = at.json("participants", &t.participants[i])?;
        let losses: Vec<(u64, u32)> = at.json("losses", &t.losses[i])?;
        let kills: Vec<(u64, u32)> = at.json("kills", &t.kills[i])?;
        let e = Engagement {
            started: t.started[i] as u64,
            last_shot: t.last_shot[i] as u64,
            shots: t.shots[i] as u32,
            participants: participants.into_iter().map(|p| (EntityId(p), ())).collect(),
            losses: losses.into_iter().map(|(k, n)| (EntityId(k), n)).collect(),
            kills: kills.into_iter().map(|(k, n)| (EntityId(k), n)).collect(),
        };
        all.0.insert(SystemId(t.system_id[i] as u32), e);
    }
    Ok(all)
}

fn decode_galaxy(rows: &Rows) -> Result<Galaxy, RowError> {
    let s = &rows.systems;
    let mut galaxy = Galaxy::default();
    for i in 0..s.len() {
        if s.id[i] as usize != i {
            return Err(RowError::Inconsistent(format!("star system ids are not 0..{}: found {}", s.len(), s.id[i])));
        }
        let at = At { table: "star_systems", key: i64::from(s.id[i]) };
        galaxy.systems.push(StarSystem {
            id: SystemId(s.id[i] as u32),
            name: s.name[i].to_string(),
            map_pos: Vec2::new(s.map_x[i], s.map_y[i]),
            region: at.parse(&REGIONS, "region", &s.region[i])?,
            radius: s.radius[i],
            planets: Vec::new(),
            lanes: Vec::new(),
        });
    }
    let p = &rows.planets;
    for i in 0..p.len() {
        let system = galaxy.systems.get_mut(p.system_id[i] as usize);
        let Some(system) = system.filter(|s| s.planets.len() == p.planet[i] as usize) else {
            return Err(RowError::Inconsistent(format!(
                "planet {} of system {} is out of place",
                p.planet[i], p.system_id[i]
            )));
        };
        system.planets.push(Planet { pos: Vec2::new(p.x[i], p.y[i]), radius: p.radius[i] });
    }
    let l = &rows.lanes;
    for i in 0..l.len() {
        let (a, b) = (l.a[i] as usize, l.b[i] as usize);
        if l.id[i] as usize != i || a >= galaxy.systems.len() || b >= galaxy.systems.len() {
            return Err(RowError::Inconsistent(format!("hyperlane {} is out of place", l.id[i])));
        }
        // Each system lists its lanes in lane order, as world generation builds them.
        galaxy.systems[a].lanes.push(i as u32);
        galaxy.systems[b].lanes.push(i as u32);
        galaxy.lanes.push(Hyperlane { a: SystemId(a as u32), b: SystemId(b as u32), length: l.length[i] });
    }
    Ok(galaxy)
}
