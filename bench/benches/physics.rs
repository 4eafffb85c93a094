//! What lives in rapier: the cost of one physics step for N ships in rapier versus the
//! direct integration in `move_ships`, and of ship–planet queries against rapier colliders.
//!
//! Density is the game's: 500 ships per 20 km star system (100,000 ships in 200 systems),
//! systems laid out 50 km apart in one rapier space (one big space with the same density).
//!
//! `cargo bench -p starforge-bench --bench physics` (add a filter, e.g. `-- rapier_step`).

#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]

use std::hint::black_box;
use std::time::Duration;

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::Schedule;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use glam::Vec2;
use rapier2d::prelude::{ColliderBuilder, PhysicsWorld, RigidBodyBuilder};
use starforge_components::prelude::*;
use starforge_systems::movement::move_ships;
use starforge_systems::obstacles::{ObstacleWorld, resolve_planet_contacts};
use starforge_systems::prelude::*;
use starforge_systems::spatial::cell_key;
use starforge_systems::worldgen::generate_galaxy;

const SHIPS_PER_SYSTEM: usize = 500;
const SYSTEM_RADIUS: f32 = 20_000.0;
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

/// A tiny deterministic generator (splitmix64), so the bench needs no RNG crate.
struct Mix(u64);
impl Mix {
    fn unit(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    }
    fn in_disc(&mut self, radius: f32) -> Vec2 {
        Vec2::from_angle(self.unit() * std::f32::consts::TAU) * radius * self.unit().sqrt()
    }
}

/// N ball bodies (10 m) at ship density, moving at up to 300 m/s; planets as fixed balls.
fn rapier_world(n: usize, kinematic: bool) -> PhysicsWorld {
    let mut rng = Mix(n as u64);
    let mut world = PhysicsWorld::new();
    world.gravity = Vec2::ZERO;
    world.integration_parameters.dt = 1.0 / 20.0;
    let systems = n.div_ceil(SHIPS_PER_SYSTEM);
    let side = (systems as f32).sqrt().ceil() as usize;
    for s in 0..systems {
        let centre = Vec2::new((s % side) as f32, (s / side) as f32) * 50_000.0;
        for _ in 0..4 {
            let at = centre + rng.in_disc(SYSTEM_RADIUS * 0.7);
            world.insert_collider(ColliderBuilder::ball(300.0 + 1200.0 * rng.unit()).translation(at), None);
        }
        for _ in 0..SHIPS_PER_SYSTEM.min(n - s * SHIPS_PER_SYSTEM) {
            let body =
                if kinematic { RigidBodyBuilder::kinematic_velocity_based() } else { RigidBodyBuilder::dynamic() };
            let body =
                body.translation(centre + rng.in_disc(SYSTEM_RADIUS)).linvel(rng.in_disc(300.0)).can_sleep(false);
            world.insert(body, ColliderBuilder::ball(10.0));
        }
    }
    world.step(); // builds the broad phase
    world
}

fn rapier_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("rapier_step");
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for (kind, kinematic) in [("dynamic", false), ("kinematic", true)] {
        for n in SIZES {
            let mut world = rapier_world(n, kinematic);
            g.bench_with_input(BenchmarkId::new(kind, n), &n, |b, _| b.iter(|| world.step()));
        }
    }
    g.finish();
}

/// A generated world with `n` ships (500 per system), every ship patrolling between two
/// random points of its system so it moves every tick.
fn sim_world(n: usize) -> bevy_app::App {
    let mut app = bevy_app::App::new();
    app.insert_resource(Tuning::default());
    app.add_plugins(SimulationPlugin);
    app.finish();
    app.cleanup();
    let systems = n.div_ceil(SHIPS_PER_SYSTEM).max(2) as u32;
    generate_world(
        app.world_mut(),
        &GenParams { seed: 5, systems: Some(systems), ships: Some(n as u32), colonies: Some(0), resting_orders: 0 },
    );
    let mut rng = Mix(7);
    let mut q = app.world_mut().query::<&mut ShipOrder>();
    for mut order in q.iter_mut(app.world_mut()) {
        *order = ShipOrder::patrol(vec![rng.in_disc(15_000.0), rng.in_disc(15_000.0)]);
    }
    app
}

