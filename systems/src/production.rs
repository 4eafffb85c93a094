//! The Production set: colony output, population growth, construction and shipyard queues,
//! upkeep.
//!
//! All amounts are integer milli-units and every unit created or destroyed is written to the
//! [`Ledger`], so conservation can be checked. Nothing goes negative: upkeep takes what is
//! there and counts the shortfall.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use glam::Vec2;
use starforge_components::prelude::*;

use crate::SimSystems;
use crate::economy::{record_created, record_destroyed, to_milli};
use crate::spawn::{insert_sorted, ship_bundle};

/// Production in [`SimSystems::Production`].
pub struct ProductionPlugin;

impl Plugin for ProductionPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<UpkeepShortfall>()
            .add_message::<ConstructionCompleted>()
            .add_message::<ShipBuilt>()
            .add_systems(
                FixedUpdate,
                (produce, advance_construction, advance_shipyards, pay_upkeep).chain().in_set(SimSystems::Production),
            );
    }
}

/// Upkeep that could not be paid (milli-energy), cumulative. A designer's warning light.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UpkeepShortfall(pub i64);

/// What one colony makes in one tick (milli-units; credits separately).
pub fn colony_output(
    tuning: &Tuning,
    region: Region,
    population: i64,
    buildings: &Buildings,
) -> (i64, ResourceAmounts) {
    let eco = &tuning.economy;
    let people = population as f64 / MILLI as f64;
    let pop_factor = people / eco.reference_population.max(1.0);
    let lab = eco.buildings.research_lab.output_per_level * buildings.level(BuildingKind::ResearchLab) as f64;
    let boost = 1.0 + lab;
    let modifiers = eco.regions.get(region);
    let mut out = ResourceAmounts::default();
    for (kind, r) in [
        (BuildingKind::Mine, ResourceKind::Minerals),
        (BuildingKind::PowerPlant, ResourceKind::Energy),
        (BuildingKind::RareExtractor, ResourceKind::RareElements),
    ] {
        let level = buildings.level(kind) as f64;
        if level > 0.0 {
            let units = eco.buildings.get(kind).output_per_level * level * pop_factor * modifiers.get(r) * boost;
            *out.get_mut(r) = to_milli(units).max(0);
        }
    }
    let credits = to_milli(people * eco.tax_per_person).max(0);
    (credits, out)
}

/// Population cap of a colony (milli-people).
pub fn population_cap(tuning: &Tuning, buildings: &Buildings) -> i64 {
    let eco = &tuning.economy;
    let habitats = eco.buildings.habitat.output_per_level * buildings.level(BuildingKind::Habitat) as f64;
    to_milli(eco.base_population_cap + habitats)
}

/// Colonies produce into their owner's stockpile and grow their population.
///
/// Population is updated once every `population_step_ticks` (on the ticks where tick + colony
/// id is a multiple of it) by replaying the per-tick rule that many times
/// ([`grown_population`]), so a colony's record changes — and is saved and sent — once a step
/// instead of every tick. A step always replays the full count (a new colony's first step
/// too); output between steps uses the population of the last step.
pub fn produce(
    tuning: Res<Tuning>,
    galaxy: Res<Galaxy>,
    index: Res<EntityIndex>,
    tick: Res<SimTick>,
    mut ledger: ResMut<Ledger>,
    mut colonies: Query<(&EntityId, &Owner, &mut Colony, &Buildings)>,
    mut empires: Query<(&mut Credits, &mut Stockpile), With<Empire>>,
) {
    let growth = tuning.economy.population_growth;
    let step = tuning.economy.population_step_ticks.max(1);
    for (id, owner, mut colony, buildings) in &mut colonies {
        let region = galaxy.system(colony.system).map_or(Region::MidRim, |s| s.region);
        let (credits, out) = colony_output(&tuning, region, colony.population, buildings);
        if let Some(Ok((mut c, mut s))) = index.get(owner.0).map(|e| empires.get_mut(e)) {
            c.0 += credits;
            s.0.add(&out);
            record_created(&mut ledger, credits, &out);
        }
        let cap = population_cap(&tuning, buildings);
        let pop = colony.population;
        if pop > cap {
            colony.population = cap; // habitats were retuned down
        } else if pop < cap && tick.0.wrapping_add(id.0).is_multiple_of(u64::from(step)) {
            let grown = grown_population(pop, cap, growth, step);
            if grown != pop {
                colony.population = grown;
            }
        }
    }
}

