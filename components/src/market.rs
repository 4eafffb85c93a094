//! The galactic exchange: one order book per traded resource, the incoming queue, tickers,
//! and the pure matching core (no ECS systems here; those live in `starforge-systems`).
//!
//! Escrow: a buy order holds `price × quantity` milli-credits, a sell order holds
//! `quantity × MILLI` milli-units of its resource, both taken from the owner when the order
//! is placed (by the Input set) and released by fills, cancels and expiry (by the Market set).
//! Whatever the core releases is reported as a [`MarketEvent`]; the caller settles it.
//!
//! Layout: orders live in a slab (`Vec` + free list); each price level is an intrusive
//! doubly linked FIFO through the slab; levels sit in one `BTreeMap<price, Level>` per side.
//! So placing, filling and cancelling cost one B-tree step per *level*, not per order, and a
//! cancel is O(log levels). Ids map to slab slots through a hash map that is only used for
//! point lookups (never iterated), so determinism does not depend on it.
//!
//! Self-trade prevention ("cancel resting"): when an incoming order reaches a resting order
//! of the same owner, the resting one is closed as [`OrderCloseReason::Cancelled`] (escrow
//! refunded) and matching continues. The book therefore never holds a crossed pair.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::empire::{MILLI, ResourceKind};
use crate::events::{OrderCloseReason, TradeExecuted};
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
    pub resource: ResourceKind,
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

impl MarketOrder {
    /// Milli-credits held in escrow for the open quantity (buy orders; 0 for sells).
    pub fn escrow_credits(&self) -> i64 {
        match self.side {
            Side::Buy => self.price.saturating_mul(self.quantity),
            Side::Sell => 0,
        }
    }

    /// Milli-units of `resource` held in escrow for the open quantity (sells; 0 for buys).
    pub fn escrow_goods(&self) -> i64 {
        match self.side {
            Side::Buy => 0,
            Side::Sell => self.quantity.saturating_mul(MILLI),
        }
    }

    /// Price-time priority key: earlier placed first, then lower id.
    fn time_key(&self) -> (u64, EntityId) {
        (self.placed_tick, self.id)
    }
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

/// What the matching core released; the caller moves the value to the empires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarketEvent {
    /// Two orders traded. Settle: buyer gets `quantity × MILLI` goods and `buyer_refund`
    /// milli-credits, seller gets `price × quantity − fee` milli-credits, the fee is destroyed.
    Trade {
        /// The trade (price is the resting order's price).
        trade: TradeExecuted,
        /// Escrow the buyer gets back because its limit was above the trade price.
        buyer_refund: i64,
    },
    /// An order left the book unfilled; refund its escrow ([`MarketOrder::escrow_credits`],
    /// [`MarketOrder::escrow_goods`]; `order.quantity` is the unfilled quantity).
    Closed {
        /// The order as it was when it closed.
        order: MarketOrder,
        /// Why.
        why: OrderCloseReason,
    },
}

/// Escrow held by the exchange, summed over every open order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Escrow {
    /// Milli-credits held by buy orders.
    pub credits: i64,
    /// Milli-units held by sell orders, by [`ResourceKind::index`] (population always 0).
    pub goods: [i64; 4],
}

/// Fee in milli-credits on a trade of `notional` milli-credits (floor; never above notional).
pub fn trade_fee(notional: i64, fee_bps: u32) -> i64 {
    let fee = i128::from(notional) * i128::from(fee_bps) / 10_000;
    fee.clamp(0, i128::from(notional.max(0))) as i64
}

type IdMap<V> = crate::ids::FastMap<EntityId, V>;

/// "No slot" in the intrusive lists.
const NIL: u32 = u32::MAX;

/// A slab cell: an order and its neighbours in its price level.
#[derive(Clone, Copy, Debug)]
struct Slot {
    order: MarketOrder,
    prev: u32,
    next: u32,
}

/// One price level: a FIFO of slots in price-time order.
#[derive(Clone, Copy, Debug)]
struct Level {
    head: u32,
    tail: u32,
    orders: u32,
    quantity: i64,
}

/// One side of a book: price levels.
#[derive(Clone, Debug, Default)]
struct BookSide {
    levels: BTreeMap<i64, Level>,
    orders: usize,
}

/// Price-time ordered book of one resource (read-only view; the [`Market`] mutates it).
#[derive(Clone, Debug, Default)]
pub struct OrderBook {
    bids: BookSide,
    asks: BookSide,
}

