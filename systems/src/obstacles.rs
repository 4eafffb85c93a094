//! Static obstacles (planets) as rapier colliders, and ship–planet contact resolution.
//!
//! Ships are integrated directly by [`crate::movement::move_ships`] (a kinematic model);
//! measured, 100,000 rapier bodies cost far more than a tick (see
//! `docs/architecture-physics.md`). Rapier is the collision engine for the *static* world:
//! every star system gets its own collider set and broad-phase BVH, built from the
//! [`Galaxy`] (rebuilt when the galaxy or the grid cell size changes).
//!
//! After the ships moved, [`resolve_planet_contacts`] pushes every ship that ended inside
//! an obstacle out to its surface and removes the velocity component pointing into it.
//! Only ships whose [`Position`] changed since the last run are looked at, and of those
//! only the ones in a spatial-grid cell that overlaps an obstacle reach a rapier query
//! (100,000 ships: 0.2 ms when none moved, 2.3 ms when every ship moves; see the doc).
//!
//! Ships are points. A ship moves at most `max_speed / tick_hz` (15 m) per tick and the
//! smallest planet has a 300 m radius, so a ship cannot tunnel through a planet in a tick.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use glam::Vec2;
use rapier2d::parry::query::{DefaultQueryDispatcher, Ray};
use rapier2d::prelude::{
    BroadPhaseBvh, ColliderBuilder, ColliderHandle, ColliderSet, IntegrationParameters, QueryFilter, RigidBodySet,
};
use starforge_components::prelude::*;

use crate::SimSystems;
use crate::spatial::{GridEntry, SpatialGrid, cell_key};

/// A ship pushed out of an obstacle is put this far (metres) outside its surface, so float
/// rounding never leaves it a hair inside.
pub const SURFACE_SKIN: f32 = 0.05;

/// Adds the [`ObstacleWorld`] and [`resolve_planet_contacts`] (in [`SimSystems::Movement`],
/// after `move_ships`).
pub struct ObstaclePlugin;

impl Plugin for ObstaclePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ObstacleWorld>().init_resource::<ContactCandidates>().add_systems(
            FixedUpdate,
            resolve_planet_contacts.after(crate::movement::move_ships).in_set(SimSystems::Movement),
        );
    }
}

/// Ships that moved this tick within a grid cell overlapping an obstacle (their
/// [`GridCell::near_obstacle`]), in the order movement saw them: filled by the Movement
/// systems, drained by
/// [`resolve_planet_contacts`] (so no pass over every ship is needed to find them).
#[derive(Resource, Debug, Default)]
pub struct ContactCandidates(pub Vec<Entity>);

/// The static colliders of one star system.
pub struct SystemObstacles {
    colliders: ColliderSet,
    /// Always empty: the obstacles are parentless (static) colliders; the query pipeline
    /// takes a body set anyway.
    bodies: RigidBodySet,
    broad_phase: BroadPhaseBvh,
    /// Spatial-grid keys of the cells that overlap any obstacle, sorted: the prefilter.
    cells: Vec<u64>,
    /// Bounding boxes of the obstacles (min, max): a cheaper second prefilter before a
    /// rapier query (a grid cell is much larger than most planets).
    bounds: Vec<(Vec2, Vec2)>,
}

impl SystemObstacles {
    fn build(system: &StarSystem, cell_size: f32) -> Self {
        let params = IntegrationParameters::default();
        let mut colliders = ColliderSet::new();
        let mut broad_phase = BroadPhaseBvh::new();
        let mut cells = Vec::new();
        let mut bounds = Vec::new();
        for planet in &system.planets {
            let collider = ColliderBuilder::ball(planet.radius).translation(planet.pos).build();
            let aabb = collider.compute_aabb();
            bounds.push((aabb.mins, aabb.maxs));
            let handle = colliders.insert(collider);
            broad_phase.set_aabb(&params, handle, aabb);
            // Every cell a point inside the obstacle can be filed under.
            let (lo, hi) = ((aabb.mins - SURFACE_SKIN) / cell_size, (aabb.maxs + SURFACE_SKIN) / cell_size);
            for cx in lo.x.floor() as i32..=hi.x.floor() as i32 {
                for cy in lo.y.floor() as i32..=hi.y.floor() as i32 {
                    let centre = Vec2::new(cx as f32 + 0.5, cy as f32 + 0.5) * cell_size;
                    cells.push(cell_key(system.id, centre, cell_size));
                }
            }
        }
        cells.sort_unstable();
        cells.dedup();
        Self { colliders, bodies: RigidBodySet::new(), broad_phase, cells, bounds }
    }

