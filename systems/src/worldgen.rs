//! Galaxy and world generation from a seed (placeholder body until the generator lands).

use bevy_ecs::prelude::*;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenParams {
    /// World seed; every random stream derives from it.
    pub seed: u64,
    /// Star systems (default: `tuning.world.systems`).
    pub systems: Option<u32>,
    /// Total ships, NPC and otherwise (default: from `tuning.npc` densities).
    pub ships: Option<u32>,
    /// Colonies (default: from `tuning.npc.colonies_per_system`).
    pub colonies: Option<u32>,
    /// Resting market orders to seed the exchange with.
    pub resting_orders: u32,
}

/// Generates a galaxy and populates `world` (which must hold the `Tuning` resource and have
/// had `SimulationPlugin` built into its app).
pub fn generate_world(world: &mut World, params: &GenParams) {
    let _ = (world, params);
}
