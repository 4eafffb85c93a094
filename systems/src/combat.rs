//! The Combat set: targeting, firing with cooldowns, damage, destruction, salvage, reports.
//!
//! Per tick: (1) ships whose guns are ready keep a valid target or look for one (in range
//! only; preferring low hull, near and high threat), scanning only systems where hostile
//! sides meet; (2) shots are resolved per system in shooter-id order with that system's
//! random stream for (seed, system, tick), so the result is independent of iteration order;
//! (3) destroyed ships are removed, their killers get salvage, and each engagement's report
//! is sent once it has been quiet for `engagement_timeout_ticks`.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;

use crate::SimSystems;
use crate::economy::{cost_milli, record_created, record_destroyed};
use crate::npc::{SystemCensus, count_sides};
use crate::rng::{Purpose, stream, unit_f32};
use crate::spatial::{SpatialGrid, hostile_sides};
use crate::spawn::remove_sorted;

/// Re-exported: the engagement records are persisted world data and live in `components`.
pub use starforge_components::sim::{Engagement, Engagements};

/// Combat in [`SimSystems::Combat`].
pub struct CombatPlugin;

impl Plugin for CombatPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Engagements>()
            .add_message::<ShipDestroyed>()
            .add_message::<CombatReport>()
            .add_systems(FixedUpdate, (fight, close_engagements).chain().in_set(SimSystems::Combat));
    }
}

/// Whether ships of `a` (owned by `oa`) and `b` (owned by `ob`) fight on sight.
pub fn hostile(a: EmpireKind, oa: EntityId, b: EmpireKind, ob: EntityId) -> bool {
    oa != ob && a.hostile_to(b)
}

/// Per system: can anything fight here? A cheap filter from the census of sides.
fn contested_systems(counts: &[[u32; 4]]) -> Vec<bool> {
    counts
        .iter()
        .map(|c| {
            let pirates = c[1] > 0;
            let others = c[0] + c[2] + c[3] > 0;
            (pirates && others) || c[0] >= 2
        })
        .collect()
}

struct Shot {
    system: SystemId,
    shooter: EntityId,
    shooter_owner: EntityId,
    attacker: ShipClass,
    target: Entity,
}

/// The read-only state combat needs.
#[derive(bevy_ecs::system::SystemParam)]
pub struct CombatWorld<'w> {
    tick: Res<'w, SimTick>,
    seed: Res<'w, WorldSeed>,
    tuning: Res<'w, Tuning>,
    galaxy: Res<'w, Galaxy>,
    census: Res<'w, SystemCensus>,
}