    /// Number of obstacle colliders in this system.
    pub fn len(&self) -> usize {
        self.colliders.len()
    }

    /// True when the system has no obstacle.
    pub fn is_empty(&self) -> bool {
        self.colliders.is_empty()
    }

    /// Whether spatial-grid cell `key` overlaps an obstacle (the cheap prefilter).
    pub fn cell_has_obstacle(&self, key: u64) -> bool {
        self.cells.binary_search(&key).is_ok()
    }

    /// The first obstacle containing `point` (rapier point query), with the outward normal
    /// and the nearest point on its surface.
    fn containing(&self, point: Vec2) -> Option<(ColliderHandle, Vec2, Vec2)> {
        if !self.bounds.iter().any(|(lo, hi)| point.cmpge(*lo).all() && point.cmple(*hi).all()) {
            return None;
        }
        let query = self.broad_phase.as_query_pipeline(
            &DefaultQueryDispatcher,
            &self.bodies,
            &self.colliders,
            QueryFilter::default(),
        );
        let (handle, collider) = query.intersect_point(point).next()?;
        let proj = collider.shape().project_point(collider.position(), point, false);
        let normal = (proj.point - point)
            .try_normalize()
            .or_else(|| (point - collider.translation()).try_normalize())
            .unwrap_or(Vec2::X);
        Some((handle, normal, proj.point))
    }

    /// Whether `point` lies inside any obstacle (rapier point query).
    pub fn contains(&self, point: Vec2) -> bool {
        self.containing(point).is_some()
    }

    /// Pushes `point` out of every obstacle it is in and removes the inward component of
    /// `vel`. Returns whether anything was touched.
    ///
    /// The first obstacle found pushes the point to its nearest surface point (normal `n`).
    /// If that lands inside another (overlapping) obstacle, the point keeps moving along `n`
    /// to where a ray leaves that one: a ray leaves each convex obstacle once and never
    /// re-enters it, so this ends after at most one step per obstacle.
    pub fn resolve(&self, point: &mut Vec2, vel: &mut Vec2) -> bool {
        let Some((_, n, surface)) = self.containing(*point) else { return false };
        *point = surface + n * SURFACE_SKIN;
        remove_inward(vel, n);
        for _ in 0..self.colliders.len() {
            let Some((handle, normal, _)) = self.containing(*point) else { break };
            let collider = &self.colliders[handle];
            let exit = collider.shape().cast_ray(collider.position(), &Ray::new(*point, n), f32::MAX, false);
            *point += n * (exit.unwrap_or(0.0) + SURFACE_SKIN);
            remove_inward(vel, normal);
        }
        true
    }
}

fn remove_inward(vel: &mut Vec2, outward: Vec2) {
    let into = vel.dot(outward);
    if into < 0.0 {
        *vel -= outward * into;
    }
}

/// Rapier collider sets and broad phases for the static world, one per star system
/// (indexed by [`SystemId`]). Built from the [`Galaxy`] by [`resolve_planet_contacts`].
#[derive(Resource, Default)]
pub struct ObstacleWorld {
    systems: Vec<SystemObstacles>,
    cell_size: f32,
    /// Ships that passed the prefilter and ships pushed out, in the last tick.
    last: (u32, u32),
}

impl ObstacleWorld {
    /// Builds the obstacles of every system of `galaxy`, with prefilter cells of `cell_size`.
    pub fn build(galaxy: &Galaxy, cell_size: f32) -> Self {
        Self {
            systems: galaxy.systems.iter().map(|s| SystemObstacles::build(s, cell_size)).collect(),
            cell_size,
            last: (0, 0),
        }
    }