impl OrderBook {
    /// Highest bid price.
    pub fn best_bid(&self) -> Option<i64> {
        self.bids.levels.last_key_value().map(|(p, _)| *p)
    }

    /// Lowest ask price.
    pub fn best_ask(&self) -> Option<i64> {
        self.asks.levels.first_key_value().map(|(p, _)| *p)
    }

    /// Up to `max_levels` levels of one side, best first: (price, open units, orders).
    pub fn depth(&self, side: Side, max_levels: usize) -> Vec<(i64, i64, u32)> {
        let row = |(p, l): (&i64, &Level)| (*p, l.quantity, l.orders);
        match side {
            Side::Buy => self.bids.levels.iter().rev().take(max_levels).map(row).collect(),
            Side::Sell => self.asks.levels.iter().take(max_levels).map(row).collect(),
        }
    }

    /// Number of resting orders.
    pub fn len(&self) -> usize {
        self.bids.orders + self.asks.orders
    }

    /// True when nothing rests.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

/// Book index of a traded resource.
fn book_index(r: ResourceKind) -> Option<usize> {
    (r != ResourceKind::Population).then_some(r.index())
}

/// The slab and the id index: the storage under every book.
#[derive(Clone, Debug, Default)]
struct Store {
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: IdMap<u32>,
    /// Ids of orders that rested, changed quantity or left the book since the last
    /// [`Market::take_touched`] (for persistence; may repeat ids).
    touched: Vec<EntityId>,
    /// Whether `touched` is recorded (off unless persistence asks, so it never grows unread).
    tracking: bool,
}

impl Store {
    fn touch(&mut self, id: EntityId) {
        if self.tracking {
            self.touched.push(id);
        }
    }

    /// Stores `order` at the price-time position of its level in `side`.
    fn rest(&mut self, side: &mut BookSide, order: MarketOrder) {
        let slot = Slot { order, prev: NIL, next: NIL };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = slot;
                s
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(order.id, s);
        self.touch(order.id);
        side.orders += 1;
        let level = side.levels.entry(order.price).or_insert(Level { head: NIL, tail: NIL, orders: 0, quantity: 0 });
        level.orders += 1;
        level.quantity += order.quantity;
        // Walk back from the tail past anything placed later (normally zero steps).
        let mut after = level.tail;
        while after != NIL && self.slots[after as usize].order.time_key() > order.time_key() {
            after = self.slots[after as usize].prev;
        }
        let before = if after == NIL { level.head } else { self.slots[after as usize].next };
        self.slots[s as usize].prev = after;
        self.slots[s as usize].next = before;
        if after == NIL {
            level.head = s;
        } else {
            self.slots[after as usize].next = s;
        }
        if before == NIL {
            level.tail = s;
        } else {
            self.slots[before as usize].prev = s;
        }
    }

    /// Unlinks slot `s` from `level` and frees it; returns its order.
    fn unlink(&mut self, side_orders: &mut usize, level: &mut Level, s: u32) -> MarketOrder {
        let Slot { order, prev, next } = self.slots[s as usize];
        if prev == NIL {
            level.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            level.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        level.orders -= 1;
        level.quantity -= order.quantity;
        *side_orders -= 1;
        self.index.remove(&order.id);
        self.touch(order.id);
        self.free.push(s);
        order
    }

    /// Removes the resting order in slot `s` from `book`, dropping its level if it empties.
    fn remove(&mut self, book: &mut OrderBook, s: u32) -> Option<MarketOrder> {
        let order = self.slots.get(s as usize)?.order;
        let side = book.side_mut(order.side);
        let mut level = *side.levels.get(&order.price)?;
        let order = self.unlink(&mut side.orders, &mut level, s);
        if level.head == NIL {
            side.levels.remove(&order.price);
        } else {
            side.levels.insert(order.price, level);
        }
        Some(order)
    }
}

/// Tickers and ticker volume windows of the three books (see [`Market::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketStats {
    /// Ticker per traded resource.
    pub tickers: [Ticker; 3],
    /// Traded units per tick within the ticker window, oldest first, per traded resource.
    pub windows: [VecDeque<(u64, i64)>; 3],
}

/// The exchange: books, incoming queue, tickers, expiry schedule, per-owner counts.
#[derive(Resource, Clone, Debug, Default)]
pub struct Market {
    books: [OrderBook; 3],
    store: Store,
    /// Orders placed this tick (escrow taken), matched by the Market set in this order.
    incoming: Vec<MarketOrder>,
    /// Orders cancelled by their owners since the Market set last ran (for events).
    cancelled: Vec<MarketOrder>,
    tickers: [Ticker; 3],
    /// Traded units per tick within the ticker window, oldest first.
    windows: [VecDeque<(u64, i64)>; 3],
    /// Open (resting + incoming) orders per owner.
    open_per_owner: IdMap<u32>,
    /// Expiry schedule of resting orders: tick → ids. Entries of orders that already left
    /// the book are skipped when their tick comes (lazy deletion).
    expiries: BTreeMap<u64, Vec<EntityId>>,
}

fn dec_open(open: &mut IdMap<u32>, owner: EntityId) {
    if let Some(n) = open.get_mut(&owner) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            open.remove(&owner);
        }
    }
}

