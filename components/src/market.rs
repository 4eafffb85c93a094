//! The galactic exchange: one order book per traded resource, the incoming queue, tickers.
//!
//! Escrow: a buy order holds `price × quantity` milli-credits, a sell order holds
//! `quantity` units of its resource, both taken from the owner when the order is placed
//! (by the Input set) and released by fills, cancels and expiry (by the Market set).

use std::collections::{BTreeMap, HashMap};

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::empire::Resource;
use crate::ids::EntityId;

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    /// Bid: wants to buy at or below `price`.
    Buy,
    /// Ask: wants to sell at or above `price`.
    Sell,
}

/// A limit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarketOrder {
    /// Stable id (from the [`crate::ids::IdAllocator`]).
    pub id: EntityId,
    /// Owning empire.
    pub owner: EntityId,
    /// Traded resource.
    pub resource: Resource,
    /// Buy or sell.
    pub side: Side,
    /// Limit price, milli-credits per unit.
    pub price: i64,
    /// Units still open.
    pub quantity: i64,
    /// Tick it was placed (time priority; ties broken by `id`, which is allocation order).
    pub placed_tick: u64,
    /// Tick at which it expires if still open.
    pub expires_tick: u64,
}

/// Ticker of one resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ticker {
    /// Last trade price (milli-credits per unit).
    pub last: Option<i64>,
    /// Best bid.
    pub best_bid: Option<i64>,
    /// Best ask.
    pub best_ask: Option<i64>,
    /// Units traded within the ticker window.
    pub volume: i64,
}

/// Price-time ordered book of one resource.
#[derive(Clone, Debug, Default)]
pub struct OrderBook {
    /// Bids keyed by (−price, id): best (highest, then oldest) first.
    pub bids: BTreeMap<(i64, EntityId), MarketOrder>,
    /// Asks keyed by (price, id): best (lowest, then oldest) first.
    pub asks: BTreeMap<(i64, EntityId), MarketOrder>,
}

impl OrderBook {
    fn key(order: &MarketOrder) -> (i64, EntityId) {
        match order.side {
            Side::Buy => (-order.price, order.id),
            Side::Sell => (order.price, order.id),
        }
    }

    /// Rests an order in the book.
    pub fn insert(&mut self, order: MarketOrder) {
        let key = Self::key(&order);
        match order.side {
            Side::Buy => self.bids.insert(key, order),
            Side::Sell => self.asks.insert(key, order),
        };
    }

    /// Removes a resting order.
    pub fn remove(&mut self, order: &MarketOrder) -> Option<MarketOrder> {
        let key = Self::key(order);
        match order.side {
            Side::Buy => self.bids.remove(&key),
            Side::Sell => self.asks.remove(&key),
        }
    }

    /// Highest bid price.
    pub fn best_bid(&self) -> Option<i64> {
        self.bids.first_key_value().map(|(_, o)| o.price)
    }

    /// Lowest ask price.
    pub fn best_ask(&self) -> Option<i64> {
        self.asks.first_key_value().map(|(_, o)| o.price)
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.bids.len() + self.asks.len()
    }

    /// True when nothing rests.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The exchange.
#[derive(Resource, Clone, Debug, Default)]
pub struct Market {
    /// Books for [`Resource::TRADED`], by resource index.
    pub books: [OrderBook; 3],
    /// Orders placed this tick (escrow taken), matched by the Market set in this order.
    pub incoming: Vec<MarketOrder>,
    /// Tickers by resource index.
    pub tickers: [Ticker; 3],
    /// Where each resting order rests (id → resource/side/price), for cancel and expiry.
    index: HashMap<EntityId, MarketOrder>,
    /// Open (resting + incoming) orders per owner.
    open_per_owner: HashMap<EntityId, u32>,
    /// Expiry schedule: (tick, id).
    pub expiries: BTreeMap<(u64, EntityId), ()>,
}

impl Market {
    /// Book of a traded resource (`None` for population).
    pub fn book(&self, r: Resource) -> Option<&OrderBook> {
        self.books.get(r.index()).filter(|_| r != Resource::Population)
    }

    /// Queues an order (escrow already taken) for matching this tick.
    pub fn submit(&mut self, order: MarketOrder) {
        *self.open_per_owner.entry(order.owner).or_default() += 1;
        self.incoming.push(order);
    }

    /// Rests a (remaining) order in its book.
    pub fn rest(&mut self, order: MarketOrder) {
        self.index.insert(order.id, order);
        self.expiries.insert((order.expires_tick, order.id), ());
        self.books[order.resource.index()].insert(order);
    }

    /// A resting order by id.
    pub fn get(&self, id: EntityId) -> Option<&MarketOrder> {
        self.index.get(&id)
    }

    /// Removes a resting order (cancel, expiry or complete fill); the caller settles escrow.
    pub fn remove(&mut self, id: EntityId) -> Option<MarketOrder> {
        let order = self.index.remove(&id)?;
        self.expiries.remove(&(order.expires_tick, order.id));
        let removed = self.books[order.resource.index()].remove(&order);
        self.closed(order.owner);
        removed
    }

    /// Records that an order of `owner` is no longer open (filled before resting).
    pub fn closed(&mut self, owner: EntityId) {
        if let Some(n) = self.open_per_owner.get_mut(&owner) {
            *n -= 1;
            if *n == 0 {
                self.open_per_owner.remove(&owner);
            }
        }
    }

    /// Open orders of `owner` (resting and incoming).
    pub fn open_orders(&self, owner: EntityId) -> u32 {
        self.open_per_owner.get(&owner).copied().unwrap_or(0)
    }

    /// Number of resting orders in all books.
    pub fn resting(&self) -> usize {
        self.books.iter().map(OrderBook::len).sum()
    }
}
