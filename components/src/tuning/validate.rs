//! The documented range of every tuning field, checked in one place.
//!
//! Ranges are "sane for a game": wide enough for designers to experiment, narrow enough
//! that the simulation cannot divide by zero, overflow milli-unit integers or stall.
//! `docs/TUNING.md` lists the same ranges; keep the two in step.

use std::fmt::Display;

use super::{BuildingTuning, Cost, ShipClassStats, Tuning};

/// One problem: file, dotted field path, reason (with the value found).
pub(super) struct Problem {
    pub file: &'static str,
    pub path: String,
    pub reason: String,
}

/// Largest amount of any one resource or credits in a cost, an output or a capacity. Milli-unit
/// integers hold far more; this keeps products of two tuned values well inside `i64`.
const MAX_AMOUNT: f64 = 1e9;
/// Largest tick count of any interval (about 58 days at 20 Hz).
const MAX_TICKS: i128 = 100_000_000;
/// Longest population step (an hour at 20 Hz): a step replays its ticks of growth one by one.
const MAX_POPULATION_STEP_TICKS: i128 = 72_000;

/// Every problem in `t`, in file order; empty if `t` is valid.
pub(super) fn check(t: &Tuning) -> Vec<Problem> {
    let mut c = Checker { file: "world.ron", problems: Vec::new() };
    world(&mut c, t);
    c.file = "ships.ron";
    ships(&mut c, t);
    c.file = "economy.ron";
    economy(&mut c, t);
    c.file = "market.ron";
    market(&mut c, t);
    c.file = "npc.ron";
    npc(&mut c, t);
    c.file = "network.ron";
    network(&mut c, t);
    c.problems
}

fn world(c: &mut Checker, t: &Tuning) {
    let w = &t.world;
    c.int("tick_hz", w.tick_hz, 1, 120);
    c.int("systems", w.systems, 1, 100_000);
    c.float("lanes_per_system", w.lanes_per_system, Lo::Incl(1.0), 10.0);
    c.float("system_radius", w.system_radius, Lo::Incl(100.0), 1e7);
    c.int("planets_min", w.planets_min, 0, 32);
    c.int("planets_max", w.planets_max, 1, 32);
    if w.planets_min > w.planets_max {
        c.push("planets_min", format!("must be ≤ planets_max ({}) (got {})", w.planets_max, w.planets_min));
    }
    c.float("grid_cell_size", w.grid_cell_size, Lo::Incl(10.0), 1e7);
    // More than 2048 cells across a system makes the grid a memory hog, not an index.
    if w.grid_cell_size.is_finite() && w.system_radius.is_finite() && w.grid_cell_size > 0.0 {
        let across = 2.0 * w.system_radius / w.grid_cell_size;
        if across > 2048.0 {
            c.push(
                "grid_cell_size",
                format!(
                    "must be ≥ system_radius / 1024 = {} so a system is at most 2048 cells across (got {})",
                    w.system_radius / 1024.0,
                    w.grid_cell_size
                ),
            );
        }
    }
    c.float("jump_ticks_per_length", w.jump_ticks_per_length, Lo::Excl(0.0), 10_000.0);
    c.float("arrive_radius", w.arrive_radius, Lo::Excl(0.0), 10_000.0);
    c.float("gate_radius", w.gate_radius, Lo::Excl(0.0), 100_000.0);
    c.float("flush_interval_s", w.flush_interval_s, Lo::Incl(0.05), 60.0);
}

fn ships(c: &mut Checker, t: &Tuning) {
    for (name, s) in t.ships.classes.named() {
        class(c, &format!("classes.{name}"), s);
    }
    for (attacker, row) in t.ships.multipliers.named() {
        for (defender, m) in row.named() {
            c.float(&format!("multipliers.{attacker}.{defender}"), *m, Lo::Incl(0.0), 100.0);
        }
    }
    let k = &t.ships.combat;
    c.float("combat.variance", k.variance, Lo::Incl(0.0), 1.0);
    c.float("combat.min_damage_fraction", k.min_damage_fraction, Lo::Incl(0.0), 1.0);
    c.float("combat.salvage_fraction", k.salvage_fraction, Lo::Incl(0.0), 1.0);
    c.float("combat.attack_standoff", k.attack_standoff, Lo::Excl(0.0), 1.0);
    c.int("combat.engagement_timeout_ticks", k.engagement_timeout_ticks, 1, MAX_TICKS);
    c.int("combat.retarget_interval_ticks", k.retarget_interval_ticks, 1, MAX_TICKS);
    c.float("combat.weight_low_hull", k.weight_low_hull, Lo::Incl(0.0), 1000.0);
    c.float("combat.weight_near", k.weight_near, Lo::Incl(0.0), 1000.0);
    c.float("combat.weight_threat", k.weight_threat, Lo::Incl(0.0), 1000.0);
}