fn direct_integration(c: &mut Criterion) {
    let mut g = c.benchmark_group("direct");
    g.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let mut app = sim_world(n);
        let mut moves = Schedule::default();
        moves.add_systems(move_ships);
        let mut with_contacts = Schedule::default();
        with_contacts.add_systems((move_ships, resolve_planet_contacts).chain());
        with_contacts.run(app.world_mut()); // builds the obstacle world
        g.bench_with_input(BenchmarkId::new("move_ships", n), &n, |b, _| b.iter(|| moves.run(app.world_mut())));
        g.bench_with_input(BenchmarkId::new("move_ships+planet_contacts", n), &n, |b, _| {
            b.iter(|| with_contacts.run(app.world_mut()))
        });
        let (queried, pushed) = app.world().resource::<ObstacleWorld>().last_tick_counts();
        eprintln!("{n} ships, last tick: {queried} reached a rapier query, {pushed} pushed out of a planet");
        let mut contacts_only = Schedule::default();
        contacts_only.add_systems(resolve_planet_contacts);
        contacts_only.run(app.world_mut());
        g.bench_with_input(BenchmarkId::new("planet_contacts_nothing_moved", n), &n, |b, _| {
            b.iter(|| contacts_only.run(app.world_mut()))
        });
        // In situ, each system timed on its own: move, then resolve what moved.
        let (mut t_move, mut t_contacts) = (Duration::ZERO, Duration::ZERO);
        let ticks = 40;
        for _ in 0..ticks {
            let t0 = std::time::Instant::now();
            moves.run(app.world_mut());
            let t1 = std::time::Instant::now();
            contacts_only.run(app.world_mut());
            t_move += t1 - t0;
            t_contacts += t1.elapsed();
        }
        let (queried, pushed) = app.world().resource::<ObstacleWorld>().last_tick_counts();
        eprintln!(
            "{n} ships in situ, mean of {ticks} ticks: move_ships {:?}, resolve_planet_contacts {:?} ({queried} queried, {pushed} pushed in the last tick)",
            t_move / ticks,
            t_contacts / ticks
        );
    }
    g.finish();
}

fn planet_queries(c: &mut Criterion) {
    let mut g = c.benchmark_group("planet_queries");
    g.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let tuning = Tuning::default();
    let galaxy = generate_galaxy(3, 200, &tuning);
    let cell = tuning.world.grid_cell_size;
    let obstacles = ObstacleWorld::build(&galaxy, cell);
    for n in SIZES {
        let mut rng = Mix(n as u64 + 1);
        let points: Vec<Position> = (0..n)
            .map(|i| Position {
                system: SystemId((i % galaxy.systems.len()) as u32),
                local: rng.in_disc(SYSTEM_RADIUS),
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("rapier_point_query_every_ship", n), &n, |b, _| {
            b.iter(|| points.iter().filter(|p| obstacles.contains(p)).count())
        });
        g.bench_with_input(BenchmarkId::new("grid_prefilter_then_rapier", n), &n, |b, _| {
            b.iter(|| {
                points
                    .iter()
                    .filter(|p| {
                        obstacles.system(p.system).is_some_and(|s| {
                            s.cell_has_obstacle(cell_key(p.system, p.local, cell)) && s.contains(p.local)
                        })
                    })
                    .count()
            })
        });
        g.bench_with_input(BenchmarkId::new("plain_circle_test_every_ship", n), &n, |b, _| {
            b.iter(|| {
                points
                    .iter()
                    .filter(|p| {
                        galaxy.systems[p.system.0 as usize]
                            .planets
                            .iter()
                            .any(|pl| p.local.distance_squared(pl.pos) < pl.radius * pl.radius)
                    })
                    .count()
            })
        });
        black_box(&points);
    }
    g.finish();
}

criterion_group!(benches, planet_queries, direct_integration, rapier_step);
criterion_main!(benches);
