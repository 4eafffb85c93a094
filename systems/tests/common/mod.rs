//! Shared helpers for the systems tests: a minimal headless app that runs ticks directly.

#![allow(dead_code, reason = "each test file uses a different subset")]

use bevy_app::prelude::*;
use bevy_app::FixedMain;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;
use starforge_systems::prelude::*;

/// An app with the whole simulation and a generated world.
pub fn sim_app(tuning: Tuning, params: &GenParams) -> App {
    let mut app = App::new();
    app.insert_resource(tuning);
    app.add_plugins(SimulationPlugin);
    app.finish();
    app.cleanup();
    generate_world(app.world_mut(), params);
    app
}

/// An app with the whole simulation and an empty galaxy (tests build what they need).
pub fn empty_app(tuning: Tuning) -> App {
    let mut app = App::new();
    app.insert_resource(tuning);
    app.add_plugins(SimulationPlugin);
    app.finish();
    app.cleanup();
    app
}

/// Runs `n` fixed ticks.
pub fn tick(app: &mut App, n: u32) {
    for _ in 0..n {
        app.world_mut().run_schedule(FixedMain);
    }
}

/// Queues an intent for the next tick.
pub fn push(app: &mut App, empire: EntityId, client_ref: u64, intent: Intent) {
    app.world_mut().resource_mut::<IntentQueue>().0.push(QueuedIntent { empire, client_ref, intent });
}

/// Messages of type `M` written since the last call for this reader.
pub fn drain<M: Message + Clone>(app: &mut App) -> Vec<M> {
    let mut cursor = app.world_mut().resource_mut::<Messages<M>>().get_cursor();
    let messages = app.world().resource::<Messages<M>>();
    cursor.read(messages).cloned().collect()
}
