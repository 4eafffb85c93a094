//! Messages (Bevy events) the simulation emits. Names are past tense.

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::colony::BuildingKind;
use crate::empire::ResourceKind;
use crate::ids::{EntityId, SystemId};
use crate::intent::RejectReason;
use crate::ship::ShipClass;

/// An intent was rejected; the issuer should be told why.
#[derive(Message, Clone, Debug, PartialEq, Serialize)]
pub struct IntentRejected {
    /// The issuing empire.
    pub empire: EntityId,
    /// The issuer's reference.
    pub client_ref: u64,
    /// Why.
    pub reason: RejectReason,
}

/// An intent was applied.
#[derive(Message, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentAccepted {
    /// The issuing empire.
    pub empire: EntityId,
    /// The issuer's reference.
    pub client_ref: u64,
    /// The entity it created, if any (a market order).
    pub created: Option<EntityId>,
}

/// One engagement in one system ended (no shots for a while): who fought, what was lost.
#[derive(Message, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CombatReport {
    /// Where.
    pub system: SystemId,
    /// First tick with a shot.
    pub started: u64,
    /// Last tick with a shot.
    pub ended: u64,
    /// Empires that fired or were hit, sorted.
    pub participants: Vec<EntityId>,
    /// Shots fired.
    pub shots: u32,
    /// Ships lost per empire, sorted by empire.
    pub losses: Vec<(EntityId, u32)>,
    /// The empire with the most kills, if any ship was lost.
    pub victor: Option<EntityId>,
}

/// A ship was destroyed.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipDestroyed {
    /// The ship.
    pub ship: EntityId,
    /// Its owner.
    pub owner: EntityId,
    /// The empire whose shot destroyed it.
    pub by: EntityId,
    /// Where.
    pub system: SystemId,
}

/// A building finished.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstructionCompleted {
    /// The colony.
    pub colony: EntityId,
    /// Its owner.
    pub owner: EntityId,
    /// Which building.
    pub building: BuildingKind,
    /// Its new level.
    pub level: u8,
}

/// A shipyard launched a ship.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipBuilt {
    /// The new ship.
    pub ship: EntityId,
    /// The fleet it joined.
    pub fleet: EntityId,
    /// The colony whose shipyard built it.
    pub colony: EntityId,
    /// Its owner.
    pub owner: EntityId,
    /// Its class.
    pub class: ShipClass,
}

/// Two orders matched on the exchange.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeExecuted {
    /// Traded resource.
    pub resource: ResourceKind,
    /// Price in milli-credits per unit (the resting order's price).
    pub price: i64,
    /// Whole units traded.
    pub quantity: i64,
    /// Buying empire.
    pub buyer: EntityId,
    /// Selling empire.
    pub seller: EntityId,
    /// The buy order.
    pub buy_order: EntityId,
    /// The sell order.
    pub sell_order: EntityId,
    /// Fee paid by the seller (milli-credits), destroyed.
    pub fee: i64,
    /// Tick of the trade.
    pub tick: u64,
}

/// An order left the book without filling completely.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderClosed {
    /// The order.
    pub order: EntityId,
    /// Its owner.
    pub owner: EntityId,
    /// Why it closed.
    pub why: OrderCloseReason,
    /// Units that were still open (refunded from escrow).
    pub unfilled: i64,
}

/// Why an order closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderCloseReason {
    /// Its owner cancelled it.
    Cancelled,
    /// It reached its expiry tick.
    Expired,
}
