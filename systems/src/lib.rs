//! Starforge game rules: one Bevy plugin per concern, all in `FixedUpdate`.
//!
//! The tick is one chain of [`SimSystems`]; [`SimulationPlugin`] configures it once and adds
//! every concern's plugin. Nothing here does I/O: no sockets, no files, no clock.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;

pub mod market;
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
        app.add_plugins(market::MarketPlugin);
    }
}
