//! `tickbench`: times simulation ticks of a generated world with every system on.
//!
//! Builds a world, runs warm-up ticks (not measured), then times each tick individually.
//! A human summary goes to stderr; the last stdout line is one JSON object:
//! `{"ships":..,"colonies":..,"resting_orders":..,"ticks":..,"mean_ms":..,"p50_ms":..,"p99_ms":..,"max_ms":..}`
//! where the counts are measured from the world at the end of the run.

use std::time::Instant;

use clap::Parser;
use starforge_bench::{
    ChangeCounts, SETS, SetTimings, Summary, add_change_counter, add_set_timers, build_world, run_ticks, systems_for,
    thread_cpu_time, time_ticks, world_counts,
};

/// Times Starforge simulation ticks on a generated world.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Ships to generate.
    #[arg(long, default_value_t = 10_000)]
    ships: u32,
    /// Colonies to generate.
    #[arg(long, default_value_t = 1_000)]
    colonies: u32,
    /// Resting market orders to seed the exchange with.
    #[arg(long, default_value_t = 10_000)]
    orders: u32,
    /// Measured ticks (at least 1).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    ticks: u32,
    /// World seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Star systems (default: max(200, ships / 250)).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    systems: Option<u32>,
    /// Unmeasured ticks before timing starts.
    #[arg(long, default_value_t = 20)]
    warmup: u32,
    /// Also time each simulation set and print its mean/p99 to stderr.
    #[arg(long)]
    per_set: bool,
    /// Diagnostic: count ships whose hot components are marked changed each tick (adds a
    /// pass over all ships to every tick, so timings of such a run are inflated).
    #[arg(long)]
    change_stats: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let systems = args.systems.unwrap_or_else(|| systems_for(args.ships));
    eprintln!(
        "tickbench: {} ships, {} colonies, {} orders, {} systems, seed {}",
        args.ships, args.colonies, args.orders, systems, args.seed
    );
    let t0 = Instant::now();
    let mut app = build_world(args.ships, args.colonies, args.orders, args.seed, Some(systems));
    eprintln!("world built in {:.2} s", t0.elapsed().as_secs_f64());
    if args.per_set {
        add_set_timers(&mut app);
    }
    if args.change_stats {
        add_change_counter(&mut app);
    }
    let t1 = Instant::now();
    run_ticks(&mut app, args.warmup);
    eprintln!("{} warm-up ticks in {:.2} s", args.warmup, t1.elapsed().as_secs_f64());
    if let Some(mut t) = app.world_mut().get_resource_mut::<SetTimings>() {
        t.samples.clear();
    }
    if let Some(mut c) = app.world_mut().get_resource_mut::<ChangeCounts>() {
        *c = ChangeCounts::default();
    }
    let cpu0 = thread_cpu_time();
    let samples = time_ticks(&mut app, args.ticks);
    let cpu = thread_cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let s = Summary::of(&samples);
    let counts = world_counts(app.world_mut());
    eprintln!(
        "{} ticks: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        s.count, s.mean_ms, s.p50_ms, s.p99_ms, s.max_ms
    );
    if let Some(cpu) = cpu {
        let wall: f64 = samples.iter().map(|d| d.as_secs_f64()).sum::<f64>();
        eprintln!(
            "CPU time of the tick thread: {:.3} ms per tick (wall/CPU = {:.2}; above 1 means the thread waited for a core)",
            cpu.as_secs_f64() * 1e3 / f64::from(args.ticks),
            wall / cpu.as_secs_f64().max(f64::MIN_POSITIVE)
        );
    }
    eprintln!(
        "world at end: {} ships, {} colonies, {} resting orders",
        counts.ships, counts.colonies, counts.resting_orders
    );
    if let Some(t) = app.world().get_resource::<SetTimings>() {
        eprintln!("{:<12} {:>10} {:>10} {:>10} {:>7}", "set", "mean ms", "p99 ms", "max ms", "share");
        let total: f64 = (0..SETS.len()).map(|k| t.summary(k).mean_ms).sum::<f64>().max(f64::MIN_POSITIVE);
        for (k, (_, name)) in SETS.iter().enumerate() {
            let p = t.summary(k);
            eprintln!(
                "{:<12} {:>10.3} {:>10.3} {:>10.3} {:>6.1}%",
                name,
                p.mean_ms,
                p.p99_ms,
                p.max_ms,
                100.0 * p.mean_ms / total
            );
        }
    }
    if let Some(c) = app.world().get_resource::<ChangeCounts>() {
        let pct = |n: u64| 100.0 * n as f64 / c.ships.max(1) as f64;
        eprintln!(
            "marked changed per tick (% of ships): Position {:.1}%, Motion {:.1}%, ShipOrder {:.1}%, Target {:.1}%, Weapon {:.1}%; really moved {:.1}%",
            pct(c.position),
            pct(c.motion),
            pct(c.order),
            pct(c.target),
            pct(c.weapon),
            pct(c.moved)
        );
    }
    let json = serde_json::json!({
        "ships": counts.ships,
        "colonies": counts.colonies,
        "resting_orders": counts.resting_orders,
        "ticks": s.count,
        "mean_ms": s.mean_ms,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "max_ms": s.max_ms,
    });
    println!("{json}");
    Ok(())
}