/// Population (milli-people) after `ticks` ticks of logistic growth at `growth` per tick
/// towards `cap`, one tick at a time: each tick adds `p × growth × (1 − p / cap)`, rounded, at
/// least one milli-person while `growth > 0`, never past the cap. An empty colony stays empty;
/// `growth = 0` means no growth.
pub fn grown_population(mut pop: i64, cap: i64, growth: f64, ticks: u32) -> i64 {
    if growth <= 0.0 {
        return pop;
    }
    for _ in 0..ticks {
        if pop <= 0 || pop >= cap {
            break;
        }
        let p = pop as f64;
        let delta = (p * growth * (1.0 - p / cap as f64)).round() as i64;
        pop = pop.saturating_add(delta.max(1)).min(cap);
    }
    pop
}

/// The head of each construction queue progresses; finished buildings gain their level.
pub fn advance_construction(
    mut stats: ResMut<SimStats>,
    mut colonies: Query<(&EntityId, &Owner, &mut Buildings, &mut ConstructionQueue)>,
    mut done: MessageWriter<ConstructionCompleted>,
) {
    for (id, owner, mut buildings, mut queue) in &mut colonies {
        if queue.0.is_empty() {
            continue;
        }
        let Some(job) = queue.0.front_mut() else { continue };
        job.ticks_left = job.ticks_left.saturating_sub(1);
        if job.ticks_left == 0 {
            let job = *job;
            queue.0.pop_front();
            buildings.0[job.building.index()] = job.target_level;
            stats.buildings_completed += 1;
            done.write(ConstructionCompleted {
                colony: *id,
                owner: owner.0,
                building: job.building,
                level: job.target_level,
            });
        }
    }
}

/// The head of each shipyard queue progresses by the shipyard's level; finished ships launch
/// next to the colony's planet and join their fleet (a new one if it is gone or elsewhere).
#[expect(clippy::too_many_arguments, reason = "a system's parameters are its dependencies")]
pub fn advance_shipyards(
    mut commands: Commands,
    tuning: Res<Tuning>,
    galaxy: Res<Galaxy>,
    mut ids: ResMut<IdAllocator>,
    mut index: ResMut<EntityIndex>,
    mut stats: ResMut<SimStats>,
    mut colonies: Query<(&EntityId, &Owner, &Colony, &Buildings, &mut ShipyardQueue)>,
    mut empires: Query<(&Empire, &mut ShipCensus)>,
    mut fleets: Query<(&Owner, &mut Fleet)>,
    fleet_positions: Query<&Position, With<Ship>>,
    mut built: MessageWriter<ShipBuilt>,
) {
    // Progress every yard; collect the finished jobs.
    let mut launches: Vec<Launch> = Vec::new();
    for (cid, owner, colony, buildings, mut yard) in &mut colonies {
        let level = buildings.level(BuildingKind::Shipyard) as u32;
        if yard.0.is_empty() || level == 0 {
            continue;
        }
        let Some(job) = yard.0.front_mut() else { continue };
        job.ticks_left = job.ticks_left.saturating_sub(level);
        if job.ticks_left > 0 {
            continue;
        }
        let job = *job;
        yard.0.pop_front();
        launches.push(Launch { colony: *cid, owner: owner.0, system: colony.system, planet: colony.planet, job });
    }
    // Launch in colony-id order: new ids do not depend on storage order (e.g. after a restore).
    launches.sort_by_key(|l| l.colony);
    for Launch { colony: cid, owner, system, planet, job } in launches {
        let Some(owner_e) = index.get(owner) else { continue };
        let Ok((empire, mut census)) = empires.get_mut(owner_e) else { continue };
        let kind = empire.kind;
        census.0[job.class.index()] += 1;
        let planet = galaxy
            .system(system)
            .and_then(|s| s.planets.get(planet as usize))
            .map_or(Vec2::ZERO, |p| p.pos + Vec2::new(p.radius + 100.0, 0.0));
        let pos = Position { system, local: planet };
        // Join the requested fleet if it is still ours and in this system (or empty).
        let fleet = job.fleet.filter(|f| {
            index.get(*f).and_then(|fe| fleets.get(fe).ok()).is_some_and(|(fo, fl)| {
                fo.0 == owner
                    && fl
                        .ships
                        .first()
                        .and_then(|s| index.get(*s))
                        .and_then(|s| fleet_positions.get(s).ok())
                        .is_none_or(|p| p.system == system)
            })
        });
        let fleet = match fleet {
            Some(f) => f,
            None => {
                let fid = ids.allocate();
                let mut ec = commands.spawn((fid, Owner(owner), Fleet::default()));
                if let EmpireKind::Npc(faction) = kind {
                    ec.insert(NpcBrain { faction, home: system, next_think: 0 });
                }
                index.insert(fid, ec.id());
                fid
            }
        };
        let sid = ids.allocate();
        let e = commands.spawn(ship_bundle(sid, job.class, owner, kind, fleet, pos, 0.0, &tuning)).id();
        index.insert(sid, e);
        if let Some(Ok((_, mut f))) = index.get(fleet).map(|fe| fleets.get_mut(fe)) {
            insert_sorted(&mut f.ships, sid);
        } else {
            // The fleet was spawned just now (deferred): give it its first member then.
            commands.queue(move |world: &mut World| {
                let fe = world.resource::<EntityIndex>().get(fleet);
                if let Some(mut f) = fe.and_then(|fe| world.get_mut::<Fleet>(fe)) {
                    insert_sorted(&mut f.ships, sid);
                }
            });
        }
        stats.ships_built += 1;
        built.write(ShipBuilt { ship: sid, fleet, colony: cid, owner, class: job.class });
    }
}

