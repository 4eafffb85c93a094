//! Simulation-wide state: the tick, the seed, the ledger of created/destroyed value, counters.

use bevy_ecs::prelude::*;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The current simulation tick (incremented once per fixed tick, at its end).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SimTick(pub u64);

/// The world seed; every random stream derives from it.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorldSeed(pub u64);

/// Where value enters and leaves the economy, in milli-units, per kind.
///
/// Index 0 is credits, 1..=4 are resources in [`crate::empire::ResourceKind::ALL`] order.
/// Conservation invariant: for every kind, `held now == held at generation + created − destroyed`,
/// where "held" counts empires, escrow in open orders and ship cargo.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ledger {
    /// Value created by production (taxes, buildings, population growth) and salvage.
    pub created: [i64; 5],
    /// Value destroyed by fees, upkeep, and building costs.
    pub destroyed: [i64; 5],
}

impl Ledger {
    /// Index of credits in the ledger arrays.
    pub const CREDITS: usize = 0;
    /// Index of a resource in the ledger arrays.
    pub fn resource(r: crate::empire::ResourceKind) -> usize {
        1 + r.index()
    }
}

/// Cumulative counters for logs and metrics (monotonic; readers take differences).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SimStats {
    /// Combat reports emitted (engagements ended).
    pub battles: u64,
    /// Shots fired.
    pub shots: u64,
    /// Ships destroyed.
    pub ships_destroyed: u64,
    /// Ships launched by shipyards.
    pub ships_built: u64,
    /// Buildings completed.
    pub buildings_completed: u64,
    /// Trades executed.
    pub trades: u64,
    /// Intents applied.
    pub intents_accepted: u64,
    /// Intents rejected.
    pub intents_rejected: u64,
    /// Hyperlane jumps completed.
    pub jumps: u64,
}

/// An ongoing engagement in one system.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Engagement {
    /// First tick with a shot.
    pub started: u64,
    /// Last tick with a shot.
    pub last_shot: u64,
    /// Shots fired.
    pub shots: u32,
    /// Empires involved.
    pub participants: BTreeMap<crate::ids::EntityId, ()>,
    /// Ships lost per empire.
    pub losses: BTreeMap<crate::ids::EntityId, u32>,
    /// Kills per empire.
    pub kills: BTreeMap<crate::ids::EntityId, u32>,
}

/// Ongoing engagements by system.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Engagements(pub BTreeMap<crate::ids::SystemId, Engagement>);
