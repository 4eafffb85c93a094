//! Shared helpers for the Starforge benchmarks: world building, tick timing, per-set timing.
//!
//! Every tick here is one `FixedMain` run on the calling thread (bevy_ecs without default
//! features is single-threaded), so a tick's wall time is its CPU cost on one core.

use std::time::{Duration, Instant};

use bevy_app::{App, FixedMain, FixedUpdate};
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;
use starforge_systems::prelude::*;

/// Fewest star systems a benchmark world gets (the shipped tuning's galaxy size).
pub const MIN_SYSTEMS: u32 = 200;

/// Average ships per star system once the galaxy grows beyond [`MIN_SYSTEMS`].
pub const SHIPS_PER_SYSTEM: u32 = 250;

/// Star systems for a world of `ships` ships: `max(200, ships / 250)`.
///
/// The shipped tuning generates 200 systems; keeping that floor makes small benchmark
/// worlds look like the default galaxy. Beyond 50 000 ships the galaxy grows with the fleet
/// so the density (≈250 ships per system, i.e. per per-system spatial grid and per
/// engagement) stays constant: cost per ship then reflects the algorithms, not an ever more
/// crowded system. Galaxy generation is O(systems²), so growing it faster would make
/// world building, not the tick, dominate the benchmark's setup time.
pub fn systems_for(ships: u32) -> u32 {
    MIN_SYSTEMS.max(ships / SHIPS_PER_SYSTEM)
}

/// Builds a headless app with the whole simulation and a generated world.
///
/// `systems: None` picks [`systems_for`]`(ships)`. Nothing has ticked yet.
pub fn build_world(ships: u32, colonies: u32, orders: u32, seed: u64, systems: Option<u32>) -> App {
    build_world_with(ships, colonies, orders, seed, systems, |_| {})
}

/// [`build_world`], with `extend` called on the app after `SimulationPlugin` is added and
/// before the app is finished (to add plugins such as persistence, or configure sets).
///
/// The world generated is the same whatever `extend` adds (same seed, same parameters).
pub fn build_world_with(
    ships: u32,
    colonies: u32,
    orders: u32,
    seed: u64,
    systems: Option<u32>,
    extend: impl FnOnce(&mut App),
) -> App {
    let mut app = App::new();
    app.insert_resource(Tuning::default());
    app.add_plugins(SimulationPlugin);
    extend(&mut app);
    app.finish();
    app.cleanup();
    let params = GenParams {
        seed,
        systems: Some(systems.unwrap_or_else(|| systems_for(ships))),
        ships: Some(ships),
        colonies: Some(colonies),
        resting_orders: orders,
    };
    generate_world(app.world_mut(), &params);
    app
}

/// What [`park_fleets`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parked {
    /// Fleets that keep their NPC brain.
    pub active_fleets: usize,
    /// Fleets whose brain was removed.
    pub parked_fleets: usize,
    /// Ships in the parked fleets.
    pub parked_ships: usize,
}

/// Parks all NPC fleets but a fraction `active` (0..=1) of them: a parked fleet loses its
/// `NpcBrain`, so its ships keep the `Idle` order they are spawned with and never move (like
/// the docked fleets of players who are offline). Which fleets stay active depends on their
/// `EntityId` only (a fixed hash), so the same world parks the same fleets every time.
///
/// Parked ships are otherwise ordinary: they still fire at hostiles in range and can be shot
/// at, and empire brains may still assign new ships to their fleets. Call it right after
/// generation, before the first tick.
pub fn park_fleets(world: &mut World, active: f64) -> Parked {
    let mut q = world.query_filtered::<(Entity, &EntityId, &Fleet), (With<NpcBrain>, Without<Empire>)>();
    let mut out = Parked::default();
    let mut park = Vec::new();
    for (e, id, fleet) in q.iter(world) {
        // splitmix64 of the id, as a uniform fraction in [0, 1).
        let mut z = id.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        if u < active {
            out.active_fleets += 1;
        } else {
            out.parked_fleets += 1;
            out.parked_ships += fleet.ships.len();
            park.push(e);
        }
    }
    for e in park {
        world.entity_mut(e).remove::<NpcBrain>();
    }
    out
}

/// Runs one simulation tick (one `FixedMain`).
pub fn tick(app: &mut App) {
    app.world_mut().run_schedule(FixedMain);
}