impl Market {
    /// Book of a traded resource (`None` for population).
    pub fn book(&self, r: ResourceKind) -> Option<&OrderBook> {
        self.books.get(book_index(r)?)
    }

    /// Ticker of a traded resource (`None` for population).
    pub fn ticker(&self, r: ResourceKind) -> Option<&Ticker> {
        self.tickers.get(book_index(r)?)
    }

    /// Queues an order (escrow already taken) for matching this tick. Its `id` must be fresh.
    pub fn submit(&mut self, order: MarketOrder) {
        *self.open_per_owner.entry(order.owner).or_default() += 1;
        self.store.touch(order.id);
        self.incoming.push(order);
    }

    /// Orders submitted and not yet matched, in submission order.
    pub fn incoming(&self) -> &[MarketOrder] {
        &self.incoming
    }

    /// An open order (resting or incoming) by id.
    pub fn get(&self, id: EntityId) -> Option<&MarketOrder> {
        match self.store.index.get(&id) {
            Some(&s) => self.store.slots.get(s as usize).map(|slot| &slot.order),
            None => self.incoming.iter().find(|o| o.id == id),
        }
    }

    /// Removes an open order (resting or incoming) without any event; the caller refunds
    /// the escrow of the returned order (its `quantity` is what was still open).
    pub fn remove(&mut self, id: EntityId) -> Option<MarketOrder> {
        let order = match self.store.index.get(&id) {
            Some(&s) => {
                let r = book_index(self.store.slots.get(s as usize)?.order.resource)?;
                self.store.remove(&mut self.books[r], s)?
            }
            None => {
                let at = self.incoming.iter().position(|o| o.id == id)?;
                self.store.touch(id);
                self.incoming.remove(at)
            }
        };
        dec_open(&mut self.open_per_owner, order.owner);
        Some(order)
    }

    /// Removes an open order because its owner cancelled it; the Market set reports it as
    /// [`OrderCloseReason::Cancelled`] via [`Market::drain_cancelled`].
    pub fn cancel(&mut self, id: EntityId) -> Option<MarketOrder> {
        let order = self.remove(id)?;
        self.cancelled.push(order);
        Some(order)
    }

    /// Orders cancelled since the last drain, in cancel order.
    pub fn drain_cancelled(&mut self) -> Vec<MarketOrder> {
        std::mem::take(&mut self.cancelled)
    }

