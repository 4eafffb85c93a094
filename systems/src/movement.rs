//! The Movement set: hyperlane transits, steering from orders, integration, the spatial index.
//!
//! Ships are integrated directly here (a kinematic model with per-class speed, acceleration
//! and turn caps); see `docs/ARCHITECTURE.md` for why and what rapier does.

use std::f32::consts::{PI, TAU};
use std::ops::DerefMut;
use std::sync::Arc;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use glam::Vec2;
use starforge_components::prelude::*;
use starforge_components::tuning::ShipClassStats;

use crate::SimSystems;
use crate::obstacles::{ContactCandidates, ObstacleWorld};
use crate::spatial::{GridEntry, SpatialGrid, cell_key};

/// Squared velocity error (m²/s²) below which a cruising ship counts as on course.
const CRUISE_TOLERANCE_SQ: f32 = 1e-4;

/// Transits, steering, integration and the spatial index in [`SimSystems::Movement`].
pub struct MovementPlugin;

impl Plugin for MovementPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(FixedUpdate, (advance_transits, move_ships).chain().in_set(SimSystems::Movement));
    }
}

/// Seconds per tick.
pub fn tick_seconds(tuning: &Tuning) -> f32 {
    1.0 / tuning.world.tick_hz.max(1) as f32
}

/// Counts down hyperspace transits and drops arrived ships at the destination's gate.
pub fn advance_transits(
    mut commands: Commands,
    galaxy: Res<Galaxy>,
    mut stats: ResMut<SimStats>,
    mut ships: Query<(Entity, &mut Transit, &mut Position, &mut Motion, &mut ShipOrder)>,
) {
    for (e, mut transit, mut pos, mut motion, mut order) in &mut ships {
        if transit.ticks_left > 1 {
            transit.ticks_left -= 1;
            continue;
        }
        let from = pos.system;
        pos.system = transit.to;
        pos.local = galaxy.gate_position(transit.to, from);
        motion.vel = Vec2::ZERO;
        if let ShipOrder::Jump { path, .. } = &*order {
            let rest: Arc<[SystemId]> = if path.first() == Some(&transit.to) { path[1..].into() } else { path.clone() };
            *order = ShipOrder::jump(rest);
        }
        stats.jumps += 1;
        commands.entity(e).remove::<Transit>();
    }
}