/// Targeting and firing.
#[expect(clippy::type_complexity, reason = "one query over the hot ship columns")]
#[expect(clippy::too_many_arguments, reason = "a system's parameters are its dependencies")]
pub fn fight(
    mut commands: Commands,
    world: CombatWorld,
    mut grid: ResMut<SpatialGrid>,
    mut index: ResMut<EntityIndex>,
    mut ledger: ResMut<Ledger>,
    mut stats: ResMut<SimStats>,
    mut engagements: ResMut<Engagements>,
    mut ships: Query<
        (
            Entity,
            &EntityId,
            &Ship,
            &Owner,
            &Allegiance,
            &Position,
            &mut Weapon,
            &ShipOrder,
            &mut Target,
            &GridCell,
            &FleetMember,
            &Cargo,
        ),
        Without<Transit>,
    >,
    view: Query<(&Ship, &Owner, &Allegiance, &Position), Without<Transit>>,
    mut hulls: Query<&mut Hull>,
    mut empires: Query<(&mut Stockpile, &mut ShipCensus)>,
    mut fleets: Query<&mut Fleet>,
    mut destroyed_w: MessageWriter<ShipDestroyed>,
) {
    let CombatWorld { tick, seed, tuning, galaxy, census } = world;
    let tick = tick.0;
    let combat = tuning.ships.combat;
    // Last tick's census (Bookkeeping); counted here when there is none yet.
    let contested = if census.0.len() == galaxy.systems.len() {
        contested_systems(&census.0)
    } else {
        contested_systems(&count_sides(galaxy.systems.len(), view.iter().map(|(_, _, a, p)| (p, a))))
    };
    let max_threat = ShipClass::ALL.iter().map(|&c| tuning.class(c).threat).fold(f32::MIN_POSITIVE, f32::max);

    // (1) Targeting: read-only pass, decisions collected.
    let mut shots: Vec<Shot> = Vec::new();
    let mut retargets: Vec<(Entity, Option<(EntityId, Entity)>)> = Vec::new();
    for (e, id, ship, owner, alleg, pos, weapon, order, target, cell, ..) in &ships {
        let forced = match order {
            ShipOrder::Attack(t) => Some(*t),
            _ => None,
        };
        // Outside contested systems only an explicit attack order can start a fight.
        let contested_here = contested.get(pos.system.0 as usize).copied().unwrap_or(false);
        if tick < weapon.ready_tick || !(contested_here || forced.is_some()) {
            continue;
        }
        let may_fire = match order {
            ShipOrder::Manual { fire, until, .. } => *fire && tick < *until,
            _ => true,
        };
        if !may_fire {
            continue;
        }
        let stats = tuning.class(ship.class);
        let range2 = stats.range * stats.range;
        let valid = |tid: EntityId, te: Entity| -> bool {
            let Ok((_, towner, talleg, tpos)) = view.get(te) else { return false };
            let Ok(h) = hulls.get(te) else { return false };
            h.0 > 0.0
                && tpos.system == pos.system
                && tpos.local.distance_squared(pos.local) <= range2
                && (forced == Some(tid) || hostile(alleg.0, owner.0, talleg.0, towner.0))
        };
        // An ordered target in range comes first; then the current target while it stays valid.
        let mut chosen = forced
            .and_then(|f| Some((f, index.get(f)?)))
            .filter(|&(f, fe)| valid(f, fe))
            .or_else(|| target.0.filter(|&(tid, te)| valid(tid, te)));
        // No target: look for one (on losing one, and every retarget interval, staggered).
        let due = target.0.is_some() || (tick + id.0).is_multiple_of(combat.retarget_interval_ticks.max(1) as u64);
        if chosen.is_none() && due {
            let Some(key) = cell.key else { continue };
            let mut best: Option<(f32, EntityId, Entity)> = None;
            // Enough rings of cells to cover the weapon range, whatever the cell size.
            let rings = (stats.range / grid.cell_size).ceil().clamp(1.0, 8.0) as i16;
            for c in grid.around_sides(key, rings, hostile_sides(alleg.0)) {
                if !hostile(alleg.0, owner.0, c.allegiance, c.owner) {
                    continue;
                }
                let Ok((tship, _, _, tpos)) = view.get(c.entity) else { continue };
                let d2 = tpos.local.distance_squared(pos.local);
                if d2 > range2 {
                    continue;
                }
                let Ok(h) = hulls.get(c.entity) else { continue };
                let tstats = tuning.class(tship.class);
                let score = combat.weight_low_hull * (1.0 - h.0 / tstats.hull).clamp(0.0, 1.0)
                    + combat.weight_near * (1.0 - d2.sqrt() / stats.range)
                    + combat.weight_threat * tstats.threat / max_threat;
                let better = match best {
                    None => true,
                    Some((s, bid, _)) => score > s || (score == s && c.id < bid),
                };
                if better {
                    best = Some((score, c.id, c.entity));
                }
            }
            chosen = best.map(|(_, tid, te)| (tid, te));
        }
        if chosen != target.0 {
            retargets.push((e, chosen));
        }
        if let Some((_, te)) = chosen {
            shots.push(Shot {
                system: pos.system,
                shooter: *id,
                shooter_owner: owner.0,
                attacker: ship.class,
                target: te,
            });
        }
    }
    for (e, t) in retargets {
        if let Ok((.., mut target, _, _, _)) = ships.get_mut(e) {
            target.0 = t;
        }
    }
    if shots.is_empty() {
        return;
    }

    // (2) Resolve shots per system in shooter-id order.
    shots.sort_by_key(|s| (s.system, s.shooter));
    let mut kills: Vec<(Entity, EntityId)> = Vec::new(); // (victim, killer empire)
    let mut rng_system = None;
    let mut rng = stream(seed.0, 0, tick, Purpose::Combat);
    for shot in &shots {
        if rng_system != Some(shot.system) {
            rng = stream(seed.0, shot.system.0, tick, Purpose::Combat);
            rng_system = Some(shot.system);
        }
        let roll = unit_f32(&mut rng);
        let Ok((tship, towner, ..)) = view.get(shot.target) else { continue };
        let (defender, victim_owner) = (tship.class, towner.0);
        let Ok(mut hull) = hulls.get_mut(shot.target) else { continue };
        if hull.0 <= 0.0 {
            continue; // already destroyed this tick; the shot is wasted
        }
        let a = tuning.class(shot.attacker);
        let d = tuning.class(defender);
        let base = (a.damage - d.armor).max(a.damage * combat.min_damage_fraction);
        let variance = 1.0 + combat.variance * (2.0 * roll - 1.0);
        let damage = base * tuning.multiplier(shot.attacker, defender) * variance;
        hull.0 -= damage;
        stats.shots += 1;
        let eng =
            engagements.0.entry(shot.system).or_insert_with(|| Engagement { started: tick, ..Default::default() });
        eng.last_shot = tick;
        eng.shots += 1;
        eng.participants.insert(shot.shooter_owner, ());
        eng.participants.insert(victim_owner, ());
        if hull.0 <= 0.0 {
            kills.push((shot.target, shot.shooter_owner));
        }
    }
    for shot in &shots {
        if let Some(e) = index.get(shot.shooter)
            && let Ok((.., mut weapon, _, _, _, _, _)) = ships.get_mut(e)
        {
            weapon.ready_tick = tick + tuning.class(shot.attacker).cooldown_ticks.max(1) as u64;
        }
    }

    // (3) Destruction and salvage.
    for (victim, killer) in kills {
        let Ok((_, vid, vship, vowner, _, vpos, _, _, _, vcell, vfleet, vcargo)) = ships.get(victim) else { continue };
        let (vid, class, vowner, system, cell, fleet, cargo) =
            (*vid, vship.class, vowner.0, vpos.system, vcell.key, vfleet.0, vcargo.0);
        if let Some(key) = cell {
            grid.remove(key, victim);
        }
        index.remove(vid);
        commands.entity(victim).despawn();
        if let Some(mut f) = index.get(fleet).and_then(|f| fleets.get_mut(f).ok()) {
            remove_sorted(&mut f.ships, vid);
        }
        record_destroyed(&mut ledger, 0, &cargo);
        if let Some(Ok((_, mut census))) = index.get(vowner).map(|o| empires.get_mut(o)) {
            census.0[class.index()] = census.0[class.index()].saturating_sub(1);
        }
        let (_, cost) = cost_milli(&tuning.class(class).cost, combat.salvage_fraction);
        let mut salvage = ResourceAmounts::default();
        for r in [ResourceKind::Minerals, ResourceKind::RareElements] {
            *salvage.get_mut(r) = cost.get(r);
        }
        if let Some(Ok((mut stock, _))) = index.get(killer).map(|k| empires.get_mut(k)) {
            stock.0.add(&salvage);
            record_created(&mut ledger, 0, &salvage);
        }
        stats.ships_destroyed += 1;
        if let Some(eng) = engagements.0.get_mut(&system) {
            *eng.losses.entry(vowner).or_default() += 1;
            *eng.kills.entry(killer).or_default() += 1;
        }
        destroyed_w.write(ShipDestroyed { ship: vid, owner: vowner, by: killer, system });
    }
}

/// Sends the report of every engagement that has been quiet long enough.
pub fn close_engagements(
    tick: Res<SimTick>,
    tuning: Res<Tuning>,
    mut engagements: ResMut<Engagements>,
    mut stats: ResMut<SimStats>,
    mut reports: MessageWriter<CombatReport>,
) {
    let timeout = tuning.ships.combat.engagement_timeout_ticks as u64;
    let done: Vec<SystemId> =
        engagements.0.iter().filter(|(_, e)| tick.0.saturating_sub(e.last_shot) >= timeout).map(|(s, _)| *s).collect();
    for system in done {
        let Some(e) = engagements.0.remove(&system) else { continue };
        let victor = e.kills.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| *k);
        stats.battles += 1;
        reports.write(CombatReport {
            system,
            started: e.started,
            ended: e.last_shot,
            participants: e.participants.keys().copied().collect(),
            shots: e.shots,
            losses: e.losses.into_iter().collect(),
            victor,
        });
    }
}
