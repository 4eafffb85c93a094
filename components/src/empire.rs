//! Empires (players and NPC factions) and what they own: credits and a stockpile.

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

/// Fixed-point scale of every amount in the economy: 1 unit (or credit) = 1000 milli.
///
/// Integer amounts make conservation exact: nothing is created or lost by rounding.
pub const MILLI: i64 = 1000;

/// A tradeable or stockpiled resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    /// Powers ships and buildings (upkeep is paid in energy).
    Energy,
    /// Bulk construction material.
    Minerals,
    /// Scarce material for advanced hulls and buildings.
    RareElements,
    /// Colonists (stockpiled, not traded on the exchange).
    Population,
}

impl ResourceKind {
    /// All resources in table order.
    pub const ALL: [ResourceKind; 4] =
        [ResourceKind::Energy, ResourceKind::Minerals, ResourceKind::RareElements, ResourceKind::Population];
    /// The resources that have an order book on the galactic exchange.
    pub const TRADED: [ResourceKind; 3] = [ResourceKind::Energy, ResourceKind::Minerals, ResourceKind::RareElements];

    /// Index into per-resource tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// An amount of each resource, in milli-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceAmounts(pub [i64; 4]);

impl ResourceAmounts {
    /// Amount of `r`.
    pub fn get(&self, r: ResourceKind) -> i64 {
        self.0[r.index()]
    }
    /// Mutable amount of `r`.
    pub fn get_mut(&mut self, r: ResourceKind) -> &mut i64 {
        &mut self.0[r.index()]
    }
    /// True when every amount in `cost` is available here.
    pub fn covers(&self, cost: &ResourceAmounts) -> bool {
        self.0.iter().zip(cost.0.iter()).all(|(have, need)| have >= need)
    }
    /// Subtracts `cost`; the caller has checked [`covers`](Self::covers).
    pub fn subtract(&mut self, cost: &ResourceAmounts) {
        for (have, need) in self.0.iter_mut().zip(cost.0.iter()) {
            *have -= need;
        }
    }
    /// Adds `other`.
    pub fn add(&mut self, other: &ResourceAmounts) {
        for (have, more) in self.0.iter_mut().zip(other.0.iter()) {
            *have += more;
        }
    }
}

/// Which NPC faction an NPC empire plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Faction {
    /// Hunt anything that is not a pirate.
    Pirates,
    /// Colonise, produce, haul and trade on the exchange.
    Traders,
    /// Defend systems against pirates.
    Patrol,
}

/// Who plays an empire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EmpireKind {
    /// A human player (the player id is the empire's [`crate::ids::EntityId`]).
    Player,
    /// An NPC faction.
    Npc(Faction),
}

impl EmpireKind {
    /// Whether ships of these two (different) empires fight on sight.
    pub fn hostile_to(self, other: EmpireKind) -> bool {
        use EmpireKind::*;
        use Faction::*;
        match (self, other) {
            (Npc(Pirates), Npc(Pirates)) => false,
            (Npc(Pirates), _) | (_, Npc(Pirates)) => true,
            (Player, Player) => true,
            _ => false,
        }
    }
}

/// An empire: a player or an NPC faction.
#[derive(Component, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Empire {
    /// Display name.
    pub name: String,
    /// Player or NPC faction.
    pub kind: EmpireKind,
}

/// Credits, in milli-credits. Never negative.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Credits(pub i64);

/// The empire's stockpile of resources, in milli-units. Never negative.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stockpile(pub ResourceAmounts);

/// Ships an empire owns, per class (kept up to date at launch and destruction so upkeep
/// needs no scan over all ships).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShipCensus(pub [u32; 5]);

/// What an NPC fleet or empire brain remembers.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NpcBrain {
    /// The faction it plays.
    pub faction: Faction,
    /// Its home system.
    pub home: crate::ids::SystemId,
    /// Next tick it thinks.
    pub next_think: u64,
}