fn class(c: &mut Checker, p: &str, s: &ShipClassStats) {
    c.float(&format!("{p}.hull"), s.hull, Lo::Excl(0.0), 1e9);
    c.float(&format!("{p}.armor"), s.armor, Lo::Incl(0.0), 1e9);
    c.float(&format!("{p}.damage"), s.damage, Lo::Incl(0.0), 1e9);
    c.float(&format!("{p}.range"), s.range, Lo::Excl(0.0), 1e7);
    c.int(&format!("{p}.cooldown_ticks"), s.cooldown_ticks, 1, MAX_TICKS);
    c.float(&format!("{p}.max_speed"), s.max_speed, Lo::Excl(0.0), 1e6);
    c.float(&format!("{p}.acceleration"), s.acceleration, Lo::Excl(0.0), 1e6);
    c.float(&format!("{p}.turn_rate"), s.turn_rate, Lo::Excl(0.0), 100.0);
    c.float(&format!("{p}.cargo"), s.cargo, Lo::Incl(0.0), MAX_AMOUNT);
    c.float(&format!("{p}.threat"), s.threat, Lo::Incl(0.0), 1000.0);
    cost(c, &format!("{p}.cost"), &s.cost);
    c.int(&format!("{p}.build_ticks"), s.build_ticks, 1, MAX_TICKS);
    c.float(&format!("{p}.upkeep_energy"), s.upkeep_energy, Lo::Incl(0.0), MAX_AMOUNT);
}

fn cost(c: &mut Checker, p: &str, k: &Cost) {
    c.float(&format!("{p}.credits"), k.credits, Lo::Incl(0.0), MAX_AMOUNT);
    c.float(&format!("{p}.energy"), k.energy, Lo::Incl(0.0), MAX_AMOUNT);
    c.float(&format!("{p}.minerals"), k.minerals, Lo::Incl(0.0), MAX_AMOUNT);
    c.float(&format!("{p}.rare_elements"), k.rare_elements, Lo::Incl(0.0), MAX_AMOUNT);
}

fn economy(c: &mut Checker, t: &Tuning) {
    let e = &t.economy;
    for (name, b) in e.buildings.named() {
        building(c, name, b);
    }
    for (name, r) in e.regions.named() {
        c.float(&format!("regions.{name}.energy"), r.energy, Lo::Incl(0.0), 100.0);
        c.float(&format!("regions.{name}.minerals"), r.minerals, Lo::Incl(0.0), 100.0);
        c.float(&format!("regions.{name}.rare_elements"), r.rare_elements, Lo::Incl(0.0), 100.0);
    }
    c.float("reference_population", e.reference_population, Lo::Excl(0.0), MAX_AMOUNT);
    c.float("population_growth", e.population_growth, Lo::Incl(0.0), 1.0);
    c.int("population_step_ticks", e.population_step_ticks, 1, MAX_POPULATION_STEP_TICKS);
    c.float("base_population_cap", e.base_population_cap, Lo::Excl(0.0), MAX_AMOUNT);
    c.float("tax_per_person", e.tax_per_person, Lo::Incl(0.0), 1000.0);
    c.int("max_construction_queue", e.max_construction_queue, 1, 1000);
    c.int("max_shipyard_queue", e.max_shipyard_queue, 1, 1000);
}

fn building(c: &mut Checker, name: &str, b: &BuildingTuning) {
    let p = format!("buildings.{name}");
    // The research lab's output is a fraction added per level; the others are amounts.
    let max_output = if name == "research_lab" { 1.0 } else { MAX_AMOUNT };
    c.float(&format!("{p}.output_per_level"), b.output_per_level, Lo::Incl(0.0), max_output);
    cost(c, &format!("{p}.cost"), &b.cost);
    c.int(&format!("{p}.build_ticks"), b.build_ticks, 1, MAX_TICKS);
    c.float(&format!("{p}.upkeep_energy"), b.upkeep_energy, Lo::Incl(0.0), MAX_AMOUNT);
    c.int(&format!("{p}.max_level"), b.max_level, 1, 100);
}

fn market(c: &mut Checker, t: &Tuning) {
    let m = &t.market;
    c.int("fee_bps", m.fee_bps, 0, 10_000);
    c.int("default_expiry_ticks", m.default_expiry_ticks, 1, MAX_TICKS);
    c.int("max_expiry_ticks", m.max_expiry_ticks, 1, MAX_TICKS);
    if m.default_expiry_ticks > m.max_expiry_ticks {
        c.push(
            "default_expiry_ticks",
            format!("must be ≤ max_expiry_ticks ({}) (got {})", m.max_expiry_ticks, m.default_expiry_ticks),
        );
    }
    c.int("ticker_window_ticks", m.ticker_window_ticks, 1, MAX_TICKS);
    c.int("max_open_orders_per_empire", m.max_open_orders_per_empire, 1, 100_000);
    // max_price × max_quantity in milli-credits must fit an i64 with room for sums.
    c.float("max_price", m.max_price, Lo::Excl(0.0), 1e9);
    c.int("max_quantity", m.max_quantity, 1, 1_000_000_000);
    let worst = m.max_price * m.max_quantity as f64;
    if worst.is_finite() && worst > 1e12 {
        c.push(
            "max_price",
            format!(
                "max_price × max_quantity must be ≤ 1e12 credits so one trade's value fits in \
                 milli-credits (got {worst:e})"
            ),
        );
    }
}