    /// Removes every open order of `owner` (e.g. its empire is gone), in id order; the
    /// caller settles their escrow.
    pub fn remove_owner(&mut self, owner: EntityId) -> Vec<MarketOrder> {
        let ids: Vec<EntityId> = self.orders_sorted().into_iter().filter(|o| o.owner == owner).map(|o| o.id).collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    /// Open orders of `owner` (resting and incoming).
    pub fn open_orders(&self, owner: EntityId) -> u32 {
        self.open_per_owner.get(&owner).copied().unwrap_or(0)
    }

    /// Number of resting orders in all books.
    pub fn resting(&self) -> usize {
        self.books.iter().map(OrderBook::len).sum()
    }

    /// Ids of orders that were placed, filled, or left the book since the last call (the
    /// persistence stage looks each up with [`Market::get`]: present = upsert, gone = delete).
    /// May repeat ids; unordered.
    ///
    /// Recorded only after [`Market::track_changes`]`(true)`.
    pub fn take_touched(&mut self) -> Vec<EntityId> {
        std::mem::take(&mut self.store.touched)
    }

    /// Starts (or stops) recording touched order ids for [`Market::take_touched`].
    pub fn track_changes(&mut self, on: bool) {
        self.store.tracking = on;
        if !on {
            self.store.touched = Vec::new();
        }
    }

    /// Whether touched order ids are being recorded.
    pub fn is_tracking(&self) -> bool {
        self.store.tracking
    }

    /// The exchange's state besides its orders: tickers and their volume windows (persisted).
    pub fn stats(&self) -> MarketStats {
        MarketStats { tickers: self.tickers.clone(), windows: self.windows.clone() }
    }

    /// Restores tickers and volume windows saved with [`Market::stats`].
    pub fn restore_stats(&mut self, stats: MarketStats) {
        self.tickers = stats.tickers;
        self.windows = stats.windows;
    }

    /// Every open order (resting and incoming), in id order: the canonical order for
    /// hashing and persistence.
    pub fn orders_sorted(&self) -> Vec<MarketOrder> {
        let mut all: Vec<MarketOrder> =
            self.store.index.values().map(|&s| self.store.slots[s as usize].order).collect();
        all.extend_from_slice(&self.incoming);
        all.sort_unstable_by_key(|o| o.id);
        all
    }

    /// Escrow held by all open orders.
    pub fn escrow(&self) -> Escrow {
        let mut e = Escrow::default();
        for &s in self.store.index.values() {
            let o = &self.store.slots[s as usize].order;
            e.credits += o.escrow_credits();
            e.goods[o.resource.index()] += o.escrow_goods();
        }
        for o in &self.incoming {
            e.credits += o.escrow_credits();
            e.goods[o.resource.index()] += o.escrow_goods();
        }
        e
    }

    /// Rebuilds the books from persisted resting orders (any order; sorted here). Orders of
    /// an untraded resource or with a non-positive quantity or price are returned unrested.
    pub fn restore(&mut self, orders: impl IntoIterator<Item = MarketOrder>) -> Vec<MarketOrder> {
        let mut orders: Vec<MarketOrder> = orders.into_iter().collect();
        orders.sort_unstable_by_key(|o| (o.placed_tick, o.id));
        let mut rejected = Vec::new();
        for o in orders {
            if book_index(o.resource).is_none() || o.quantity <= 0 || o.price <= 0 || self.get(o.id).is_some() {
                rejected.push(o);
                continue;
            }
            *self.open_per_owner.entry(o.owner).or_default() += 1;
            self.rest(o);
        }
        rejected
    }

    fn rest(&mut self, order: MarketOrder) {
        let Some(r) = book_index(order.resource) else {
            return;
        };
        self.store.rest(self.books[r].side_mut(order.side), order);
        self.expiries.entry(order.expires_tick).or_default().push(order.id);
    }

    /// Removes resting orders with `expires_tick <= tick`, in id order, reporting each as
    /// [`MarketEvent::Closed`] with [`OrderCloseReason::Expired`].
    pub fn expire(&mut self, tick: u64, sink: &mut impl FnMut(MarketEvent)) {
        let mut due = Vec::new();
        while let Some(entry) = self.expiries.first_entry() {
            if *entry.key() > tick {
                break;
            }
            due.extend(entry.remove());
        }
        due.sort_unstable();
        for id in due {
            let Some(&s) = self.store.index.get(&id) else {
                continue;
            };
            let order = self.store.slots[s as usize].order;
            if order.expires_tick > tick {
                continue;
            }
            let Some(r) = book_index(order.resource) else {
                continue;
            };
            if let Some(order) = self.store.remove(&mut self.books[r], s) {
                dec_open(&mut self.open_per_owner, order.owner);
                sink(MarketEvent::Closed { order, why: OrderCloseReason::Expired });
            }
        }
    }

    /// Matches this tick's incoming orders in submission order against the books with
    /// price-time priority, at the resting order's price; remainders rest.
    ///
    /// `is_live(owner)` says whether an empire can still settle; orders of owners that
    /// cannot are closed as cancelled (incoming ones before matching, resting ones when
    /// reached) instead of trading. Every fill and closure goes to `sink`.
    pub fn match_incoming(
        &mut self,
        tick: u64,
        fee_bps: u32,
        mut is_live: impl FnMut(EntityId) -> bool,
        sink: &mut impl FnMut(MarketEvent),
    ) {
        let incoming = std::mem::take(&mut self.incoming);
        for mut o in incoming.iter().copied() {
            let cancel = MarketEvent::Closed { order: o, why: OrderCloseReason::Cancelled };
            let Some(r) = book_index(o.resource).filter(|_| o.quantity > 0 && is_live(o.owner)) else {
                dec_open(&mut self.open_per_owner, o.owner);
                sink(cancel);
                continue;
            };
            let Market { books, store, tickers, windows, open_per_owner, .. } = self;
            let BookSide { levels, orders: side_orders } = books[r].side_mut(match o.side {
                Side::Buy => Side::Sell,
                Side::Sell => Side::Buy,
            });
            while o.quantity > 0 {
                let best = match o.side {
                    Side::Buy => levels.first_entry().filter(|e| *e.key() <= o.price),
                    Side::Sell => levels.last_entry().filter(|e| *e.key() >= o.price),
                };
                let Some(mut entry) = best else { break };
                let price = *entry.key();
                let mut level = *entry.get();
                while o.quantity > 0 && level.head != NIL {
                    let s = level.head;
                    let resting = store.slots[s as usize].order;
                    if resting.owner == o.owner || !is_live(resting.owner) {
                        let order = store.unlink(side_orders, &mut level, s);
                        dec_open(open_per_owner, order.owner);
                        sink(MarketEvent::Closed { order, why: OrderCloseReason::Cancelled });
                        continue;
                    }
                    let q = o.quantity.min(resting.quantity);
                    let notional = price * q;
                    let (buy, sell) = match o.side {
                        Side::Buy => (&o, &resting),
                        Side::Sell => (&resting, &o),
                    };
                    let trade = TradeExecuted {
                        resource: o.resource,
                        price,
                        quantity: q,
                        buyer: buy.owner,
                        seller: sell.owner,
                        buy_order: buy.id,
                        sell_order: sell.id,
                        fee: trade_fee(notional, fee_bps),
                        tick,
                    };
                    let buyer_refund = (buy.price - price) * q;
                    o.quantity -= q;
                    level.quantity -= q;
                    store.slots[s as usize].order.quantity -= q;
                    store.touch(resting.id);
                    if resting.quantity == q {
                        // unlink subtracts the slot's (now zero) quantity from the level.
                        let done = store.unlink(side_orders, &mut level, s);
                        dec_open(open_per_owner, done.owner);
                    }
                    tickers[r].last = Some(price);
                    tickers[r].volume += q;
                    match windows[r].back_mut() {
                        Some((t, v)) if *t == tick => *v += q,
                        _ => windows[r].push_back((tick, q)),
                    }
                    sink(MarketEvent::Trade { trade, buyer_refund });
                }
                if level.head == NIL {
                    entry.remove();
                } else {
                    *entry.get_mut() = level;
                }
            }
            if o.quantity > 0 {
                self.rest(o);
            } else {
                dec_open(&mut self.open_per_owner, o.owner);
            }
        }
        // Reuse the queue's allocation.
        let mut incoming = incoming;
        incoming.clear();
        if self.incoming.is_empty() {
            self.incoming = incoming;
        }
    }

    /// Rolls the ticker volume window (trades of the last `window_ticks` ticks, this one
    /// included) and refreshes best bid and ask. Call once per tick after matching.
    pub fn update_tickers(&mut self, tick: u64, window_ticks: u32) {
        for r in 0..self.books.len() {
            let w = &mut self.windows[r];
            while let Some(&(t, v)) = w.front() {
                if t + u64::from(window_ticks) > tick {
                    break;
                }
                w.pop_front();
                self.tickers[r].volume -= v;
            }
            self.tickers[r].best_bid = self.books[r].best_bid();
            self.tickers[r].best_ask = self.books[r].best_ask();
        }
    }

    /// Feeds the exchange state into a world-state hash: every open order in id order,
    /// the incoming queue in submission order, tickers and their volume windows.
    pub fn hash_into(&self, h: &mut impl Hasher) {
        let orders = self.orders_sorted();
        orders.len().hash(h);
        for o in &orders {
            o.hash(h);
        }
        for o in &self.incoming {
            o.id.hash(h);
        }
        for (t, w) in self.tickers.iter().zip(&self.windows) {
            t.hash(h);
            w.len().hash(h);
            for e in w {
                e.hash(h);
            }
        }
    }
}
