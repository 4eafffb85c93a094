//! NPCs that keep the galaxy alive: pirates hunt, traders haul and trade, patrols defend.
//!
//! Brains think in the Input set, before intents are applied, and act only by queueing
//! intents — the same validated path a player's client uses, so a galaxy with no clients
//! exercises every rule. Each brain thinks every `think_interval_ticks`, staggered by id;
//! all choices come from the (seed, system, tick, Npc) stream.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use glam::Vec2;
use rand_chacha::ChaCha8Rng;
use starforge_components::prelude::*;

use crate::SimSystems;
use crate::economy::{check_affordable, cost_milli};
use crate::input::apply_intents;
use crate::navigation::within_jumps;
use crate::rng::{Purpose, below, stream, unit_f64};
use crate::spatial::side_slot;

/// NPC brains in [`SimSystems::Input`], before intents are applied.
pub struct NpcPlugin;

impl Plugin for NpcPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SystemCensus>().add_systems(
            FixedUpdate,
            (count_systems, think_fleets, think_empires).chain().before(apply_intents).in_set(SimSystems::Input),
        );
    }
}

/// Ships in space per system per side (indexed by [`side_slot`]: players, pirates, traders,
/// patrol), recounted at the start of each tick (Input), so it is derived from the world and
/// needs no saving: a restored world counts it before anything reads it.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SystemCensus(pub Vec<[u32; 4]>);

impl SystemCensus {
    /// Counts in `s` (zeros for an unknown system).
    pub fn get(&self, s: SystemId) -> [u32; 4] {
        self.0.get(s.0 as usize).copied().unwrap_or_default()
    }
}

/// Recounts [`SystemCensus`] (first in Input).
pub fn count_systems(
    galaxy: Res<Galaxy>,
    mut census: ResMut<SystemCensus>,
    ships: Query<(&Position, &Allegiance), Without<Transit>>,
) {
    census.0 = count_sides(galaxy.systems.len(), ships.iter());
}

/// Ships per side (by [`side_slot`]) in each of `systems` star systems.
pub fn count_sides<'a>(systems: usize, ships: impl Iterator<Item = (&'a Position, &'a Allegiance)>) -> Vec<[u32; 4]> {
    let mut counts = vec![[0u32; 4]; systems];
    for (pos, a) in ships {
        if let Some(c) = counts.get_mut(pos.system.0 as usize) {
            c[side_slot(a.0)] += 1;
        }
    }
    counts
}

fn due(brain: &NpcBrain, tick: u64) -> bool {
    tick >= brain.next_think
}

fn next_think(tick: u64, id: EntityId, interval: u32) -> u64 {
    let interval = interval.max(1) as u64;
    tick + interval + (id.0 % interval)
}

fn patrol_points(galaxy: &Galaxy, system: SystemId, rng: &mut ChaCha8Rng) -> Vec<Vec2> {
    let Some(sys) = galaxy.system(system) else { return Vec::new() };
    if sys.planets.len() >= 2 {
        let a = below(rng, sys.planets.len() as u32) as usize;
        let b = (a + 1 + below(rng, sys.planets.len() as u32 - 1) as usize) % sys.planets.len();
        [a, b]
            .iter()
            .map(|&i| {
                sys.planets[i].pos * 1.0 + sys.planets[i].pos.normalize_or(Vec2::X) * (sys.planets[i].radius + 400.0)
            })
            .collect()
    } else {
        let r = sys.radius * 0.3;
        vec![Vec2::new(r, 0.0), Vec2::new(-r, 0.0)]
    }
}