/// Runs `n` ticks without timing them (warm-up).
pub fn run_ticks(app: &mut App, n: u32) {
    for _ in 0..n {
        tick(app);
    }
}

/// Runs `n` ticks and returns each tick's wall-clock duration, in order.
pub fn time_ticks(app: &mut App, n: u32) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let start = Instant::now();
            tick(app);
            start.elapsed()
        })
        .collect()
}

/// CPU time the calling thread has consumed so far (Linux: `/proc/thread-self/schedstat`,
/// nanoseconds; `None` where unavailable).
///
/// The kernel refreshes this at scheduler ticks and context switches, so it is accurate over
/// a run of many ticks (to a few ms), not per tick. On a shared machine, wall time minus this
/// is time the thread spent waiting for a core.
pub fn thread_cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// What a world holds, counted from its entities and the exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldCounts {
    /// Entities with a `Ship`.
    pub ships: usize,
    /// Entities with a `Colony`.
    pub colonies: usize,
    /// Orders resting on the exchange's books.
    pub resting_orders: usize,
}

/// Counts ships, colonies and resting orders in `world`.
pub fn world_counts(world: &mut World) -> WorldCounts {
    let ships = world.query_filtered::<(), With<Ship>>().iter(world).count();
    let colonies = world.query_filtered::<(), With<Colony>>().iter(world).count();
    let resting_orders = world.get_resource::<Market>().map_or(0, Market::resting);
    WorldCounts { ships, colonies, resting_orders }
}

/// Mean, median, 99th percentile and maximum of a set of durations, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Arithmetic mean.
    pub mean_ms: f64,
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Summary {
    /// Summarises `samples` (all zeros when empty). Percentiles use the nearest-rank method,
    /// so `p50 <= p99 <= max` always holds.
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let r = (p / 100.0 * ms.len() as f64).ceil() as usize;
            ms[r.clamp(1, ms.len()) - 1]
        };
        Self {
            count: ms.len(),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            p50_ms: rank(50.0),
            p99_ms: rank(99.0),
            max_ms: ms[ms.len() - 1],
        }
    }
}

/// The simulation's sets in tick order, with display names (for per-set timing).
pub const SETS: [(SimSystems, &str); 6] = [
    (SimSystems::Input, "Input"),
    (SimSystems::Movement, "Movement"),
    (SimSystems::Combat, "Combat"),
    (SimSystems::Production, "Production"),
    (SimSystems::Market, "Market"),
    (SimSystems::Bookkeeping, "Bookkeeping"),
];

/// Per-set wall time of every tick run since [`add_set_timers`]: `samples[tick][set]`, sets in
/// [`SETS`] order.
///
/// A set's time runs from the boundary stamp before it to the one after it, so it includes
/// the command-application sync points the scheduler places at that boundary.
#[derive(Resource, Debug, Default)]
pub struct SetTimings {
    /// One entry per tick.
    pub samples: Vec<[Duration; SETS.len()]>,
    marks: [Option<Instant>; SETS.len() + 1],
}

impl SetTimings {
    /// The summary of one set over all recorded ticks (`set` indexes [`SETS`]).
    pub fn summary(&self, set: usize) -> Summary {
        let v: Vec<Duration> = self.samples.iter().map(|s| s[set]).collect();
        Summary::of(&v)
    }
}

fn stamp<const I: usize>(mut t: ResMut<SetTimings>) {
    t.marks[I] = Some(Instant::now());
    if I == SETS.len() {
        let marks = std::mem::take(&mut t.marks);
        let mut row = [Duration::ZERO; SETS.len()];
        for (k, d) in row.iter_mut().enumerate() {
            if let (Some(a), Some(b)) = (marks[k], marks[k + 1]) {
                *d = b.saturating_duration_since(a);
            }
        }
        t.samples.push(row);
    }
}

/// Adds timing systems to `FixedUpdate` at every set boundary (before `Input`, between each
/// pair of consecutive sets, after `Bookkeeping`); they fill [`SetTimings`] every tick.
///
/// Does not touch the simulation's own systems. Call after `SimulationPlugin` is added.
pub fn add_set_timers(app: &mut App) {
    use SimSystems::*;
    app.init_resource::<SetTimings>();
    app.add_systems(
        FixedUpdate,
        (
            stamp::<0>.before(Input),
            stamp::<1>.after(Input).before(Movement),
            stamp::<2>.after(Movement).before(Combat),
            stamp::<3>.after(Combat).before(Production),
            stamp::<4>.after(Production).before(Market),
            stamp::<5>.after(Market).before(Bookkeeping),
            stamp::<6>.after(Bookkeeping),
        ),
    );
}

