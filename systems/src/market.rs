//! The galactic exchange rules: placing and cancelling orders (called by the Input set),
//! then matching, settlement, expiry and tickers in [`crate::SimSystems::Market`].
//!
//! The data structure and the pure matching core are
//! [`starforge_components::market::Market`]; this module moves value between empires and
//! the exchange and emits the messages.
//!
//! Economic model (exact, integer milli-units):
//! - Placement takes escrow: a buy holds `price × quantity` milli-credits, a sell holds
//!   `quantity × MILLI` milli-units of the resource. A rejected placement changes nothing.
//! - Each tick, in the Market set: orders cancelled during Input are reported
//!   ([`OrderClosed`] `Cancelled`); orders with `expires_tick <= tick` are removed and
//!   refunded (`Expired`); then this tick's orders are matched in submission order with
//!   price-time priority at the resting order's price; then tickers roll.
//! - A fill gives the buyer the goods plus `(limit − price) × quantity` of its escrow back,
//!   the seller `notional − fee`; the fee (`notional × fee_bps / 10000`, floor) is destroyed
//!   and recorded in [`Ledger::destroyed`].
//! - Self-trade prevention: an incoming order that reaches a resting order of the same
//!   owner cancels that resting order (refund, `OrderClosed { why: Cancelled }`) and goes on
//!   matching ("cancel resting"); the book never holds an owner's own crossed pair.
//! - Vanished empires: an order whose owner no longer has an indexed entity with `Credits`
//!   and `Stockpile` is closed as `Cancelled` instead of trading (incoming ones before
//!   matching, resting ones when reached, or at expiry). Escrow due to an empire that no
//!   longer exists is destroyed and recorded in the [`Ledger`], so the ledger still balances
//!   and nothing panics. Whoever despawns an empire should call
//!   [`Market::remove_owner`] and settle the returned orders the same way.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use starforge_components::empire::{Credits, MILLI, ResourceKind, Stockpile};
use starforge_components::events::{OrderCloseReason, OrderClosed, TradeExecuted};
use starforge_components::ids::{EntityId, EntityIndex, IdAllocator};
use starforge_components::intent::RejectReason;
use starforge_components::market::{Market, MarketEvent, MarketOrder, Side};
use starforge_components::sim::{Ledger, SimStats, SimTick};
use starforge_components::tuning::{MarketTuning, Tuning};

use crate::SimSystems;

/// Order matching, settlement, expiry and tickers in [`crate::SimSystems::Market`].
pub struct MarketPlugin;

impl Plugin for MarketPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Market>()
            .init_resource::<Tuning>()
            .init_resource::<SimTick>()
            .init_resource::<Ledger>()
            .init_resource::<SimStats>()
            .init_resource::<EntityIndex>()
            .add_message::<TradeExecuted>()
            .add_message::<OrderClosed>()
            .add_systems(FixedUpdate, (expire_orders, match_orders, update_tickers).chain().in_set(SimSystems::Market));
    }
}

/// Highest accepted price in milli-credits per unit (`max_price × 1000`, floor).
pub fn max_price_milli(tuning: &MarketTuning) -> i64 {
    let p = tuning.max_price * MILLI as f64;
    if p.is_finite() && p >= 1.0 { p.min(i64::MAX as f64) as i64 } else { 0 }
}

/// Lower-case name of a resource for messages.
fn resource_name(r: ResourceKind) -> &'static str {
    match r {
        ResourceKind::Energy => "energy",
        ResourceKind::Minerals => "minerals",
        ResourceKind::RareElements => "rare elements",
        ResourceKind::Population => "population",
    }
}

/// Validates a limit order, takes its escrow from `credits` (buy) or `stockpile` (sell) and
/// submits it for matching this tick. Returns the new order's id.
///
/// Checks, in order: traded resource, price in `(0, max_price × 1000]` milli-credits, quantity
/// in `[1, max_quantity]`, expiry in `[1, max_expiry_ticks]` (`None` = the default), the
/// owner's open-order limit, affordability. On rejection nothing changes (not even `ids`).
#[allow(clippy::too_many_arguments)]
pub fn place_order(
    market: &mut Market,
    tuning: &MarketTuning,
    tick: u64,
    ids: &mut IdAllocator,
    owner: EntityId,
    credits: &mut Credits,
    stockpile: &mut Stockpile,
    resource: ResourceKind,
    side: Side,
    price: i64,
    quantity: i64,
    expires_in: Option<u32>,
) -> Result<EntityId, RejectReason> {
    if market.book(resource).is_none() {
        return Err(RejectReason::NotTraded);
    }
    if !(1..=max_price_milli(tuning)).contains(&price) {
        return Err(RejectReason::InvalidValue {
            field: "price",
            expected: "above 0 and at most the exchange's max_price (milli-credits per unit)",
        });
    }
    if !(1..=tuning.max_quantity).contains(&quantity) {
        return Err(RejectReason::InvalidValue {
            field: "quantity",
            expected: "a whole number of units from 1 to the exchange's max_quantity",
        });
    }
    let max_expiry = tuning.max_expiry_ticks.max(1);
    let expires_in = expires_in.unwrap_or(tuning.default_expiry_ticks.clamp(1, max_expiry));
    if !(1..=max_expiry).contains(&expires_in) {
        return Err(RejectReason::InvalidValue {
            field: "expires_in",
            expected: "from 1 to the exchange's max_expiry_ticks ticks",
        });
    }
    let limit = tuning.max_open_orders_per_empire;
    if market.open_orders(owner) >= limit {
        return Err(RejectReason::LimitReached { what: "open orders", limit });
    }
    let too_large =
        RejectReason::InvalidValue { field: "quantity", expected: "an order value that fits the exchange's limits" };
    match side {
        Side::Buy => {
            let cost = price.checked_mul(quantity).ok_or(too_large)?;
            if credits.0 < cost {
                return Err(RejectReason::CannotAfford { what: "credits", needed: cost, available: credits.0 });
            }
            credits.0 -= cost;
        }
        Side::Sell => {
            let need = quantity.checked_mul(MILLI).ok_or(too_large)?;
            let have = stockpile.0.get_mut(resource);
            if *have < need {
                return Err(RejectReason::CannotAfford {
                    what: resource_name(resource),
                    needed: need,
                    available: *have,
                });
            }
            *have -= need;
        }
    }
    let id = ids.allocate();
    market.submit(MarketOrder {
        id,
        owner,
        resource,
        side,
        price,
        quantity,
        placed_tick: tick,
        expires_tick: tick.saturating_add(u64::from(expires_in)),
    });
    Ok(id)
}