/// Steers every ship in a system according to its order, integrates it, and keeps the
/// spatial grid up to date.
#[expect(clippy::type_complexity, reason = "one query over the hot ship columns")]
pub fn move_ships(
    mut commands: Commands,
    (tick, tuning, galaxy, index): (Res<SimTick>, Res<Tuning>, Res<Galaxy>, Res<EntityIndex>),
    mut grid: ResMut<SpatialGrid>,
    obstacles: Res<ObstacleWorld>,
    mut contacts: ResMut<ContactCandidates>,
    mut ships: Query<
        (Entity, &EntityId, &Ship, &Owner, &Allegiance, &mut Position, &mut Motion, &mut ShipOrder, &mut GridCell),
        Without<Transit>,
    >,
) {
    let dt = tick_seconds(&tuning);
    let cell_size = tuning.world.grid_cell_size;
    if grid.cell_size != cell_size {
        // The cell size was retuned: refile everyone.
        grid.clear(cell_size);
        for (.., mut cell) in &mut ships {
            cell.key = None;
        }
    }
    let space = Space { galaxy: &galaxy, obstacles: &obstacles, dt, cell_size };
    let arrive = tuning.world.arrive_radius;
    // Attackers steer towards another ship's position: they move in a second, small pass,
    // once every other ship has moved (so the main pass needs no lookups).
    let mut attackers: Vec<(Entity, EntityId)> = Vec::new();
    for (e, id, ship, owner, allegiance, mut pos, mut motion, mut order, mut cell) in &mut ships {
        let stats = tuning.class(ship.class);
        let moving = motion.vel != Vec2::ZERO;
        // The common case of a big galaxy: parked and filed. Touch nothing (no change flags).
        if !moving && cell.key.is_some() && matches!(*order, ShipOrder::Idle) {
            continue;
        }
        // Orders are read through `&*order` and written only when they really change, so
        // change detection (persistence, replication) sees only real changes.
        let mut new_order = None;
        match &*order {
            ShipOrder::Idle => {
                if moving {
                    brake(&mut motion, stats, dt);
                }
            }
            ShipOrder::Manual { until, .. } if tick.0 >= *until => {
                // The pilot stopped sending input: hold position.
                new_order = Some(ShipOrder::Idle);
                if moving {
                    brake(&mut motion, stats, dt);
                }
            }
            ShipOrder::Manual { thrust, turn, .. } => {
                let (thrust, turn) = (*thrust, *turn);
                if thrust != 0.0 || turn != 0.0 || moving {
                    let m = &mut *motion;
                    m.heading = wrap_angle(m.heading + turn * stats.turn_rate * dt);
                    m.vel += facing(m.heading) * thrust * stats.acceleration * dt;
                    m.vel = m.vel.clamp_length_max(stats.max_speed);
                }
            }
            ShipOrder::MoveTo(goal) => {
                if steer(pos.local, &mut motion, *goal, stats, dt, arrive) {
                    new_order = Some(ShipOrder::Idle);
                }
            }
            ShipOrder::Patrol { goal, .. } => {
                if steer(pos.local, &mut motion, *goal, stats, dt, arrive * 4.0)
                    && let ShipOrder::Patrol { points, next, goal } = &mut *order
                {
                    // Only on arrival does the waypoint list itself get read.
                    if points.is_empty() {
                        new_order = Some(ShipOrder::Idle);
                    } else {
                        *next = (*next + 1) % points.len();
                        *goal = points[*next];
                    }
                }
            }
            ShipOrder::Attack(target) => {
                attackers.push((e, *target));
                continue;
            }
            ShipOrder::Jump { next, .. } => {
                let next = *next;
                {
                    let gate = galaxy.gate_position(pos.system, next);
                    if pos.local.distance(gate) <= tuning.world.gate_radius {
                        let Some((_, lane)) = galaxy.lane_between(pos.system, next) else {
                            *order = ShipOrder::Idle;
                            continue;
                        };
                        let ticks = (lane.length * tuning.world.jump_ticks_per_length).ceil().max(1.0) as u32;
                        commands.entity(e).insert(Transit { to: next, ticks_left: ticks });
                        motion.vel = Vec2::ZERO;
                        if let Some(key) = cell.key.take() {
                            grid.remove(key, e);
                        }
                        continue;
                    }
                    steer(pos.local, &mut motion, gate, stats, dt, 0.0);
                }
            }
        }
        if let Some(o) = new_order {
            *order = o;
        }
        let entry = GridEntry { entity: e, id: *id, owner: owner.0, allegiance: allegiance.0 };
        integrate_and_file(&space, &mut grid, &mut contacts, entry, moving, &mut pos, &mut motion, &mut cell);
    }
    // In id order, so the result does not depend on storage order (e.g. after a restore).
    attackers.sort_by_key(|&(e, _)| ships.get(e).map(|s| *s.1).ok());
    for (e, target) in attackers {
        let goal = index.get(target).and_then(|t| ships.get(t).ok()).map(|t| *t.5);
        let Ok((_, id, ship, owner, allegiance, mut pos, mut motion, mut order, mut cell)) = ships.get_mut(e) else {
            continue;
        };
        let stats = tuning.class(ship.class);
        let moving = motion.vel != Vec2::ZERO;
        match goal.filter(|t| t.system == pos.system) {
            Some(t) => {
                let to = t.local - pos.local;
                let standoff = stats.range * tuning.ships.combat.attack_standoff;
                let goal = if to.length() > standoff { t.local - to.normalize_or_zero() * standoff } else { pos.local };
                steer(pos.local, &mut motion, goal, stats, dt, tuning.world.arrive_radius);
            }
            None => *order = ShipOrder::Idle,
        }
        let entry = GridEntry { entity: e, id: *id, owner: owner.0, allegiance: allegiance.0 };
        integrate_and_file(&space, &mut grid, &mut contacts, entry, moving, &mut pos, &mut motion, &mut cell);
    }
}

/// What integration needs to know about space.
struct Space<'a> {
    galaxy: &'a Galaxy,
    obstacles: &'a ObstacleWorld,
    dt: f32,
    cell_size: f32,
}

/// Moves a ship by its velocity (stopping it at the system's rim) and refiles it in the
/// spatial grid if it changed cells. `was_moving`: whether it had a velocity before steering.
#[expect(clippy::too_many_arguments, reason = "the hot loop's pieces, passed without bundling")]
fn integrate_and_file(
    space: &Space,
    grid: &mut SpatialGrid,
    contacts: &mut ContactCandidates,
    entry: GridEntry,
    was_moving: bool,
    pos: &mut Mut<Position>,
    motion: &mut Mut<Motion>,
    cell: &mut Mut<GridCell>,
) {
    if motion.vel != Vec2::ZERO {
        let radius = space.galaxy.system(pos.system).map_or(f32::MAX, |s| s.radius);
        let mut next = pos.local + motion.vel * space.dt;
        if next.length_squared() > radius * radius {
            // The edge of the system's space: stop at the rim.
            next = next.normalize_or_zero() * radius;
            motion.vel = Vec2::ZERO;
        }
        pos.local = next;
    }
    if !was_moving && motion.vel == Vec2::ZERO && cell.key.is_some() {
        return; // did not move: same cell
    }
    let key = cell_key(pos.system, pos.local, space.cell_size);
    if cell.key != Some(key) {
        if let Some(old) = cell.key {
            grid.remove(old, entry.entity);
        }
        grid.insert(key, entry);
        let near_obstacle = space.obstacles.system(pos.system).is_some_and(|s| s.cell_has_obstacle(key));
        **cell = GridCell { key: Some(key), near_obstacle };
    }
    if cell.near_obstacle {
        contacts.0.push(entry.entity);
    }
}

