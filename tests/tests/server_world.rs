//! The assembled server: a designer's tuning folder shapes the generated world, and the
//! server app is deterministic.

use bevy_app::FixedMain;
use starforge_components::prelude::*;
use starforge_server::{ServerConfig, build_app, read_tuning_dir};
use starforge_systems::prelude::*;
use starforge_tests::TuningCopy;

fn config(seed: u64) -> ServerConfig {
    ServerConfig::try_from_args([
        "starforge",
        "--seed",
        &seed.to_string(),
        "--systems",
        "25",
        "--resting-orders",
        "300",
    ])
    .expect("valid flags")
}

#[test]
fn a_designers_tuning_folder_shapes_the_world() {
    let copy = TuningCopy::new("shape").expect("temp tuning dir");
    copy.edit("npc.ron", "pirate_fleets_per_system: 0.6", "pirate_fleets_per_system: 0.0").expect("edit");
    copy.edit("npc.ron", "fleet_size_min: 2", "fleet_size_min: 1").expect("edit");
    copy.edit("npc.ron", "fleet_size_max: 6", "fleet_size_max: 1").expect("edit");
    let tuning = read_tuning_dir(&copy.dir).expect("edited tuning is valid");
    let mut app = build_app(&config(3), tuning);
    let world = app.world_mut();
    assert_eq!(world.resource::<Galaxy>().systems.len(), 25, "--systems sets the galaxy size");
    let mut ships = world.query::<&Allegiance>();
    let pirates = ships.iter(world).filter(|a| a.0 == EmpireKind::Npc(Faction::Pirates)).count();
    assert_eq!(pirates, 0, "no pirate fleets when their density is 0");
    let mut fleets = world.query::<(&Fleet, &NpcBrain)>();
    assert!(fleets.iter(world).count() > 0, "other NPC fleets exist");
    for (f, _) in fleets.iter(world) {
        assert_eq!(f.ships.len(), 1, "fleet size is tuned to exactly 1");
    }
    assert_eq!(world.resource::<Market>().resting(), 300, "--resting-orders seeds the exchange");
}

#[test]
fn an_invalid_tuning_folder_is_refused_with_the_file_and_field() {
    let copy = TuningCopy::new("invalid").expect("temp tuning dir");
    copy.edit("ships.ron", "max_speed: 300.0", "max_speed: -300.0").expect("edit");
    let err = read_tuning_dir(&copy.dir).expect_err("negative speed must be refused").to_string();
    assert!(err.contains("ships.ron") && err.contains("max_speed"), "error names file and field: {err}");
}

#[test]
fn two_server_apps_with_one_seed_stay_identical() {
    let run = |seed| {
        let mut app = build_app(&config(seed), Tuning::default());
        for _ in 0..600 {
            app.world_mut().run_schedule(FixedMain);
        }
        (world_hash(app.world_mut()), app.world().resource::<SimStats>().shots)
    };
    let (a, shots) = run(8);
    assert!(shots > 0, "the run should include combat");
    assert_eq!(a, run(8).0, "same seed, same world");
    assert_ne!(a, run(9).0, "other seed, other world");
}