/// Cancels an open order of `owner` and refunds its remaining escrow into `credits` (buy) or
/// `stockpile` (sell). Returns the order as it was (its `quantity` is what was unfilled).
/// The Market set emits the [`OrderClosed`] message. On rejection nothing changes.
pub fn cancel_order(
    market: &mut Market,
    owner: EntityId,
    order: EntityId,
    credits: &mut Credits,
    stockpile: &mut Stockpile,
) -> Result<MarketOrder, RejectReason> {
    let not_found = RejectReason::NotFound { what: "order", id: order.0 };
    let found = market.get(order).ok_or(not_found.clone())?;
    if found.owner != owner {
        return Err(RejectReason::NotOwner { what: "order" });
    }
    let o = market.cancel(order).ok_or(not_found)?;
    credits.0 += o.escrow_credits();
    *stockpile.0.get_mut(o.resource) += o.escrow_goods();
    Ok(o)
}

/// Everything settlement touches: empires, the ledger, counters, messages.
#[derive(SystemParam)]
struct Settlement<'w, 's> {
    index: Res<'w, EntityIndex>,
    empires: Query<'w, 's, (&'static mut Credits, &'static mut Stockpile)>,
    ledger: ResMut<'w, Ledger>,
    stats: ResMut<'w, SimStats>,
    trades: MessageWriter<'w, TradeExecuted>,
    closed: MessageWriter<'w, OrderClosed>,
}

impl Settlement<'_, '_> {
    /// Whether `owner` can still receive value.
    fn is_live(&self, owner: EntityId) -> bool {
        self.index.get(owner).is_some_and(|e| self.empires.contains(e))
    }

    /// Pays `credits` milli-credits and `goods` milli-units of `resource` to `owner`, or
    /// records them as destroyed when the empire is gone.
    fn pay(&mut self, owner: EntityId, credits: i64, resource: ResourceKind, goods: i64) {
        let target = self.index.get(owner).and_then(|e| self.empires.get_mut(e).ok());
        match target {
            Some((mut c, mut s)) => {
                c.0 += credits;
                *s.0.get_mut(resource) += goods;
            }
            None => {
                self.ledger.destroyed[Ledger::CREDITS] += credits;
                self.ledger.destroyed[Ledger::resource(resource)] += goods;
            }
        }
    }

    /// Settles one event from the matching core and emits its message.
    fn apply(&mut self, event: MarketEvent) {
        match event {
            MarketEvent::Trade { trade, buyer_refund } => {
                let notional = trade.price * trade.quantity;
                self.pay(trade.buyer, buyer_refund, trade.resource, trade.quantity * MILLI);
                self.pay(trade.seller, notional - trade.fee, trade.resource, 0);
                self.ledger.destroyed[Ledger::CREDITS] += trade.fee;
                self.stats.trades += 1;
                self.trades.write(trade);
            }
            MarketEvent::Closed { order, why } => {
                self.pay(order.owner, order.escrow_credits(), order.resource, order.escrow_goods());
                self.closed.write(OrderClosed { order: order.id, owner: order.owner, why, unfilled: order.quantity });
            }
        }
    }
}

/// Reports Input-set cancellations, then removes and refunds expired orders.
fn expire_orders(
    mut market: ResMut<Market>,
    tick: Res<SimTick>,
    mut settle: Settlement,
    mut events: Local<Vec<MarketEvent>>,
) {
    for order in market.drain_cancelled() {
        settle.closed.write(OrderClosed {
            order: order.id,
            owner: order.owner,
            why: OrderCloseReason::Cancelled,
            unfilled: order.quantity,
        });
    }
    market.expire(tick.0, &mut |e| events.push(e));
    for e in events.drain(..) {
        settle.apply(e);
    }
}

/// Matches this tick's orders and settles every fill and closure.
fn match_orders(
    mut market: ResMut<Market>,
    tick: Res<SimTick>,
    tuning: Res<Tuning>,
    mut settle: Settlement,
    mut events: Local<Vec<MarketEvent>>,
) {
    if market.incoming().is_empty() {
        return;
    }
    let live = |owner| settle.is_live(owner);
    market.match_incoming(tick.0, tuning.market.fee_bps, live, &mut |e| events.push(e));
    for e in events.drain(..) {
        settle.apply(e);
    }
}

/// Rolls the ticker volume windows and refreshes best bid/ask.
fn update_tickers(mut market: ResMut<Market>, tick: Res<SimTick>, tuning: Res<Tuning>) {
    market.update_tickers(tick.0, tuning.market.ticker_window_ticks);
}
