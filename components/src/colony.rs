//! Colonies on planets: population, buildings, construction and shipyard queues.

use std::collections::VecDeque;
use std::sync::Arc;

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ids::{EntityId, SystemId};
use crate::ship::ShipClass;

/// A kind of building. Levels start at 0 (not built).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BuildingKind {
    /// Produces minerals.
    Mine,
    /// Produces energy.
    PowerPlant,
    /// Produces rare elements.
    RareExtractor,
    /// Raises the population cap.
    Habitat,
    /// Builds ships; needed for the shipyard queue.
    Shipyard,
    /// Raises the colony's output of every resource.
    ResearchLab,
}

impl BuildingKind {
    /// All buildings in table order.
    pub const ALL: [BuildingKind; 6] = [
        BuildingKind::Mine,
        BuildingKind::PowerPlant,
        BuildingKind::RareExtractor,
        BuildingKind::Habitat,
        BuildingKind::Shipyard,
        BuildingKind::ResearchLab,
    ];
    /// Index into per-building tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A colony on a planet.
#[derive(Component, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Colony {
    /// Display name (never changes; shared, so copying a colony costs no allocation).
    pub name: Arc<str>,
    /// Its star system.
    pub system: SystemId,
    /// Index of its planet in the system's planet list.
    pub planet: u32,
    /// Population in milli-people.
    pub population: i64,
}

/// Building levels, indexed by [`BuildingKind::index`].
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Buildings(pub [u8; 6]);

impl Buildings {
    /// Level of `kind` (0 = not built).
    pub fn level(&self, kind: BuildingKind) -> u8 {
        self.0[kind.index()]
    }
}

/// A building under construction (its cost was paid when it was queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConstructionJob {
    /// What is being built.
    pub building: BuildingKind,
    /// The level it will have when done.
    pub target_level: u8,
    /// Ticks left.
    pub ticks_left: u32,
}

/// Construction queue: the head job progresses; the rest wait.
#[derive(Component, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConstructionQueue(pub VecDeque<ConstructionJob>);

/// A ship being built (its cost was paid when it was queued).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShipJob {
    /// Class of the ship.
    pub class: ShipClass,
    /// Ticks left.
    pub ticks_left: u32,
    /// Fleet the new ship joins (a new fleet when `None`).
    pub fleet: Option<EntityId>,
}

/// Shipyard queue: the head job progresses; the rest wait.
#[derive(Component, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShipyardQueue(pub VecDeque<ShipJob>);