/// A ship finished at a colony's shipyard, waiting to launch.
struct Launch {
    colony: EntityId,
    owner: EntityId,
    system: SystemId,
    planet: u32,
    job: ShipJob,
}

/// Every empire pays energy upkeep for its ships and buildings; what it cannot pay is
/// counted as a shortfall (never a negative balance).
pub fn pay_upkeep(
    tuning: Res<Tuning>,
    index: Res<EntityIndex>,
    mut ledger: ResMut<Ledger>,
    mut shortfall: ResMut<UpkeepShortfall>,
    colonies: Query<(&Owner, &Buildings)>,
    mut empires: Query<(&EntityId, &ShipCensus, &mut Stockpile), With<Empire>>,
) {
    let eco = &tuning.economy;
    let mut charge =
        |e: Entity, milli: i64, empires: &mut Query<(&EntityId, &ShipCensus, &mut Stockpile), With<Empire>>| {
            if milli <= 0 {
                return;
            }
            if let Ok((_, _, mut stock)) = empires.get_mut(e) {
                let have = stock.0.get(ResourceKind::Energy);
                let paid = milli.min(have);
                if paid > 0 {
                    *stock.0.get_mut(ResourceKind::Energy) -= paid;
                    let mut r = ResourceAmounts::default();
                    *r.get_mut(ResourceKind::Energy) = paid;
                    record_destroyed(&mut ledger, 0, &r);
                }
                shortfall.0 += milli - paid;
            }
        };
    for (owner, buildings) in &colonies {
        let units: f64 =
            BuildingKind::ALL.iter().map(|&k| eco.buildings.get(k).upkeep_energy * buildings.level(k) as f64).sum();
        if let Some(e) = index.get(owner.0) {
            charge(e, to_milli(units), &mut empires);
        }
    }
    let ship_upkeep: Vec<(Entity, i64)> = empires
        .iter()
        .filter_map(|(id, census, _)| {
            let units: f64 =
                ShipClass::ALL.iter().map(|&c| tuning.class(c).upkeep_energy * census.0[c.index()] as f64).sum();
            Some((index.get(*id)?, to_milli(units)))
        })
        .collect();
    for (e, milli) in ship_upkeep {
        charge(e, milli, &mut empires);
    }
}