/// Fleet brains: choose where to go and what to do.
#[expect(clippy::too_many_arguments, reason = "a system's parameters are its dependencies")]
pub fn think_fleets(
    mut commands: Commands,
    tick: Res<SimTick>,
    seed: Res<WorldSeed>,
    tuning: Res<Tuning>,
    galaxy: Res<Galaxy>,
    census: Res<SystemCensus>,
    mut index: ResMut<EntityIndex>,
    mut queue: ResMut<IntentQueue>,
    mut fleets: Query<(Entity, &EntityId, &Owner, &Fleet, &mut NpcBrain), Without<Empire>>,
    ships: Query<(&Position, &ShipOrder, Has<Transit>)>,
) {
    let tick = tick.0;
    let npc = tuning.npc;
    for (e, id, owner, fleet, mut brain) in &mut fleets {
        if !due(&brain, tick) {
            continue;
        }
        brain.next_think = next_think(tick, *id, npc.think_interval_ticks);
        if fleet.ships.is_empty() {
            index.remove(*id);
            commands.entity(e).despawn();
            continue;
        }
        let Some(lead) = fleet.ships.first().and_then(|s| index.get(*s)).and_then(|s| ships.get(s).ok()) else {
            continue;
        };
        let (pos, order, in_transit) = lead;
        if in_transit || matches!(order, ShipOrder::Jump { .. }) {
            continue; // under way
        }
        let here = pos.system;
        let mut rng = stream(seed.0, here.0, tick, Purpose::Npc);
        // Mix the fleet id in so fleets in one system do not think alike.
        for _ in 0..(id.0 % 7) {
            below(&mut rng, 2);
        }
        let counts = census.get(here);
        let faction = brain.faction;
        let hunt = move |c: [u32; 4]| match faction {
            Faction::Pirates => c[0] + c[2] + c[3],
            Faction::Patrol => c[1],
            Faction::Traders => 0,
        };
        let prey_here = hunt(counts) > 0;
        let order = if prey_here || (brain.faction == Faction::Traders && unit_f64(&mut rng) < 0.5) {
            if matches!(order, ShipOrder::Patrol { .. }) && prey_here {
                continue; // already sweeping the system
            }
            FleetOrder::Patrol { points: patrol_points(&galaxy, here, &mut rng) }
        } else {
            let jumps = match brain.faction {
                Faction::Pirates => npc.pirate_hunt_jumps,
                _ => 2,
            };
            let near = within_jumps(&galaxy, here, jumps.max(1));
            let best = near
                .iter()
                .map(|&(s, hops)| (hunt(census.get(s)) as f64 / hops as f64, s))
                .filter(|(score, _)| *score > 0.0)
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
            let dest = match (best, brain.faction) {
                (Some((_, s)), _) => Some(s),
                (None, Faction::Patrol) if here != brain.home && unit_f64(&mut rng) < 0.3 => Some(brain.home),
                _ => {
                    let n: Vec<SystemId> = galaxy.neighbours(here).collect();
                    (!n.is_empty()).then(|| n[below(&mut rng, n.len() as u32) as usize])
                }
            };
            match dest {
                Some(destination) => FleetOrder::Jump { destination },
                None => FleetOrder::Patrol { points: patrol_points(&galaxy, here, &mut rng) },
            }
        };
        queue.0.push(QueuedIntent { empire: owner.0, client_ref: 0, intent: Intent::Fleet { fleet: *id, order } });
    }
}