    /// In the last tick: ships that reached a rapier query (moved into a cell overlapping an
    /// obstacle) and ships that were pushed out of an obstacle.
    pub fn last_tick_counts(&self) -> (u32, u32) {
        self.last
    }

    /// The obstacles of one system.
    pub fn system(&self, id: SystemId) -> Option<&SystemObstacles> {
        self.systems.get(id.0 as usize)
    }

    /// Whether `pos` lies inside an obstacle.
    pub fn contains(&self, pos: &Position) -> bool {
        self.system(pos.system).is_some_and(|s| s.contains(pos.local))
    }
}

/// Pushes ships that moved into a planet back out to its surface, removes their inward
/// velocity and refiles them in the spatial grid if that changed their cell.
///
/// Rebuilds the [`ObstacleWorld`] (and then checks every ship, moved or not) when the
/// galaxy or the grid cell size changed. Deterministic: each ship is resolved on its own,
/// against colliders built in galaxy order.
#[expect(clippy::type_complexity, reason = "a narrow scan query and a wide write query")]
pub fn resolve_planet_contacts(
    tuning: Res<Tuning>,
    galaxy: Res<Galaxy>,
    mut obstacles: ResMut<ObstacleWorld>,
    mut grid: ResMut<SpatialGrid>,
    mut candidates: ResMut<ContactCandidates>,
    mut ships: ParamSet<(
        Query<(Entity, &Position, &mut GridCell), (With<Ship>, Without<Transit>)>,
        Query<
            (&EntityId, &Owner, &Allegiance, &mut Position, &mut Motion, &mut GridCell, &mut ShipOrder),
            (With<Ship>, Without<Transit>),
        >,
    )>,
) {
    let cell_size = tuning.world.grid_cell_size;
    let rebuilt =
        galaxy.is_changed() || obstacles.cell_size != cell_size || obstacles.systems.len() != galaxy.systems.len();
    if rebuilt {
        *obstacles = ObstacleWorld::build(&galaxy, cell_size);
    }
    // Pass 1: the ships that moved in a cell overlapping an obstacle (noted by movement);
    // after a rebuild, every ship in such a cell, and every ship's cell flag is refreshed.
    if rebuilt {
        candidates.0.clear();
        for (e, pos, mut cell) in &mut ships.p0() {
            let key = cell.key.unwrap_or_else(|| cell_key(pos.system, pos.local, cell_size));
            let near = obstacles.system(pos.system).is_some_and(|s| s.cell_has_obstacle(key));
            if cell.near_obstacle != near {
                cell.near_obstacle = near;
            }
            if near {
                candidates.0.push(e);
            }
        }
    }
    let list = std::mem::take(&mut candidates.0);
    // Pass 2: rapier point queries and the push-out, in the order movement noted them.
    let mut q = ships.p1();
    let mut pushed = 0;
    for &e in &list {
        let Ok((id, owner, allegiance, mut pos, mut motion, mut cell, mut order)) = q.get_mut(e) else { continue };
        let Some(sys) = obstacles.systems.get(pos.system.0 as usize) else { continue };
        let (mut p, mut v) = (pos.local, motion.vel);
        if !sys.resolve(&mut p, &mut v) {
            continue;
        }
        pushed += 1;
        pos.local = p;
        if matches!(*order, ShipOrder::MoveTo(goal) if sys.contains(goal)) {
            // Its goal is inside this obstacle: as close as it gets. Stop here.
            *order = ShipOrder::Idle;
            v = Vec2::ZERO;
        } else {
            v = slide(motion.vel, v);
        }
        if motion.vel != v {
            motion.vel = v;
        }
        // Refile if the push crossed a cell border (only ships already filed are in the grid).
        if let Some(old) = cell.key {
            let key = cell_key(pos.system, p, cell_size);
            if old != key {
                grid.remove(old, e);
                grid.insert(key, GridEntry { entity: e, id: *id, owner: owner.0, allegiance: allegiance.0 });
                *cell = GridCell { key: Some(key), near_obstacle: sys.cell_has_obstacle(key) };
            }
        }
    }
    obstacles.last = (list.len() as u32, pushed);
    // Hand the (cleared) buffer back so its allocation is reused next tick.
    candidates.0 = list;
    candidates.0.clear();
}

