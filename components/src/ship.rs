//! Ships, fleets and their orders.

use std::sync::Arc;

use bevy_ecs::prelude::*;
use glam::Vec2;
use serde::{Deserialize, Serialize};

use crate::empire::{EmpireKind, ResourceAmounts};
use crate::ids::{EntityId, SystemId};

/// Hull class. Stats per class come from `tuning/ships.ron`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ShipClass {
    /// Fast, fragile, cheap.
    Fighter,
    /// Light escort.
    Corvette,
    /// Line ship.
    Cruiser,
    /// Capital ship.
    Battleship,
    /// Hauler: big cargo, weak guns.
    Freighter,
}

impl ShipClass {
    /// All classes, in table order.
    pub const ALL: [ShipClass; 5] =
        [ShipClass::Fighter, ShipClass::Corvette, ShipClass::Cruiser, ShipClass::Battleship, ShipClass::Freighter];
    /// Index into per-class tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Marks a ship and names its class.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ship {
    /// Its class.
    pub class: ShipClass,
}

/// The empire that owns a ship, fleet or colony.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Owner(pub EntityId);

/// Where something is: a star system and a point in its local 2D space (metres).
#[derive(Component, Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The star system.
    pub system: SystemId,
    /// Local position inside the system.
    pub local: Vec2,
}

/// Velocity (m/s) and heading (radians, 0 = +x, counter-clockwise).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Motion {
    /// Velocity in the system's local space.
    pub vel: Vec2,
    /// Facing.
    pub heading: f32,
}

/// Remaining hull points; the ship is destroyed at zero.
#[derive(Component, Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hull(pub f32);

/// Weapon state. Stored as the tick the guns are ready again (not a countdown), so an idle
/// ship's weapon is never written to and never shows up as changed.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Weapon {
    /// First tick at which the guns may fire again.
    pub ready_tick: u64,
}

/// Goods carried, in milli-units.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cargo(pub ResourceAmounts);

/// The fleet a ship belongs to.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FleetMember(pub EntityId);

/// A ship travelling along a hyperlane; it is outside any system's space until it arrives.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transit {
    /// Destination system.
    pub to: SystemId,
    /// Ticks until arrival.
    pub ticks_left: u32,
}

/// What a ship is doing. Set by fleet orders, pilot intents and NPC brains.
#[derive(Component, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum ShipOrder {
    /// Drift to a halt and hold position; fire at hostiles in range.
    #[default]
    Idle,
    /// Manual flight from pilot intents: throttle and turn in [-1, 1]; guns only when `fire`.
    /// Lasts until tick `until` (a few ticks: clients send pilot intents every tick).
    Manual {
        /// Throttle along the heading, -1 (full reverse) to 1 (full ahead).
        thrust: f32,
        /// Turn rate as a fraction of the class cap; positive = counter-clockwise.
        turn: f32,
        /// Whether the guns may fire.
        fire: bool,
        /// Tick from which this input no longer applies (the ship then holds position): a
        /// client that stops sending pilot intents, or disconnects, does not leave its ship
        /// flying in circles forever.
        until: u64,
    },
    /// Fly to a point in the current system and stop there.
    MoveTo(Vec2),
    /// Follow hyperlanes.
    Jump {
        /// The remaining systems to visit, next first (never empty). Shared: the ships of a
        /// fleet hold one route, and copying an order (persistence) costs no allocation.
        path: Arc<[SystemId]>,
        /// `path[0]`, kept inline: the movement hot loop reads it every tick and should not
        /// chase the heap pointer of every travelling ship.
        next: SystemId,
    },
    /// Close to weapon range of this target and fire at it.
    Attack(EntityId),
    /// Fly between these points in a loop.
    Patrol {
        /// Waypoints in the current system (at least one); shared like a jump's path.
        points: Arc<[Vec2]>,
        /// Index of the waypoint being flown to.
        next: usize,
        /// `points[next]`, kept inline: the movement hot loop reads it every tick and
        /// should not chase the heap pointer of every patrolling ship.
        goal: Vec2,
    },
}

impl ShipOrder {
    /// A jump order along `path` (`Idle` if the path is empty).
    pub fn jump(path: impl Into<Arc<[SystemId]>>) -> ShipOrder {
        let path = path.into();
        match path.first() {
            Some(&next) => ShipOrder::Jump { path, next },
            None => ShipOrder::Idle,
        }
    }

    /// A patrol order starting at the first waypoint (`Idle` if there is none).
    pub fn patrol(points: impl Into<Arc<[Vec2]>>) -> ShipOrder {
        let points = points.into();
        match points.first() {
            Some(&goal) => ShipOrder::Patrol { points, next: 0, goal },
            None => ShipOrder::Idle,
        }
    }
}

/// The ship currently being fired at, if any (runtime state, recomputed after a restore).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Target(pub Option<(EntityId, Entity)>);

/// Which side a ship fights for: a copy of its owner's [`EmpireKind`], kept on the ship so
/// hostility checks in the hot loops need no lookup. Owners never change.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Allegiance(pub EmpireKind);

/// The spatial-grid cell a ship is filed under (runtime state of the spatial index).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GridCell {
    /// The cell's key, `None` while not filed (new, or in hyperspace).
    pub key: Option<u64>,
    /// Whether that cell overlaps an obstacle (so a move inside it needs a contact check).
    pub near_obstacle: bool,
}

/// A group of ships that takes orders together.
#[derive(Component, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fleet {
    /// Members, sorted by id.
    pub ships: Vec<EntityId>,
}
