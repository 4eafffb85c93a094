//! The tick's schedule has no system-order ambiguities.

use bevy_app::prelude::*;
use bevy_ecs::schedule::{LogLevel, ScheduleBuildSettings};
use starforge_components::prelude::*;
use starforge_systems::prelude::*;

#[test]
fn fixed_update_has_no_ambiguities() {
    let mut app = App::new();
    app.insert_resource(Tuning::default());
    app.add_plugins(SimulationPlugin);
    app.edit_schedule(FixedUpdate, |s| {
        s.set_build_settings(ScheduleBuildSettings { ambiguity_detection: LogLevel::Error, ..Default::default() });
    });
    app.finish();
    app.cleanup();
    let world = app.world_mut();
    let result = world.schedule_scope(FixedUpdate, |world, schedule| schedule.initialize(world));
    if let Err(e) = result {
        panic!("FixedUpdate has ambiguities: {e}");
    }
}

#[test]
fn the_check_catches_an_ambiguity() {
    use bevy_ecs::prelude::*;
    fn a(mut t: ResMut<SimTick>) {
        t.0 += 1;
    }
    fn b(mut t: ResMut<SimTick>) {
        t.0 += 2;
    }
    let mut app = App::new();
    app.insert_resource(Tuning::default());
    app.add_plugins(SimulationPlugin);
    app.add_systems(FixedUpdate, (a, b).in_set(SimSystems::Market));
    app.edit_schedule(FixedUpdate, |s| {
        s.set_build_settings(ScheduleBuildSettings { ambiguity_detection: LogLevel::Error, ..Default::default() });
    });
    let world = app.world_mut();
    let result = world.schedule_scope(FixedUpdate, |world, schedule| schedule.initialize(world));
    assert!(result.is_err(), "two unordered writers of one resource must be reported");
}