/// NPC empires with their brains (fleets, which also think, are excluded).
type NpcEmpires<'w, 's> = Query<
    'w,
    's,
    (&'static EntityId, &'static Credits, &'static Stockpile, &'static ShipCensus, &'static mut NpcBrain),
    (With<Empire>, Without<Fleet>),
>;

/// Empire brains: trade on the exchange, build at colonies, order ships.
#[expect(clippy::too_many_arguments, reason = "a system's parameters are its dependencies")]
pub fn think_empires(
    tick: Res<SimTick>,
    seed: Res<WorldSeed>,
    tuning: Res<Tuning>,
    market: Res<Market>,
    mut queue: ResMut<IntentQueue>,
    mut empires: NpcEmpires,
    colonies: Query<(&EntityId, &Owner, &Colony, &Buildings, &ConstructionQueue, &ShipyardQueue)>,
    fleets: Query<(&EntityId, &Owner, &Fleet), With<NpcBrain>>,
    positions: Query<&Position, Without<Transit>>,
    index: Res<EntityIndex>,
) {
    let tick = tick.0;
    let npc = tuning.npc;
    let mut thinking: Vec<Thinker> = Vec::new();
    for (id, credits, stock, census, mut brain) in &mut empires {
        if due(&brain, tick) {
            brain.next_think = next_think(tick, *id, npc.think_interval_ticks);
            thinking.push(Thinker {
                empire: *id,
                credits: credits.0,
                stock: stock.0,
                ships: census.0.iter().sum(),
                faction: brain.faction,
            });
        }
    }
    if thinking.is_empty() {
        return;
    }
    thinking.sort_by_key(|t| t.empire);
    let thinks = |owner: EntityId| thinking.binary_search_by_key(&owner, |t| t.empire).is_ok();
    // Colonies of the thinking empires, in (owner, id) order.
    let mut owned: Vec<OwnedColony> = colonies
        .iter()
        .filter(|(_, o, ..)| thinks(o.0))
        .map(|(id, o, c, b, cq, sq)| OwnedColony {
            owner: o.0,
            id: *id,
            system: c.system,
            buildings: *b,
            construction: cq.0.len(),
            yard: sq.0.len(),
        })
        .collect();
    owned.sort_by_key(|c| (c.owner, c.id));
    // Their fleets that still have room, in (owner, id) order: new ships join one of these
    // (in the shipyard's system) rather than each starting a fleet of its own.
    let mut forming: Vec<(EntityId, EntityId, SystemId)> = fleets
        .iter()
        .filter(|(_, o, f)| thinks(o.0) && !f.ships.is_empty() && (f.ships.len() as u32) < npc.fleet_size_max)
        .filter_map(|(id, o, f)| {
            let lead = positions.get(index.get(*f.ships.first()?)?).ok()?;
            Some((o.0, *id, lead.system))
        })
        .collect();
    forming.sort_by_key(|f| (f.0, f.1));
    for Thinker { empire, mut credits, mut stock, ships, faction } in thinking.iter().copied() {
        // Empire brains use the upper half of the "system" coordinate, so their streams never
        // meet a real system's.
        let mut rng = stream(seed.0, 0x8000_0000 | (empire.0 as u32 & 0x7fff_ffff), tick, Purpose::Npc);
        let mut push = |intent| queue.0.push(QueuedIntent { empire, client_ref: 0, intent });
        // Trade: quote around the last price; both sides, so quotes of different empires cross.
        let expiry = npc.quote_expiry_ticks.clamp(1, tuning.market.max_expiry_ticks);
        for r in ResourceKind::TRADED {
            let reference =
                market.ticker(r).and_then(|t| t.last).unwrap_or((npc.reference_price * MILLI as f64) as i64);
            let price = ((reference as f64) * (1.0 + npc.trader_spread * (2.0 * unit_f64(&mut rng) - 1.0)))
                .round()
                .max(1.0) as i64;
            let units = npc.trader_order_units.max(1);
            if stock.get(r) >= 4 * units * MILLI && unit_f64(&mut rng) < 0.7 {
                *stock.get_mut(r) -= units * MILLI;
                push(Intent::PlaceOrder {
                    resource: r,
                    side: Side::Sell,
                    price,
                    quantity: units,
                    expires_in: Some(expiry),
                });
            }
            if credits >= 20 * price * units && unit_f64(&mut rng) < 0.7 {
                credits -= price * units;
                push(Intent::PlaceOrder {
                    resource: r,
                    side: Side::Buy,
                    price,
                    quantity: units,
                    expires_in: Some(expiry),
                });
            }
        }
        // Build: at one of its colonies (rotating), raise the lowest useful building.
        let start = owned.partition_point(|c| c.owner < empire);
        let end = owned.partition_point(|c| c.owner <= empire);
        if start == end {
            continue;
        }
        let OwnedColony { id: colony, system, buildings, construction, yard, .. } =
            owned[start + (tick / npc.think_interval_ticks.max(1) as u64) as usize % (end - start)];
        if construction == 0 {
            let wanted = [
                BuildingKind::PowerPlant,
                BuildingKind::Mine,
                BuildingKind::Habitat,
                BuildingKind::RareExtractor,
                BuildingKind::Shipyard,
                BuildingKind::ResearchLab,
            ];
            let pick = wanted
                .iter()
                .copied()
                .filter(|&k| {
                    buildings.level(k)
                        < tuning.economy.buildings.get(k).max_level.min(if k == BuildingKind::Shipyard { 2 } else { 6 })
                })
                .min_by_key(|&k| (buildings.level(k), k));
            if let Some(building) = pick {
                let level = buildings.level(building) + 1;
                let (c, r) = cost_milli(&tuning.economy.buildings.get(building).cost, level as f64);
                if check_affordable(credits, &stock, c, &r).is_ok() {
                    credits -= c;
                    stock.subtract(&r);
                    push(if level == 1 {
                        Intent::Build { colony, building }
                    } else {
                        Intent::Upgrade { colony, building }
                    });
                }
            }
        }
        // Ships: keep a shipyard busy while the empire is small enough to pay upkeep.
        if yard == 0 && buildings.level(BuildingKind::Shipyard) > 0 && ships < 40 * (end - start) as u32 {
            let class = match faction {
                Faction::Pirates => [ShipClass::Fighter, ShipClass::Corvette][below(&mut rng, 2) as usize],
                Faction::Patrol => [ShipClass::Corvette, ShipClass::Cruiser][below(&mut rng, 2) as usize],
                Faction::Traders => [ShipClass::Freighter, ShipClass::Corvette][below(&mut rng, 2) as usize],
            };
            let (c, r) = cost_milli(&tuning.class(class).cost, 1.0);
            if check_affordable(credits, &stock, c, &r).is_ok() {
                let lo = forming.partition_point(|f| f.0 < empire);
                let fleet = forming[lo..].iter().take_while(|f| f.0 == empire).find(|f| f.2 == system).map(|f| f.1);
                push(Intent::QueueShip { colony, class, fleet });
            }
        }
    }
}

/// An NPC empire thinking this tick, with what it can spend.
#[derive(Clone, Copy)]
struct Thinker {
    empire: EntityId,
    credits: i64,
    stock: ResourceAmounts,
    ships: u32,
    faction: Faction,
}

/// A colony of a thinking NPC empire.
#[derive(Clone, Copy)]
struct OwnedColony {
    owner: EntityId,
    id: EntityId,
    system: SystemId,
    buildings: Buildings,
    construction: usize,
    yard: usize,
}