/// A ship that lost most of its speed against an obstacle (it was flying into it) slides
/// along the surface at its old speed, towards the side its velocity leaned to, instead of
/// pressing into it forever: steering then takes it round the obstacle to its goal.
/// `before` is the velocity before the push-out, `after` the velocity without the inward part.
pub fn slide(before: Vec2, after: Vec2) -> Vec2 {
    let speed2 = before.length_squared();
    if after.length_squared() >= 0.25 * speed2 {
        return after;
    }
    let inward = before - after;
    let Some(tangent) = Vec2::new(-inward.y, inward.x).try_normalize() else { return after };
    let side = if before.dot(tangent) >= 0.0 { tangent } else { -tangent };
    side * speed2.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_with(planets: Vec<Planet>) -> StarSystem {
        StarSystem {
            id: SystemId(3),
            name: "T".into(),
            map_pos: Vec2::ZERO,
            region: Region::Core,
            radius: 20_000.0,
            planets,
            lanes: vec![],
        }
    }

    #[test]
    fn points_inside_are_pushed_to_the_surface_and_lose_inward_velocity() {
        let sys =
            SystemObstacles::build(&system_with(vec![Planet { pos: Vec2::new(1000.0, 0.0), radius: 500.0 }]), 2000.0);
        assert_eq!(sys.len(), 1);
        assert!(sys.contains(Vec2::new(900.0, 10.0)));
        assert!(!sys.contains(Vec2::new(400.0, 0.0)));
        let mut p = Vec2::new(510.0, 0.0);
        let mut v = Vec2::new(100.0, 30.0);
        assert!(sys.resolve(&mut p, &mut v));
        assert!(p.distance(Vec2::new(1000.0, 0.0)) >= 500.0, "still inside at {p}");
        assert!((p.x - (500.0 - SURFACE_SKIN)).abs() < 0.01 && p.y.abs() < 1e-3, "pushed to {p}");
        assert!(v.x.abs() < 1e-3 && (v.y - 30.0).abs() < 1e-3, "inward velocity removed, tangential kept: {v}");
        // Outward velocity is kept.
        let (mut p, mut v) = (Vec2::new(510.0, 0.0), Vec2::new(-50.0, 0.0));
        sys.resolve(&mut p, &mut v);
        assert_eq!(v, Vec2::new(-50.0, 0.0));
    }

    #[test]
    fn prefilter_cells_cover_every_point_inside() {
        let planet = Planet { pos: Vec2::new(-2900.0, 4100.0), radius: 1500.0 };
        let sys = SystemObstacles::build(&system_with(vec![planet.clone()]), 2000.0);
        for i in 0..200 {
            for j in 0..200 {
                let p = planet.pos + Vec2::new(i as f32 - 100.0, j as f32 - 100.0) * 15.5;
                if sys.contains(p) {
                    assert!(
                        sys.cell_has_obstacle(cell_key(SystemId(3), p, 2000.0)),
                        "{p} inside but its cell is not flagged"
                    );
                }
            }
        }
        assert!(!sys.cell_has_obstacle(cell_key(SystemId(3), Vec2::new(9000.0, -9000.0), 2000.0)));
    }

    #[test]
    fn overlapping_planets_are_both_left() {
        let sys = SystemObstacles::build(
            &system_with(vec![
                Planet { pos: Vec2::new(0.0, 0.0), radius: 1000.0 },
                Planet { pos: Vec2::new(1500.0, 0.0), radius: 1000.0 },
            ]),
            2000.0,
        );
        let mut p = Vec2::new(750.0, 10.0);
        let mut v = Vec2::ZERO;
        assert!(sys.resolve(&mut p, &mut v));
        assert!(!sys.contains(p), "ended at {p}, inside an obstacle");
    }
}