/// Wraps an angle into (-π, π]. Cheap for the usual inputs (within ±3π).
pub fn wrap_angle(a: f32) -> f32 {
    let a = if a > PI {
        a - TAU
    } else if a <= -PI {
        a + TAU
    } else {
        return a;
    };
    if a > PI || a <= -PI {
        // Far outside: the general (slower) path.
        let r = libm::remainderf(a, TAU);
        if r <= -PI { r + TAU } else { r }
    } else {
        a
    }
}

/// Unit vector of a heading. `libm`, not the platform's maths library, so every build
/// computes the same bits (determinism).
pub fn facing(heading: f32) -> Vec2 {
    Vec2::new(libm::cosf(heading), libm::sinf(heading))
}

fn brake(motion: &mut Motion, stats: &ShipClassStats, dt: f32) {
    let dv = stats.acceleration * dt;
    let speed = motion.vel.length();
    motion.vel = if speed <= dv { Vec2::ZERO } else { motion.vel * ((speed - dv) / speed) };
}

/// Turns towards `goal` within the turn cap and accelerates along the heading, slowing down
/// to arrive. Returns true when within `arrive` metres and nearly stopped (the ship is then
/// halted).
///
/// Generic over the handle so that a Bevy `Mut<Motion>` is only marked changed when the
/// motion really changes: a ship cruising straight at its goal at top speed is not touched.
pub fn steer<M: DerefMut<Target = Motion>>(
    pos: Vec2,
    motion: &mut M,
    goal: Vec2,
    stats: &ShipClassStats,
    dt: f32,
    arrive: f32,
) -> bool {
    let to = goal - pos;
    let dist = to.length();
    // Cruising: beyond braking distance and already flying straight at the goal at top
    // speed, steering would change nothing (the direction to a fixed goal does not change
    // along a straight line), so skip it — no trigonometry, no write.
    let braking = stats.max_speed * stats.max_speed / (2.0 * stats.acceleration);
    if dist > braking + arrive && (to * (stats.max_speed / dist)).distance_squared(motion.vel) < CRUISE_TOLERANCE_SQ {
        return false;
    }
    let motion: &mut Motion = motion;
    if dist <= arrive.max(0.5) {
        if motion.vel.length() <= stats.acceleration * dt {
            motion.vel = Vec2::ZERO;
            return true;
        }
        brake(motion, stats, dt);
        return false;
    }
    let desired = libm::atan2f(to.y, to.x);
    let diff = wrap_angle(desired - motion.heading);
    let max_turn = stats.turn_rate * dt;
    let step = diff.clamp(-max_turn, max_turn);
    motion.heading = wrap_angle(motion.heading + step);
    // |diff| ≤ π and the step has its sign, so the remainder needs no wrapping.
    let remaining = diff - step;
    // Slow enough to stop at the goal; no thrust while facing away.
    let speed_cap = stats.max_speed.min((2.0 * stats.acceleration * dist).sqrt());
    // Aligned (the usual cruise): the heading is exactly the goal's direction, no trig needed.
    let desired_vel = if remaining == 0.0 {
        (to / dist) * speed_cap
    } else {
        facing(motion.heading) * speed_cap * libm::cosf(remaining).max(0.0)
    };
    let dv = (desired_vel - motion.vel).clamp_length_max(stats.acceleration * dt);
    motion.vel += dv;
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> ShipClassStats {
        *Tuning::default().class(ShipClass::Cruiser)
    }

    #[test]
    fn steering_reaches_the_goal_and_stops_within_caps() {
        let s = stats();
        let dt = 0.05;
        let mut pos = Vec2::ZERO;
        let mut m = Motion { vel: Vec2::ZERO, heading: PI / 2.0 };
        let goal = Vec2::new(3000.0, -1000.0);
        let mut arrived = false;
        for _ in 0..20_000 {
            let before = (m.heading, m.vel);
            if steer(pos, &mut &mut m, goal, &s, dt, 25.0) {
                arrived = true;
                break;
            }
            assert!(m.vel.length() <= s.max_speed + 1e-3, "speed cap exceeded: {}", m.vel.length());
            assert!(wrap_angle(m.heading - before.0).abs() <= s.turn_rate * dt + 1e-5, "turn cap exceeded");
            assert!((m.vel - before.1).length() <= s.acceleration * dt + 1e-3, "acceleration cap exceeded");
            pos += m.vel * dt;
        }
        assert!(arrived, "the ship must arrive");
        assert!(pos.distance(goal) <= 25.0, "arrived {} m away", pos.distance(goal));
        assert_eq!(m.vel, Vec2::ZERO, "arrival halts the ship");
    }

    #[test]
    fn wrap_angle_stays_in_range() {
        for a in [-10.0f32, -PI, -1.0, 0.0, 1.0, PI, 4.0, 10.0, 100.0] {
            let w = wrap_angle(a);
            assert!(w > -PI - 1e-6 && w <= PI + 1e-6, "{a} wrapped to {w}");
            assert!(((w - a) / TAU).round() * TAU - (w - a) < 1e-3, "{a} wrapped to a different angle {w}");
        }
    }
}
