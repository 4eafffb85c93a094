//! Records ↔ rows: [`encode`] turns a batch into the rows of every table; [`decode`] (in
//! `decode.rs`) turns rows read back into a world. Whatever one writes the other reads exactly
//! (tests/tests/persistence.rs round-trips a generated world).
//!
//! Unsigned values are stored as the signed integer with the same bits (`u64` ticks and ids as
//! BIGINT, `u32` system ids and counters as INTEGER), so every value round-trips; only values
//! beyond the signed range (a seed above 2^63) read as negative numbers in SQL.

use std::borrow::Cow;

use glam::Vec2;
use starforge_components::galaxy::{Galaxy, Region};
use starforge_components::prelude::*;

use super::schema::*;
use super::{Json, List, Text};
use crate::collect::Change;
use crate::rows::{ColonyRecord, EmpireRecord, FleetRecord, History, Kind, Record, ShipRecord, WorldMeta};

pub use super::decode::{RowError, decode};
use crate::writer::Batch;

pub(super) const CLASSES: [(ShipClass, &str); 5] = [
    (ShipClass::Fighter, "fighter"),
    (ShipClass::Corvette, "corvette"),
    (ShipClass::Cruiser, "cruiser"),
    (ShipClass::Battleship, "battleship"),
    (ShipClass::Freighter, "freighter"),
];
pub(super) const FACTIONS: [(Faction, &str); 3] =
    [(Faction::Pirates, "pirates"), (Faction::Traders, "traders"), (Faction::Patrol, "patrol")];
pub(super) const KINDS: [(EmpireKind, &str); 4] = [
    (EmpireKind::Player, "player"),
    (EmpireKind::Npc(Faction::Pirates), "pirates"),
    (EmpireKind::Npc(Faction::Traders), "traders"),
    (EmpireKind::Npc(Faction::Patrol), "patrol"),
];
pub(super) const REGIONS: [(Region, &str); 4] = [
    (Region::Core, "core"),
    (Region::MidRim, "mid_rim"),
    (Region::OuterRim, "outer_rim"),
    (Region::DeepSpace, "deep_space"),
];
pub(super) const BUILDINGS: [(BuildingKind, &str); 6] = [
    (BuildingKind::Mine, "mine"),
    (BuildingKind::PowerPlant, "power_plant"),
    (BuildingKind::RareExtractor, "rare_extractor"),
    (BuildingKind::Habitat, "habitat"),
    (BuildingKind::Shipyard, "shipyard"),
    (BuildingKind::ResearchLab, "research_lab"),
];
pub(super) const RESOURCES: [(ResourceKind, &str); 4] = [
    (ResourceKind::Energy, "energy"),
    (ResourceKind::Minerals, "minerals"),
    (ResourceKind::RareElements, "rare_elements"),
    (ResourceKind::Population, "population"),
];
pub(super) const SIDES: [(Side, &str); 2] = [(Side::Buy, "buy"), (Side::Sell, "sell")];