/// How many ships had each hot component marked changed (Bevy change detection), summed over
/// the ticks run since [`add_change_counter`], next to how many really moved.
///
/// A component marked changed without a new value costs the writer little but costs every
/// change-driven reader (replication deltas, persistence batches) a full copy.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeCounts {
    /// Ticks counted.
    pub ticks: u64,
    /// Ship-ticks (ships in the world, summed over ticks).
    pub ships: u64,
    /// Ship-ticks whose `Position` was marked changed.
    pub position: u64,
    /// Ship-ticks whose `Motion` was marked changed.
    pub motion: u64,
    /// Ship-ticks whose `ShipOrder` was marked changed.
    pub order: u64,
    /// Ship-ticks whose `Target` was marked changed.
    pub target: u64,
    /// Ship-ticks whose `Weapon` was marked changed.
    pub weapon: u64,
    /// Ship-ticks whose `Position` really moved (its value differs from the previous tick).
    pub moved: u64,
}

#[expect(clippy::type_complexity, reason = "one read-only query over the hot ship columns")]
fn count_changes(
    mut c: ResMut<ChangeCounts>,
    mut last: Local<std::collections::HashMap<Entity, Position>>,
    ships: Query<(Entity, Ref<Position>, Ref<Motion>, Ref<ShipOrder>, Ref<Target>, Ref<Weapon>), With<Ship>>,
) {
    c.ticks += 1;
    let mut now = std::collections::HashMap::with_capacity(last.len());
    for (e, pos, motion, order, target, weapon) in &ships {
        c.ships += 1;
        c.position += u64::from(pos.is_changed());
        c.motion += u64::from(motion.is_changed());
        c.order += u64::from(order.is_changed());
        c.target += u64::from(target.is_changed());
        c.weapon += u64::from(weapon.is_changed());
        c.moved += u64::from(last.get(&e).is_some_and(|p| p != &*pos));
        now.insert(e, *pos);
    }
    *last = now;
}

/// Adds a diagnostic system after `Bookkeeping` that fills [`ChangeCounts`] every tick.
///
/// It iterates every ship, so it adds to the measured tick time: use it on its own runs.
pub fn add_change_counter(app: &mut App) {
    app.init_resource::<ChangeCounts>();
    app.add_systems(FixedUpdate, count_changes.after(SimSystems::Bookkeeping));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of(&v);
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (50.0, 99.0, 100.0));
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(Summary::of(&[]), Summary::default());
    }

    #[test]
    fn systems_scale_with_ships() {
        assert_eq!(systems_for(1_000), 200);
        assert_eq!(systems_for(100_000), 400);
    }

    #[test]
    fn parking_keeps_about_the_active_fraction_and_is_deterministic() {
        let mut a = build_world(4_000, 20, 0, 3, Some(20));
        let mut b = build_world(4_000, 20, 0, 3, Some(20));
        let (pa, pb) = (park_fleets(a.world_mut(), 0.25), park_fleets(b.world_mut(), 0.25));
        assert_eq!(pa, pb);
        let fleets = pa.active_fleets + pa.parked_fleets;
        assert!(fleets > 100, "{pa:?}");
        let share = pa.active_fleets as f64 / fleets as f64;
        assert!((0.15..0.35).contains(&share), "{pa:?}");
        assert!(pa.parked_ships > 0);
        let none = park_fleets(build_world(500, 5, 0, 3, Some(5)).world_mut(), 1.0);
        assert_eq!(none.parked_fleets, 0);
    }

    #[test]
    fn set_timers_record_every_tick() {
        let mut app = build_world(200, 10, 50, 1, Some(10));
        add_set_timers(&mut app);
        run_ticks(&mut app, 3);
        let t = app.world().resource::<SetTimings>();
        assert_eq!(t.samples.len(), 3);
        assert!(world_counts(app.world_mut()).resting_orders > 0);
    }
}
