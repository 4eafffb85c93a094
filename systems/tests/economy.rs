//! Economy rules: conservation over a long run, production, construction, shipyards,
//! combat destruction with salvage. Nothing ever goes negative.

mod common;

use bevy_app::App;
use bevy_ecs::change_detection::DetectChanges;
use bevy_ecs::prelude::Ref;
use common::*;
use glam::Vec2;
use starforge_components::prelude::*;
use starforge_systems::prelude::*;
use starforge_systems::production::population_cap;

#[test]
fn value_is_conserved_over_a_long_run() {
    let mut app = sim_app(
        Tuning::default(),
        &GenParams { seed: 5, systems: Some(30), ships: Some(1500), colonies: Some(80), resting_orders: 400 },
    );
    let start = holdings(&mut app);
    let ledger0 = app.world().resource::<Ledger>().clone();
    for step in 0..6 {
        tick(&mut app, 500);
        let now = holdings(&mut app);
        let ledger = app.world().resource::<Ledger>().clone();
        for k in 0..5 {
            let expected =
                start[k] + (ledger.created[k] - ledger0.created[k]) - (ledger.destroyed[k] - ledger0.destroyed[k]);
            assert_eq!(
                now[k],
                expected,
                "kind {k} after {} ticks: held {} but ledger says {}",
                (step + 1) * 500,
                now[k],
                expected
            );
        }
    }
    let stats = *app.world().resource::<SimStats>();
    assert!(
        stats.ships_destroyed > 0 && stats.ships_built > 0 && stats.buildings_completed > 0 && stats.trades > 0,
        "the run must exercise the economy: {stats:?}"
    );
}

#[test]
fn colonies_produce_with_region_modifiers_and_build() {
    let mut app = sim_app(
        Tuning::default(),
        &GenParams { seed: 9, systems: Some(12), ships: Some(0), colonies: Some(0), resting_orders: 0 },
    );
    let p = player(&mut app, "Builder", 0);
    let before = get::<Stockpile>(&app, p.empire).expect("stock").0;
    tick(&mut app, 100);
    let after = get::<Stockpile>(&app, p.empire).expect("stock").0;
    // One mine at 1000 people: 0.05/tick × region modifier for minerals.
    let t = Tuning::default();
    let region = app.world().resource::<Galaxy>().systems[0].region;
    let per_tick = t.economy.buildings.mine.output_per_level * t.economy.regions.get(region).minerals;
    let gained = (after.get(ResourceKind::Minerals) - before.get(ResourceKind::Minerals)) as f64 / 1000.0;
    // Population grows a little over 100 ticks, so output is slightly above the first tick's.
    assert!(
        gained >= per_tick * 100.0 * 0.99 && gained <= per_tick * 100.0 * 1.1,
        "gained {gained}, expected about {}",
        per_tick * 100.0
    );

    push(&mut app, p.empire, 1, Intent::Build { colony: p.colony, building: BuildingKind::Habitat });
    push(
        &mut app,
        p.empire,
        2,
        Intent::QueueShip { colony: p.colony, class: ShipClass::Fighter, fleet: Some(p.fleet) },
    );
    tick(&mut app, 1);
    let build_ticks = t.economy.buildings.habitat.build_ticks;
    tick(&mut app, build_ticks - 2);
    assert_eq!(
        get::<Buildings>(&app, p.colony).expect("b").level(BuildingKind::Habitat),
        0,
        "not done before its build time"
    );
    tick(&mut app, 2);
    assert_eq!(
        get::<Buildings>(&app, p.colony).expect("b").level(BuildingKind::Habitat),
        1,
        "done after its build time"
    );
    let done = drain::<ConstructionCompleted>(&mut app);
    assert!(
        done.iter().any(|d| d.colony == p.colony && d.building == BuildingKind::Habitat && d.level == 1),
        "completion event: {done:?}"
    );
    let built = drain::<ShipBuilt>(&mut app);
    let ours: Vec<_> = built.iter().filter(|b| b.owner == p.empire).collect();
    assert_eq!(ours.len(), 1, "the fighter launched (100 build ticks < habitat's): {built:?}");
    assert_eq!(ours[0].fleet, p.fleet, "it joined the requested fleet");
    assert!(get::<Fleet>(&app, p.fleet).expect("fleet").ships.contains(&ours[0].ship));
    assert_eq!(get::<ShipCensus>(&app, p.empire).expect("census").0[ShipClass::Fighter.index()], 1);
}

