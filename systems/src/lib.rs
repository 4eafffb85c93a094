//! Starforge game rules: one Bevy plugin per concern, all in `FixedUpdate`.
//!
//! The tick is one chain of [`SimSystems`]; [`SimulationPlugin`] configures it once and adds
//! every concern's plugin. Nothing here does I/O: no sockets, no files, no clock.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;

pub mod combat;
pub mod economy;
pub mod hash;
pub mod input;
pub mod market;
pub mod movement;
pub mod navigation;
pub mod npc;
pub mod obstacles;
pub mod production;
pub mod rng;
pub mod spatial;
pub mod spawn;
pub mod worldgen;

/// The phases of one simulation tick, run in this order in `FixedUpdate`.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimSystems {
    /// NPC brains decide, then queued intents and commands are validated and applied (`FixedUpdate`).
    Input,
    /// Thrust, steering, hyperlane jumps, collisions, the spatial index (`FixedUpdate`).
    Movement,
    /// Targeting, firing, damage, destruction, salvage, combat reports (`FixedUpdate`).
    Combat,
    /// Colonies, buildings, population, construction and shipyard queues, upkeep (`FixedUpdate`).
    Production,
    /// Order matching, settlement, expiry, tickers (`FixedUpdate`).
    Market,
    /// Despawns, counters and the tick counter (`FixedUpdate`).
    Bookkeeping,
}

/// Adds the whole simulation: resources, messages, the ordered sets and every rules plugin.
///
/// Needs `Tuning` (or inserts the shipped default) and runs in `FixedUpdate`, so an app
/// needs `bevy_time::TimePlugin` for the tick to advance (or runs `FixedMain` directly).
pub struct SimulationPlugin;

impl Plugin for SimulationPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            FixedUpdate,
            (
                SimSystems::Input,
                SimSystems::Movement,
                SimSystems::Combat,
                SimSystems::Production,
                SimSystems::Market,
                SimSystems::Bookkeeping,
            )
                .chain(),
        );
        let tuning = app.world_mut().get_resource_or_init::<Tuning>().clone();
        app.init_resource::<SimTick>()
            .init_resource::<WorldSeed>()
            .init_resource::<IdAllocator>()
            .init_resource::<EntityIndex>()
            .init_resource::<Ledger>()
            .init_resource::<SimStats>()
            .init_resource::<Galaxy>()
            .insert_resource(spatial::SpatialGrid::new(tuning.world.grid_cell_size));
        app.add_plugins((
            npc::NpcPlugin,
            input::InputPlugin,
            movement::MovementPlugin,
            obstacles::ObstaclePlugin,
            combat::CombatPlugin,
            production::ProductionPlugin,
            market::MarketPlugin,
        ));
        app.add_systems(FixedUpdate, advance_tick.in_set(SimSystems::Bookkeeping));
    }
}

/// Ends the tick: the tick counter advances.
pub fn advance_tick(mut tick: ResMut<SimTick>) {
    tick.0 += 1;
}

/// The commonly used items of this crate.
pub mod prelude {
    pub use crate::hash::world_hash;
    pub use crate::worldgen::{GenParams, generate_world};
    pub use crate::{SimSystems, SimulationPlugin};
}
