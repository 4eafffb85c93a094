//! Intents and commands from empires, queued for the Input set, and why one is rejected.

use std::fmt;

use bevy_ecs::prelude::*;
use glam::Vec2;
use serde::{Deserialize, Serialize};

use crate::colony::BuildingKind;
use crate::empire::Resource;
use crate::ids::{EntityId, SystemId};
use crate::market::Side;
use crate::ship::ShipClass;

/// A fleet order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FleetOrder {
    /// Fly to a point in the fleet's current system.
    MoveTo {
        /// Destination in local space.
        point: Vec2,
    },
    /// Travel along hyperlanes to another system (shortest path).
    Jump {
        /// Destination system.
        destination: SystemId,
    },
    /// Engage a ship.
    Attack {
        /// The ship to attack.
        target: EntityId,
    },
    /// Fly between waypoints in a loop.
    Patrol {
        /// Two to eight waypoints in the current system.
        points: Vec<Vec2>,
    },
    /// Halt and hold position.
    Stop,
}

/// Something an empire asks the simulation to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Intent {
    /// Manual flight of one ship for this tick.
    Pilot {
        /// The ship.
        ship: EntityId,
        /// Throttle in [-1, 1].
        thrust: f32,
        /// Turn in [-1, 1] of the class's turn rate.
        turn: f32,
        /// Fire at the best target in range.
        fire: bool,
    },
    /// An order to every ship of a fleet.
    Fleet {
        /// The fleet.
        fleet: EntityId,
        /// The order.
        order: FleetOrder,
    },
    /// Build a building (level 1) at a colony.
    Build {
        /// The colony.
        colony: EntityId,
        /// What to build.
        building: BuildingKind,
    },
    /// Raise an existing building by one level.
    Upgrade {
        /// The colony.
        colony: EntityId,
        /// Which building.
        building: BuildingKind,
    },
    /// Queue a ship at a colony's shipyard.
    QueueShip {
        /// The colony (needs a shipyard).
        colony: EntityId,
        /// Class to build.
        class: ShipClass,
        /// Fleet to join (a new fleet when `None`).
        fleet: Option<EntityId>,
    },
    /// Place a limit order on the galactic exchange.
    PlaceOrder {
        /// Traded resource.
        resource: Resource,
        /// Buy or sell.
        side: Side,
        /// Limit price in milli-credits per unit.
        price: i64,
        /// Whole units.
        quantity: i64,
        /// Ticks until expiry (`None` = tuning default).
        expires_in: Option<u32>,
    },
    /// Cancel one of the empire's resting orders.
    CancelOrder {
        /// The order.
        order: EntityId,
    },
}

/// One intent with its issuer, in queue order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedIntent {
    /// The empire issuing it (for players, the player id).
    pub empire: EntityId,
    /// An id chosen by the issuer, echoed back in the result.
    pub client_ref: u64,
    /// What it asks for.
    pub intent: Intent,
}

/// Intents to apply at the start of the next tick, in order. The network (and NPC brains,
/// and tests) push here; the Input set drains it.
#[derive(Resource, Clone, Debug, Default)]
pub struct IntentQueue(pub Vec<QueuedIntent>);

/// Why an intent was rejected. `Display` gives a sentence a client can show.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RejectReason {
    /// The issuing empire does not exist.
    UnknownEmpire,
    /// The referenced thing does not exist (or no longer does).
    NotFound {
        /// What kind of thing: "ship", "fleet", "colony", "order", "system", "target".
        what: &'static str,
        /// Its id.
        id: u64,
    },
    /// The referenced thing belongs to another empire.
    NotOwner {
        /// What kind of thing.
        what: &'static str,
    },
    /// A field is out of range or not a number.
    InvalidValue {
        /// Which field.
        field: &'static str,
        /// What is allowed.
        expected: &'static str,
    },
    /// No hyperlane path leads there.
    Unreachable,
    /// The ships are between systems and cannot take this order now.
    InTransit,
    /// The target is not in the fleet's system.
    TargetNotInSystem,
    /// Not enough credits or resources (milli-units).
    CannotAfford {
        /// What is short.
        what: &'static str,
        /// Needed amount.
        needed: i64,
        /// Available amount.
        available: i64,
    },
    /// The building already exists (use Upgrade).
    AlreadyBuilt,
    /// The building does not exist yet (use Build).
    NotBuilt,
    /// The building is at its maximum level.
    MaxLevel,
    /// The colony has no shipyard.
    NoShipyard,
    /// A queue or open-order limit is reached.
    LimitReached {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u32,
    },
    /// This resource has no order book.
    NotTraded,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownEmpire => write!(f, "your empire does not exist"),
            Self::NotFound { what, id } => write!(f, "no {what} with id {id}"),
            Self::NotOwner { what } => write!(f, "that {what} is not yours"),
            Self::InvalidValue { field, expected } => write!(f, "{field} must be {expected}"),
            Self::Unreachable => write!(f, "no hyperlane route leads there"),
            Self::InTransit => write!(f, "the fleet is in hyperspace; wait until it arrives"),
            Self::TargetNotInSystem => write!(f, "the target is not in the fleet's system"),
            Self::CannotAfford { what, needed, available } => write!(
                f,
                "not enough {what}: need {:.3}, have {:.3}",
                *needed as f64 / 1000.0,
                *available as f64 / 1000.0
            ),
            Self::AlreadyBuilt => write!(f, "already built; upgrade it instead"),
            Self::NotBuilt => write!(f, "not built yet; build it first"),
            Self::MaxLevel => write!(f, "already at its maximum level"),
            Self::NoShipyard => write!(f, "this colony has no shipyard"),
            Self::LimitReached { what, limit } => write!(f, "{what} limit of {limit} reached"),
            Self::NotTraded => write!(f, "that resource is not traded on the exchange"),
        }
    }
}