fn network(c: &mut Checker, t: &Tuning) {
    let n = &t.network;
    c.int("snapshot_interval_ticks", n.snapshot_interval_ticks, 1, 120);
    c.int("bandwidth_bytes_per_s", n.bandwidth_bytes_per_s, 1_000, 10_000_000);
    c.int("view_cells", n.view_cells, 0, 8);
    c.int("snapshot_history", n.snapshot_history, 2, 256);
    // Removing every visible entity costs 2 bits each: 4,000 keeps that inside one snapshot.
    c.int("max_visible", n.max_visible, 16, 4_000);
    c.int("commands_per_tick", n.commands_per_tick, 1, 1_000);
    c.int("inputs_per_tick", n.inputs_per_tick, 1, 1_000);
    c.int("client_timeout_s", n.client_timeout_s, 2, 600);
    c.float("start_credits", n.start_credits, Lo::Incl(0.0), MAX_AMOUNT);
    c.float("start_stock", n.start_stock, Lo::Incl(0.0), MAX_AMOUNT);
    c.int("start_corvettes", n.start_corvettes, 0, 100);
    c.int("start_freighters", n.start_freighters, 0, 100);
}

fn npc(c: &mut Checker, t: &Tuning) {
    let n = &t.npc;
    c.float("pirate_fleets_per_system", n.pirate_fleets_per_system, Lo::Incl(0.0), 100.0);
    c.float("patrol_fleets_per_system", n.patrol_fleets_per_system, Lo::Incl(0.0), 100.0);
    c.float("trader_fleets_per_system", n.trader_fleets_per_system, Lo::Incl(0.0), 100.0);
    c.int("trader_empires", n.trader_empires, 1, 1000);
    c.float("colonies_per_system", n.colonies_per_system, Lo::Incl(0.0), 32.0);
    c.int("fleet_size_min", n.fleet_size_min, 1, 1000);
    c.int("fleet_size_max", n.fleet_size_max, 1, 1000);
    if n.fleet_size_min > n.fleet_size_max {
        c.push("fleet_size_min", format!("must be ≤ fleet_size_max ({}) (got {})", n.fleet_size_max, n.fleet_size_min));
    }
    c.int("think_interval_ticks", n.think_interval_ticks, 1, MAX_TICKS);
    c.int("pirate_hunt_jumps", n.pirate_hunt_jumps, 0, 64);
    c.float("trader_spread", n.trader_spread, Lo::Incl(0.0), 0.9);
    c.int("trader_order_units", n.trader_order_units, 1, t.market.max_quantity.max(1));
    c.float("reference_price", n.reference_price, Lo::Excl(0.0), t.market.max_price.max(f64::MIN_POSITIVE));
    c.int("quote_expiry_ticks", n.quote_expiry_ticks, 1, i128::from(t.market.max_expiry_ticks.max(1)));
    c.float("starting_credits", n.starting_credits, Lo::Incl(0.0), MAX_AMOUNT);
    c.float("starting_stock", n.starting_stock, Lo::Incl(0.0), MAX_AMOUNT);
}

/// Lower bound of a float range.
#[derive(Clone, Copy)]
enum Lo {
    /// `value ≥ bound`.
    Incl(f64),
    /// `value > bound`.
    Excl(f64),
}

/// Collects problems for one file at a time.
struct Checker {
    file: &'static str,
    problems: Vec<Problem>,
}

impl Checker {
    fn push(&mut self, path: &str, reason: String) {
        self.problems.push(Problem { file: self.file, path: path.to_owned(), reason });
    }

    /// A finite float in `lo..=hi`.
    fn float<T: Into<f64> + Display + Copy>(&mut self, path: &str, v: T, lo: Lo, hi: f64) {
        let x: f64 = v.into();
        let reason = if !x.is_finite() {
            format!("must be a finite number (got {v})")
        } else {
            match lo {
                Lo::Incl(b) if x < b => format!("must be ≥ {b} (got {v})"),
                Lo::Excl(b) if x <= b => format!("must be > {b} (got {v})"),
                _ if x > hi => format!("must be ≤ {hi} (got {v})"),
                _ => return,
            }
        };
        self.push(path, reason);
    }

    /// An integer in `lo..=hi`.
    fn int<T: Into<i128> + Display + Copy>(&mut self, path: &str, v: T, lo: impl Into<i128>, hi: impl Into<i128>) {
        let (x, lo, hi) = (v.into(), lo.into(), hi.into());
        let reason = if x < lo {
            format!("must be ≥ {lo} (got {v})")
        } else if x > hi {
            format!("must be ≤ {hi} (got {v})")
        } else {
            return;
        };
        self.push(path, reason);
    }
}