#[test]
fn hostile_ships_fight_until_one_is_destroyed_and_the_killer_salvages() {
    let mut app = sim_app(
        Tuning::default(),
        &GenParams { seed: 4, systems: Some(12), ships: Some(0), colonies: Some(0), resting_orders: 0 },
    );
    let a = player(&mut app, "Ann", 1);
    let b = player(&mut app, "Ben", 1);
    // Put Ben's ship 500 m from Ann's (both corvettes, range 1200 m).
    let e = entity(&app, b.ships[0]);
    app.world_mut().get_mut::<Position>(e).expect("pos").local = Vec2::new(500.0, 0.0);
    let minerals_before = get::<Stockpile>(&app, a.empire).expect("s").0.get(ResourceKind::Minerals)
        + get::<Stockpile>(&app, b.empire).expect("s").0.get(ResourceKind::Minerals);
    tick(&mut app, 2000);
    let destroyed = drain::<ShipDestroyed>(&mut app);
    assert_eq!(destroyed.len(), 1, "exactly one of the two corvettes dies: {destroyed:?}");
    let d = destroyed[0];
    assert_ne!(d.owner, d.by, "killed by the other side");
    assert!(get::<Ship>(&app, d.ship).is_none(), "the destroyed ship is despawned");
    assert!(app.world().resource::<EntityIndex>().get(d.ship).is_none(), "and unindexed");
    let minerals_after = get::<Stockpile>(&app, a.empire).expect("s").0.get(ResourceKind::Minerals)
        + get::<Stockpile>(&app, b.empire).expect("s").0.get(ResourceKind::Minerals);
    assert!(minerals_after > minerals_before, "salvage and mines add minerals");
    let reports = drain::<CombatReport>(&mut app);
    assert_eq!(reports.len(), 1, "one report for the engagement: {reports:?}");
    let r = &reports[0];
    assert_eq!(r.victor, Some(d.by));
    assert_eq!(r.losses, vec![(d.owner, 1)]);
    let mut both = vec![a.empire, b.empire];
    both.sort();
    assert_eq!(r.participants, both);
    assert!(r.shots >= 2);
}

/// Population after `ticks` ticks of the per-tick logistic rule, written out here on its own:
/// each tick adds `p × g × (1 − p / cap)` rounded, at least 1 milli-person, capped.
fn grown_every_tick(mut p: i64, cap: i64, g: f64, ticks: u32) -> i64 {
    for _ in 0..ticks {
        if p > 0 && p < cap {
            let d = (p as f64 * g * (1.0 - p as f64 / cap as f64)).round() as i64;
            p = (p + d.max(1)).min(cap);
        }
    }
    p
}