fn name<T: PartialEq + Copy>(names: &[(T, &'static str)], v: T) -> Text {
    Cow::Borrowed(names.iter().find(|(t, _)| *t == v).map_or("?", |(_, n)| n))
}

fn json<T: serde::Serialize>(v: &T) -> Json {
    // Plain numbers and arrays: serializing into a string cannot fail.
    Json(serde_json::to_string(v).unwrap_or_default())
}

/// The rows `batch` writes as `shard`: the newest state of each entity it holds, deletions, the
/// world row, tickers, engagements, the galaxy if it carries it, and its history.
pub fn encode(batch: &Batch, shard: &str) -> Rows {
    let mut rows = Rows::default();
    world_row(&mut rows.world, shard, batch.id, &batch.meta);
    market_stats(&mut rows.tickers, &batch.meta.market);
    engagements(&mut rows.engagements, &batch.meta.engagements);
    if let Some(galaxy) = &batch.galaxy {
        galaxy_rows(&mut rows, galaxy);
    }
    let new_children = batch.entities.colonies_with_new_children();
    for (id, change) in batch.entities.newest() {
        let children = new_children.contains(id);
        let id = id.0 as i64;
        match change {
            Change::Saved(Record::Empire(r)) => empire(&mut rows.empires, id, r),
            Change::Saved(Record::Fleet(r)) => fleet(&mut rows.fleets, id, r),
            Change::Saved(Record::Ship(r)) => ship(&mut rows.ships, id, r),
            Change::Saved(Record::Colony(r)) => colony(&mut rows, id, r, children),
            Change::Saved(Record::Order(o)) => order(&mut rows.orders, o),
            Change::Deleted(kind) => match kind {
                Kind::Empire => rows.deletes.empires.push(id),
                Kind::Fleet => rows.deletes.fleets.push(id),
                Kind::Ship => rows.deletes.ships.push(id),
                Kind::Colony => rows.deletes.colonies.push(id),
                Kind::Order => rows.deletes.orders.push(id),
            },
        }
    }
    for h in &batch.history {
        let (tick, seq) = (h.tick as i64, h.seq as i32);
        match &h.event {
            History::Trade(t) => {
                let r = &mut rows.trades;
                r.tick.push(tick);
                r.seq.push(seq);
                r.resource.push(name(&RESOURCES, t.resource));
                r.price.push(t.price);
                r.quantity.push(t.quantity);
                r.fee.push(t.fee);
                r.buyer_id.push(t.buyer.0 as i64);
                r.seller_id.push(t.seller.0 as i64);
                r.buy_order_id.push(t.buy_order.0 as i64);
                r.sell_order_id.push(t.sell_order.0 as i64);
            }
            History::Combat(c) => {
                let r = &mut rows.reports;
                r.tick.push(tick);
                r.seq.push(seq);
                r.system_id.push(c.system.0 as i32);
                r.started.push(c.started as i64);
                r.ended.push(c.ended as i64);
                r.shots.push(c.shots as i32);
                r.victor_id.push(c.victor.map(|v| v.0 as i64));
                r.participants.push(json(&c.participants.iter().map(|p| p.0).collect::<Vec<_>>()));
                r.losses.push(json(&c.losses.iter().map(|(e, n)| (e.0, *n)).collect::<Vec<_>>()));
            }
        }
    }
    rows
}

fn world_row(w: &mut WorldRows, shard: &str, batch: u64, m: &WorldMeta) {
    let (c, d, s) = (&m.ledger.created, &m.ledger.destroyed, &m.stats);
    w.shard.push(Cow::Owned(shard.to_owned()));
    w.batch.push(batch as i64);
    w.tick.push(m.tick as i64);
    w.seed.push(m.seed as i64);
    w.next_id.push(m.next_id as i64);
    for (col, v) in [
        (&mut w.created_credits, c[0]),
        (&mut w.created_energy, c[1]),
        (&mut w.created_minerals, c[2]),
        (&mut w.created_rare_elements, c[3]),
        (&mut w.created_population, c[4]),
        (&mut w.destroyed_credits, d[0]),
        (&mut w.destroyed_energy, d[1]),
        (&mut w.destroyed_minerals, d[2]),
        (&mut w.destroyed_rare_elements, d[3]),
        (&mut w.destroyed_population, d[4]),
    ] {
        col.push(v);
    }
    for (col, v) in [
        (&mut w.battles, s.battles),
        (&mut w.shots, s.shots),
        (&mut w.ships_destroyed, s.ships_destroyed),
        (&mut w.ships_built, s.ships_built),
        (&mut w.buildings_completed, s.buildings_completed),
        (&mut w.trades, s.trades),
        (&mut w.intents_accepted, s.intents_accepted),
        (&mut w.intents_rejected, s.intents_rejected),
        (&mut w.jumps, s.jumps),
    ] {
        col.push(v as i64);
    }
}

fn market_stats(t: &mut TickerRows, stats: &MarketStats) {
    for (i, r) in ResourceKind::TRADED.into_iter().enumerate() {
        let ticker = &stats.tickers[i];
        t.resource.push(name(&RESOURCES, r));
        t.last_price.push(ticker.last);
        t.best_bid.push(ticker.best_bid);
        t.best_ask.push(ticker.best_ask);
        t.volume.push(ticker.volume);
        t.volume_window.push(json(&stats.windows[i]));
    }
}

fn engagements(t: &mut EngagementRows, all: &Engagements) {
    for (system, e) in &all.0 {
        t.system_id.push(system.0 as i32);
        t.started.push(e.started as i64);
        t.last_shot.push(e.last_shot as i64);
        t.shots.push(e.shots as i32);
        t.participants.push(json(&e.participants.keys().map(|p| p.0).collect::<Vec<_>>()));
        t.losses.push(json(&e.losses.iter().map(|(k, n)| (k.0, *n)).collect::<Vec<_>>()));
        t.kills.push(json(&e.kills.iter().map(|(k, n)| (k.0, *n)).collect::<Vec<_>>()));
    }
}

fn galaxy_rows(rows: &mut Rows, galaxy: &Galaxy) {
    for s in &galaxy.systems {
        let id = s.id.0 as i32;
        rows.systems.id.push(id);
        rows.systems.name.push(Cow::Owned(s.name.clone()));
        rows.systems.region.push(name(&REGIONS, s.region));
        rows.systems.map_x.push(s.map_pos.x);
        rows.systems.map_y.push(s.map_pos.y);
        rows.systems.radius.push(s.radius);
        for (i, p) in s.planets.iter().enumerate() {
            rows.planets.system_id.push(id);
            rows.planets.planet.push(i as i32);
            rows.planets.x.push(p.pos.x);
            rows.planets.y.push(p.pos.y);
            rows.planets.radius.push(p.radius);
        }
    }
    for (i, l) in galaxy.lanes.iter().enumerate() {
        rows.lanes.id.push(i as i32);
        rows.lanes.a.push(l.a.0 as i32);
        rows.lanes.b.push(l.b.0 as i32);
        rows.lanes.length.push(l.length);
    }
}

fn brain(b: Option<NpcBrain>) -> (Option<Text>, Option<i32>, Option<i64>) {
    match b {
        Some(b) => (Some(name(&FACTIONS, b.faction)), Some(b.home.0 as i32), Some(b.next_think as i64)),
        None => (None, None, None),
    }
}

fn empire(t: &mut EmpireRows, id: i64, r: &EmpireRecord) {
    t.id.push(id);
    t.name.push(Cow::Owned(r.empire.name.clone()));
    t.kind.push(name(&KINDS, r.empire.kind));
    t.credits.push(r.credits.0);
    let s = r.stockpile.0.0;
    t.energy.push(s[0]);
    t.minerals.push(s[1]);
    t.rare_elements.push(s[2]);
    t.population.push(s[3]);
    let c = r.census.0.map(|n| n as i32);
    t.fighters.push(c[0]);
    t.corvettes.push(c[1]);
    t.cruisers.push(c[2]);
    t.battleships.push(c[3]);
    t.freighters.push(c[4]);
    let (f, h, n) = brain(r.brain);
    t.brain_faction.push(f);
    t.brain_home_system_id.push(h);
    t.brain_next_think.push(n);
}

fn fleet(t: &mut FleetRows, id: i64, r: &FleetRecord) {
    t.id.push(id);
    t.owner_id.push(r.owner.0 as i64);
    t.ships.push(List(r.fleet.ships.iter().map(|s| s.0 as i64).collect()));
    let (f, h, n) = brain(r.brain);
    t.brain_faction.push(f);
    t.brain_home_system_id.push(h);
    t.brain_next_think.push(n);
}

/// A ship's order as columns: kind, x, y, target, path, next, points, thrust, turn, fire, until.
type OrderColumns = (
    &'static str,
    Option<Vec2>,
    Option<i64>,
    Option<List<i32>>,
    Option<i32>,
    Option<List<f32>>,
    Option<(f32, f32, bool, i64)>,
);

fn order_columns(o: &ShipOrder) -> OrderColumns {
    match o {
        ShipOrder::Idle => ("idle", None, None, None, None, None, None),
        ShipOrder::Manual { thrust, turn, fire, until } => {
            ("manual", None, None, None, None, None, Some((*thrust, *turn, *fire, *until as i64)))
        }
        ShipOrder::MoveTo(p) => ("move_to", Some(*p), None, None, None, None, None),
        ShipOrder::Jump { path, next } => {
            ("jump", None, None, Some(List(path.iter().map(|s| s.0 as i32).collect())), Some(next.0 as i32), None, None)
        }
        ShipOrder::Attack(t) => ("attack", None, Some(t.0 as i64), None, None, None, None),
        ShipOrder::Patrol { points, next, goal } => (
            "patrol",
            Some(*goal),
            None,
            None,
            Some(*next as i32),
            Some(List(points.iter().flat_map(|p| [p.x, p.y]).collect())),
            None,
        ),
    }
}

fn ship(t: &mut ShipRows, id: i64, r: &ShipRecord) {
    t.id.push(id);
    t.owner_id.push(r.owner.0 as i64);
    t.fleet_id.push(r.fleet.map(|f| f.0 as i64));
    t.class.push(name(&CLASSES, r.ship.class));
    t.allegiance.push(name(&KINDS, r.allegiance.0));
    t.system_id.push(r.position.system.0 as i32);
    t.x.push(r.position.local.x);
    t.y.push(r.position.local.y);
    t.vx.push(r.motion.vel.x);
    t.vy.push(r.motion.vel.y);
    t.heading.push(r.motion.heading);
    t.hull.push(r.hull.0);
    t.weapon_ready_tick.push(r.weapon.ready_tick as i64);
    let c = r.cargo.0.0;
    t.cargo_energy.push(c[0]);
    t.cargo_minerals.push(c[1]);
    t.cargo_rare_elements.push(c[2]);
    t.cargo_population.push(c[3]);
    let (kind, at, target, path, next, points, manual) = order_columns(&r.order);
    t.order_kind.push(Cow::Borrowed(kind));
    t.order_x.push(at.map(|p| p.x));
    t.order_y.push(at.map(|p| p.y));
    t.order_target_id.push(target);
    t.order_path.push(path);
    t.order_next.push(next);
    t.order_points.push(points);
    t.order_thrust.push(manual.map(|m| m.0));
    t.order_turn.push(manual.map(|m| m.1));
    t.order_fire.push(manual.map(|m| m.2));
    t.order_until.push(manual.map(|m| m.3));
    t.transit_to.push(r.transit.map(|tr| tr.to.0 as i32));
    t.transit_ticks_left.push(r.transit.map(|tr| tr.ticks_left as i32));
    t.target_id.push(r.target.map(|e| e.0 as i64));
}

/// The colony's row, and its buildings and queues if they changed (`children`).
fn colony(rows: &mut Rows, id: i64, r: &ColonyRecord, children: bool) {
    let system = r.colony.system.0 as i32;
    let t = &mut rows.colonies;
    t.id.push(id);
    t.owner_id.push(r.owner.0 as i64);
    t.system_id.push(system);
    t.planet.push(r.colony.planet as i32);
    t.name.push(Cow::Owned(r.colony.name.to_string()));
    t.population.push(r.colony.population);
    if !children {
        return;
    }
    rows.children_replaced.push(id);
    for kind in BuildingKind::ALL {
        let level = r.buildings.level(kind);
        if level > 0 {
            let b = &mut rows.buildings;
            b.colony_id.push(id);
            b.system_id.push(system);
            b.building.push(name(&BUILDINGS, kind));
            b.level.push(i16::from(level));
        }
    }
    for (i, job) in r.construction.0.iter().enumerate() {
        let q = &mut rows.construction;
        q.colony_id.push(id);
        q.position.push(i as i32);
        q.system_id.push(system);
        q.building.push(name(&BUILDINGS, job.building));
        q.target_level.push(i16::from(job.target_level));
        q.ticks_left.push(job.ticks_left as i32);
    }
    for (i, job) in r.shipyard.0.iter().enumerate() {
        let q = &mut rows.shipyard;
        q.colony_id.push(id);
        q.position.push(i as i32);
        q.system_id.push(system);
        q.class.push(name(&CLASSES, job.class));
        q.ticks_left.push(job.ticks_left as i32);
        q.fleet_id.push(job.fleet.map(|f| f.0 as i64));
    }
}

fn order(t: &mut OrderRows, o: &MarketOrder) {
    t.id.push(o.id.0 as i64);
    t.owner_id.push(o.owner.0 as i64);
    t.resource.push(name(&RESOURCES, o.resource));
    t.side.push(name(&SIDES, o.side));
    t.price.push(o.price);
    t.quantity.push(o.quantity);
    t.escrow_credits.push(o.escrow_credits());
    t.escrow_goods.push(o.escrow_goods());
    t.placed_tick.push(o.placed_tick as i64);
    t.expires_tick.push(o.expires_tick as i64);
}
