//! Galaxy and world generation from a seed.
//!
//! The galaxy: systems scattered over a disc, regions by distance from the centre, a
//! minimum spanning tree of hyperlanes (so every system is reachable) plus short extra
//! lanes up to the tuned average degree. Then NPC empires, colonies, fleets and a seeded
//! exchange. Everything draws from the (seed, 0, 0, Generation) stream.

use bevy_ecs::prelude::*;
use glam::Vec2;
use rand_chacha::ChaCha8Rng;
use starforge_components::prelude::*;

use crate::economy::to_milli;
use crate::market::place_order;
use crate::rng::{Purpose, below, stream, unit_f32};
use crate::spawn::{spawn_colony, spawn_empire, spawn_fleet, spawn_ship};

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenParams {
    /// World seed; every random stream derives from it.
    pub seed: u64,
    /// Star systems (default: `tuning.world.systems`).
    pub systems: Option<u32>,
    /// Total ships, NPC and otherwise (default: from `tuning.npc` densities).
    pub ships: Option<u32>,
    /// Colonies (default: from `tuning.npc.colonies_per_system`).
    pub colonies: Option<u32>,
    /// Resting market orders to seed the exchange with.
    pub resting_orders: u32,
}

impl GenParams {
    /// Defaults from tuning for everything but the seed.
    pub fn seeded(seed: u64) -> Self {
        Self { seed, systems: None, ships: None, colonies: None, resting_orders: 0 }
    }
}

/// Open orders one market-maker empire holds at generation (below the tuned per-empire cap).
const ORDERS_PER_MARKET_MAKER: u32 = 100;

/// Generates the galaxy map alone.
pub fn generate_galaxy(seed: u64, systems: u32, tuning: &Tuning) -> Galaxy {
    let w = &tuning.world;
    let n = systems.max(2) as usize;
    let mut rng = stream(seed, 0, 0, Purpose::Generation);
    let map_radius = (n as f32).sqrt() * 10.0;
    let mut out = Galaxy::default();
    for i in 0..n {
        // Uniform over the disc.
        let r = unit_f32(&mut rng).sqrt() * map_radius;
        let a = unit_f32(&mut rng) * std::f32::consts::TAU;
        let map_pos = Vec2::from_angle(a) * r;
        let frac = r / map_radius;
        let region = match frac {
            f if f < 0.25 => Region::Core,
            f if f < 0.55 => Region::MidRim,
            f if f < 0.85 => Region::OuterRim,
            _ => Region::DeepSpace,
        };
        let span = w.planets_max.saturating_sub(w.planets_min) + 1;
        let planets = (0..w.planets_min + below(&mut rng, span))
            .map(|_| {
                let pr = (0.15 + 0.55 * unit_f32(&mut rng)) * w.system_radius;
                let pa = unit_f32(&mut rng) * std::f32::consts::TAU;
                Planet { pos: Vec2::from_angle(pa) * pr, radius: 300.0 + 1200.0 * unit_f32(&mut rng) }
            })
            .collect();
        out.systems.push(StarSystem {
            id: SystemId(i as u32),
            name: format!("{}-{}", NAMES[i % NAMES.len()], i),
            map_pos,
            region,
            radius: w.system_radius,
            planets,
            lanes: Vec::new(),
        });
    }
    // Minimum spanning tree (Prim, O(n²)) guarantees connectivity.
    let pos: Vec<Vec2> = out.systems.iter().map(|s| s.map_pos).collect();
    let mut in_tree = vec![false; n];
    let mut best = vec![(f32::INFINITY, 0usize); n];
    in_tree[0] = true;
    for j in 1..n {
        best[j] = (pos[0].distance(pos[j]), 0);
    }
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for _ in 1..n {
        let (j, _) = (0..n)
            .filter(|&j| !in_tree[j])
            .map(|j| (j, best[j].0))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .unwrap_or((0, 0.0));
        in_tree[j] = true;
        edges.push((best[j].1.min(j), best[j].1.max(j)));
        for k in 0..n {
            let d = pos[j].distance(pos[k]);
            if !in_tree[k] && d < best[k].0 {
                best[k] = (d, j);
            }
        }
    }
    // Extra lanes: each system to its nearest not-yet-linked neighbours until the average
    // degree reaches the tuned value.
    let target = ((w.lanes_per_system.max(1.0) * n as f32) / 2.0).round() as usize;
    let mut extra = 1;
    while edges.len() < target && extra < 8 {
        for i in 0..n {
            if edges.len() >= target {
                break;
            }
            let mut near: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            near.sort_by(|&a, &b| pos[i].distance(pos[a]).total_cmp(&pos[i].distance(pos[b])).then(a.cmp(&b)));
            if let Some(&j) = near.get(extra) {
                let e = (i.min(j), i.max(j));
                if !edges.contains(&e) {
                    edges.push(e);
                }
            }
        }
        extra += 1;
    }
    edges.sort();
    for (l, &(a, b)) in edges.iter().enumerate() {
        out.lanes.push(Hyperlane { a: SystemId(a as u32), b: SystemId(b as u32), length: pos[a].distance(pos[b]) });
        out.systems[a].lanes.push(l as u32);
        out.systems[b].lanes.push(l as u32);
    }
    out
}

