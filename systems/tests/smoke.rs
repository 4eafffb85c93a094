//! A generated galaxy runs: every system does something within a few hundred ticks.

mod common;

use common::*;
use starforge_components::prelude::*;
use starforge_systems::prelude::*;

#[test]
fn generated_galaxy_runs_and_every_system_acts() {
    let mut app = sim_app(
        Tuning::default(),
        &GenParams { seed: 7, systems: Some(40), ships: Some(2000), colonies: Some(100), resting_orders: 600 },
    );
    tick(&mut app, 2000);
    let stats = *app.world().resource::<SimStats>();
    println!("{stats:?}");
    assert_eq!(app.world().resource::<SimTick>().0, 2000);
    assert!(stats.jumps > 0, "NPC fleets should jump: {stats:?}");
    assert!(stats.shots > 0, "pirates should fight: {stats:?}");
    assert!(stats.ships_destroyed > 0, "combat should destroy ships: {stats:?}");
    assert!(stats.intents_accepted > 0, "NPC intents should apply: {stats:?}");
    assert!(stats.buildings_completed > 0, "NPCs should build: {stats:?}");
    assert!(stats.battles > 0, "engagements should end with reports: {stats:?}");
    assert!(stats.trades > 0, "NPC traders should trade on the exchange: {stats:?}");
}