#[test]
fn population_grows_in_steps_by_the_growth_of_every_tick_in_between() {
    for step in [1u32, 7, 50] {
        let mut t = Tuning::default();
        t.economy.population_step_ticks = step;
        t.economy.population_growth = 0.002;
        let mut app = sim_app(
            t.clone(),
            &GenParams { seed: 9, systems: Some(12), ships: Some(0), colonies: Some(0), resting_orders: 0 },
        );
        let p = player(&mut app, "Grower", 0);
        let cap = population_cap(&t, &get::<Buildings>(&app, p.colony).expect("buildings"));
        let start = get::<Colony>(&app, p.colony).expect("colony").population;
        let last_changed = |app: &mut App| {
            let e = entity(app, p.colony);
            app.world_mut().query::<Ref<Colony>>().get(app.world(), e).expect("colony").last_changed()
        };
        let mut changed_at = Vec::new();
        let mut stamp = last_changed(&mut app);
        for n in 1..=400u32 {
            tick(&mut app, 1);
            let now = last_changed(&mut app);
            let pop = get::<Colony>(&app, p.colony).expect("colony").population;
            if now != stamp {
                changed_at.push(n);
                stamp = now;
                let steps = changed_at.len() as u32;
                assert_eq!(
                    pop,
                    grown_every_tick(start, cap, t.economy.population_growth, steps * step),
                    "step {step}: after {steps} steps the colony holds {steps}×{step} ticks of growth"
                );
            } else {
                let before = if changed_at.is_empty() {
                    start
                } else {
                    grown_every_tick(start, cap, t.economy.population_growth, changed_at.len() as u32 * step)
                };
                assert_eq!(pop, before, "step {step}: tick {n} changed nothing, so the population stays");
            }
        }
        assert!(
            changed_at.len() as u32 >= 400 / step && changed_at.len() as u32 <= 400 / step + 1,
            "step {step}: one change per step: {changed_at:?}"
        );
        assert!(changed_at.windows(2).all(|w| w[1] - w[0] == step), "step {step}: evenly spaced: {changed_at:?}");
    }
}

#[test]
fn zero_growth_keeps_the_population() {
    let mut t = Tuning::default();
    t.economy.population_growth = 0.0;
    t.economy.population_step_ticks = 1;
    let mut app =
        sim_app(t, &GenParams { seed: 9, systems: Some(12), ships: Some(0), colonies: Some(0), resting_orders: 0 });
    let p = player(&mut app, "Still", 0);
    let start = get::<Colony>(&app, p.colony).expect("colony").population;
    tick(&mut app, 50);
    assert_eq!(get::<Colony>(&app, p.colony).expect("colony").population, start);
}

#[test]
fn colonies_grow_on_ticks_staggered_by_their_id() {
    let mut t = Tuning::default();
    t.economy.population_step_ticks = 50;
    let mut app =
        sim_app(t, &GenParams { seed: 9, systems: Some(12), ships: Some(0), colonies: Some(0), resting_orders: 0 });
    let p = player(&mut app, "Stagger", 0);
    let mut colonies = vec![p.colony];
    for i in 1..3 {
        let world = app.world_mut();
        let c = starforge_systems::spawn::spawn_colony(
            world,
            p.empire,
            format!("C{i}"),
            SystemId(0),
            i,
            500 * MILLI,
            Buildings::default(),
        );
        colonies.push(c);
    }
    let phases: Vec<u64> = colonies.iter().map(|c| c.0 % 50).collect();
    assert!(phases[0] != phases[1] || phases[0] != phases[2], "ids in different phases: {colonies:?}");
    let mut changed_at: Vec<Vec<u64>> = vec![Vec::new(); colonies.len()];
    let mut before: Vec<i64> = colonies.iter().map(|c| get::<Colony>(&app, *c).expect("colony").population).collect();
    for _ in 0..200 {
        // Production runs before the tick counter advances: it sees the tick before the count.
        let seen = app.world().resource::<SimTick>().0;
        tick(&mut app, 1);
        for (k, c) in colonies.iter().enumerate() {
            let now = get::<Colony>(&app, *c).expect("colony").population;
            if now != before[k] {
                changed_at[k].push(seen);
                before[k] = now;
            }
        }
    }
    for (k, c) in colonies.iter().enumerate() {
        assert_eq!(changed_at[k].len(), 4, "colony {c:?} grew once per 50 ticks: {:?}", changed_at[k]);
        assert!(
            changed_at[k].iter().all(|t| (t + c.0) % 50 == 0),
            "colony {c:?} on its own phase: {:?}",
            changed_at[k]
        );
    }
}