const NAMES: [&str; 12] =
    ["Sol", "Vega", "Altair", "Deneb", "Rigel", "Antares", "Mira", "Castor", "Pollux", "Sirius", "Arcturus", "Canopus"];

fn pick(rng: &mut ChaCha8Rng, list: &[SystemId]) -> SystemId {
    list[below(rng, list.len() as u32) as usize]
}

fn units(n: i64) -> i64 {
    n * MILLI
}

/// Generates a galaxy and populates `world` (which must hold the simulation's resources,
/// i.e. an app with `SimulationPlugin` built, and `Tuning`).
pub fn generate_world(world: &mut World, params: &GenParams) {
    let tuning = world.resource::<Tuning>().clone();
    let npc = tuning.npc;
    let systems = params.systems.unwrap_or(tuning.world.systems).max(2);
    let galaxy = generate_galaxy(params.seed, systems, &tuning);
    let mut rng = stream(params.seed, 1, 0, Purpose::Generation);
    world.insert_resource(WorldSeed(params.seed));
    let by_region = |rs: &[Region]| -> Vec<SystemId> {
        galaxy.systems.iter().filter(|s| rs.contains(&s.region)).map(|s| s.id).collect()
    };
    let all: Vec<SystemId> = galaxy.systems.iter().map(|s| s.id).collect();
    let lawless =
        Some(by_region(&[Region::OuterRim, Region::DeepSpace])).filter(|v| !v.is_empty()).unwrap_or(all.clone());
    let policed = Some(by_region(&[Region::Core, Region::MidRim])).filter(|v| !v.is_empty()).unwrap_or(all.clone());
    let planets_of: Vec<u32> = galaxy.systems.iter().map(|s| s.planets.len() as u32).collect();
    world.insert_resource(galaxy);

    let stock = |e, m, r| {
        let mut s = ResourceAmounts::default();
        *s.get_mut(ResourceKind::Energy) = units(e);
        *s.get_mut(ResourceKind::Minerals) = units(m);
        *s.get_mut(ResourceKind::RareElements) = units(r);
        s
    };
    // Every NPC empire starts with the tuned wealth (whole units; milli-units in the world).
    let (credits0, stock0) = (to_milli(npc.starting_credits), to_milli(npc.starting_stock));
    let wealth = || {
        let mut s = ResourceAmounts::default();
        *s.get_mut(ResourceKind::Energy) = stock0;
        *s.get_mut(ResourceKind::Minerals) = stock0;
        *s.get_mut(ResourceKind::RareElements) = stock0 / 10;
        s
    };
    let pirates = spawn_empire(world, "Red Corsairs", EmpireKind::Npc(Faction::Pirates), credits0, wealth());
    let patrol = spawn_empire(world, "Concord Navy", EmpireKind::Npc(Faction::Patrol), credits0, wealth());
    let traders: Vec<EntityId> = (0..npc.trader_empires.max(1))
        .map(|i| {
            let name = format!("Trade House {}", i + 1);
            spawn_empire(world, name, EmpireKind::Npc(Faction::Traders), credits0, wealth())
        })
        .collect();
    let mut npc_empires = vec![(pirates, Faction::Pirates, lawless[0]), (patrol, Faction::Patrol, policed[0])];
    npc_empires.extend(traders.iter().map(|&t| (t, Faction::Traders, all[0])));

    // Colonies: pirate bases on the rim, navy worlds in the core, trade houses everywhere.
    let colonies = params.colonies.unwrap_or((systems as f32 * npc.colonies_per_system).round() as u32);
    for i in 0..colonies {
        let (owner, system) = match i % 10 {
            0 => (pirates, pick(&mut rng, &lawless)),
            1 => (patrol, pick(&mut rng, &policed)),
            _ => (traders[i as usize % traders.len()], pick(&mut rng, &all)),
        };
        let planet = below(&mut rng, planets_of[system.0 as usize].max(1));
        let mut b = Buildings::default();
        b.0[BuildingKind::Mine.index()] = 1;
        b.0[BuildingKind::PowerPlant.index()] = 2;
        b.0[BuildingKind::Habitat.index()] = 1;
        b.0[BuildingKind::Shipyard.index()] = u8::from(i % 3 == 0);
        let pop = units(500 + below(&mut rng, 1000) as i64);
        spawn_colony(world, owner, format!("Colony {}", i + 1), system, planet, pop, b);
    }

    // Fleets: densities per system, or exactly `ships` ships in all.
    let size_span = npc.fleet_size_max.saturating_sub(npc.fleet_size_min) + 1;
    let weights = [
        (Faction::Pirates, npc.pirate_fleets_per_system * lawless.len() as f32),
        (Faction::Patrol, npc.patrol_fleets_per_system * policed.len() as f32),
        (Faction::Traders, npc.trader_fleets_per_system * all.len() as f32),
    ];
    let total_weight: f32 = weights.iter().map(|w| w.1).sum::<f32>().max(f32::MIN_POSITIVE);
    let avg_size = (npc.fleet_size_min + npc.fleet_size_max) as f32 / 2.0;
    let ships_total = params.ships.unwrap_or((total_weight * avg_size).round() as u32);
    let mut placed = 0u32;
    while placed < ships_total {
        let mut roll = unit_f32(&mut rng) * total_weight;
        let faction = weights
            .iter()
            .find(|w| {
                roll -= w.1;
                roll < 0.0
            })
            .map_or(Faction::Traders, |w| w.0);
        let (owner, home, classes): (EntityId, SystemId, &[ShipClass]) = match faction {
            Faction::Pirates => (
                pirates,
                pick(&mut rng, &lawless),
                &[ShipClass::Fighter, ShipClass::Fighter, ShipClass::Corvette, ShipClass::Cruiser],
            ),
            Faction::Patrol => (
                patrol,
                pick(&mut rng, &policed),
                &[ShipClass::Corvette, ShipClass::Cruiser, ShipClass::Cruiser, ShipClass::Battleship],
            ),
            Faction::Traders => (
                traders[below(&mut rng, traders.len() as u32) as usize],
                pick(&mut rng, &all),
                &[ShipClass::Freighter, ShipClass::Freighter, ShipClass::Corvette],
            ),
        };
        let size = (npc.fleet_size_min + below(&mut rng, size_span)).min(ships_total - placed).max(1);
        let fleet = spawn_fleet(world, owner, Some(NpcBrain { faction, home, next_think: 0 }));
        let radius = tuning.world.system_radius * 0.8;
        let centre = Vec2::from_angle(unit_f32(&mut rng) * std::f32::consts::TAU) * radius * unit_f32(&mut rng).sqrt();
        for k in 0..size {
            let class = classes[below(&mut rng, classes.len() as u32) as usize];
            let offset = Vec2::new((k % 4) as f32 * 80.0, (k / 4) as f32 * 80.0);
            let heading = unit_f32(&mut rng) * std::f32::consts::TAU - std::f32::consts::PI;
            spawn_ship(world, class, owner, fleet, Position { system: home, local: centre + offset }, heading);
        }
        placed += size;
    }

    // The exchange: market-maker houses quoting bids below and asks above the reference, so
    // the seeded book rests (NPC traders then trade inside the spread).
    let makers = params.resting_orders.div_ceil(ORDERS_PER_MARKET_MAKER);
    let mm_tuning = tuning.market;
    let reference = (npc.reference_price * MILLI as f64) as i64;
    for m in 0..makers {
        let maker = spawn_empire(
            world,
            format!("Exchange House {}", m + 1),
            EmpireKind::Npc(Faction::Traders),
            units(10_000_000),
            stock(1_000_000, 1_000_000, 1_000_000),
        );
        let n = ORDERS_PER_MARKET_MAKER.min(params.resting_orders - m * ORDERS_PER_MARKET_MAKER);
        let Some(e) = world.resource::<EntityIndex>().get(maker) else { continue };
        for k in 0..n {
            let resource = ResourceKind::TRADED[(k % 3) as usize];
            let side = if k % 2 == 0 { Side::Buy } else { Side::Sell };
            let spread = 0.05 + 0.45 * unit_f32(&mut rng) as f64;
            let price = match side {
                Side::Buy => (reference as f64 * (1.0 - spread)) as i64,
                Side::Sell => (reference as f64 * (1.0 + spread)) as i64,
            };
            let quantity = 1 + below(&mut rng, 50) as i64;
            world.resource_scope(|world, mut market: Mut<Market>| {
                world.resource_scope(|world, mut ids: Mut<IdAllocator>| {
                    let mut entity = world.entity_mut(e);
                    let mut credits = *entity.get::<Credits>().expect("empire has credits");
                    let mut stockpile = *entity.get::<Stockpile>().expect("empire has a stockpile");
                    let placed = place_order(
                        &mut market,
                        &mm_tuning,
                        0,
                        &mut ids,
                        maker,
                        &mut credits,
                        &mut stockpile,
                        resource,
                        side,
                        price,
                        quantity,
                        Some(mm_tuning.max_expiry_ticks),
                    );
                    if placed.is_ok() {
                        entity.insert((credits, stockpile));
                    }
                });
            });
        }
    }
    // The seeded quotes never cross (bids below, asks above the reference), so resting them
    // now trades nothing: the world starts with its book in place.
    let mut events = 0usize;
    world.resource_mut::<Market>().match_incoming(0, mm_tuning.fee_bps, |_| true, &mut |_| events += 1);
    debug_assert_eq!(events, 0, "seeded market orders must not cross");

    // Brains start thinking staggered over the first interval.
    let interval = npc.think_interval_ticks.max(1) as u64;
    for (id, faction, home) in npc_empires {
        if let Some(e) = world.resource::<EntityIndex>().get(id) {
            world.entity_mut(e).insert(NpcBrain { faction, home, next_think: id.0 % interval });
        }
    }
    let mut q = world.query::<(&EntityId, &mut NpcBrain)>();
    for (id, mut brain) in q.iter_mut(world) {
        brain.next_think = id.0 % interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::navigation::route;

    #[test]
    fn galaxy_is_connected_deterministic_and_has_every_region() {
        let t = Tuning::default();
        let g = generate_galaxy(42, 300, &t);
        assert_eq!(g, generate_galaxy(42, 300, &t), "same seed must give the same galaxy");
        assert_ne!(g, generate_galaxy(43, 300, &t), "another seed must give another galaxy");
        assert_eq!(g.systems.len(), 300);
        for s in &g.systems {
            assert!(route(&g, SystemId(0), s.id).is_some(), "system {} unreachable", s.id.0);
            assert!(s.planets.len() as u32 >= t.world.planets_min && s.planets.len() as u32 <= t.world.planets_max);
        }
        for r in Region::ALL {
            assert!(g.systems.iter().any(|s| s.region == r), "no system in {r:?}");
        }
        let avg = 2.0 * g.lanes.len() as f32 / 300.0;
        assert!((avg - t.world.lanes_per_system).abs() < 0.6, "average degree {avg}");
    }
}
