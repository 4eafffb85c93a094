//! Starforge data: ECS components, resources, messages (events) and tuning structs.
//!
//! Data only: no game rules (those are in `starforge-systems`) and no I/O.

pub mod colony;
pub mod empire;
pub mod events;
pub mod galaxy;
pub mod ids;
pub mod intent;
pub mod market;
pub mod placement;
pub mod ship;
pub mod sim;
pub mod tuning;

/// The commonly used types.
pub mod prelude {
    pub use crate::colony::{
        BuildingKind, Buildings, Colony, ConstructionJob, ConstructionQueue, ShipJob, ShipyardQueue,
    };
    pub use crate::empire::{
        Credits, Empire, EmpireKind, Faction, MILLI, NpcBrain, ResourceAmounts, ResourceKind, ShipCensus, Stockpile,
    };
    pub use crate::events::{
        CombatReport, ConstructionCompleted, IntentAccepted, IntentRejected, OrderCloseReason, OrderClosed, ShipBuilt,
        ShipDestroyed, TradeExecuted,
    };
    pub use crate::galaxy::{Galaxy, Hyperlane, Planet, Region, StarSystem};
    pub use crate::ids::{EntityId, EntityIndex, IdAllocator, SystemId};
    pub use crate::intent::{FleetOrder, Intent, IntentQueue, QueuedIntent, RejectReason};
    pub use crate::market::{Market, MarketOrder, MarketStats, OrderBook, Side, Ticker};
    pub use crate::ship::{
        Allegiance, Cargo, Fleet, FleetMember, GridCell, Hull, Motion, Owner, Position, Ship, ShipClass, ShipOrder,
        Target, Transit, Weapon,
    };
    pub use crate::sim::{Engagement, Engagements, Ledger, SimStats, SimTick, WorldSeed};
    pub use crate::tuning::Tuning;
}
