//! The galactic exchange: matching, settlement, expiry and tickers (placeholder until the
//! market plugin lands: placement and cancel with escrow work, matching does not yet).

use bevy_app::prelude::*;
use starforge_components::prelude::*;
use starforge_components::tuning::MarketTuning;

/// Order matching, settlement, expiry and tickers in [`crate::SimSystems::Market`].
pub struct MarketPlugin;

impl Plugin for MarketPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Market>().add_message::<TradeExecuted>().add_message::<OrderClosed>();
    }
}

/// Validates an order, takes its escrow and submits it for matching this tick.
#[expect(clippy::too_many_arguments, reason = "placeholder with the final signature")]
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
    if resource == ResourceKind::Population {
        return Err(RejectReason::NotTraded);
    }
    if quantity < 1 || quantity > tuning.max_quantity || price < 1 {
        return Err(RejectReason::InvalidValue { field: "quantity", expected: "positive" });
    }
    match side {
        Side::Buy => {
            let need = price * quantity;
            if credits.0 < need {
                return Err(RejectReason::CannotAfford { what: "credits", needed: need, available: credits.0 });
            }
            credits.0 -= need;
        }
        Side::Sell => {
            let need = quantity * MILLI;
            let have = stockpile.0.get_mut(resource);
            if *have < need {
                return Err(RejectReason::CannotAfford { what: "goods", needed: need, available: *have });
            }
            *have -= need;
        }
    }
    let id = ids.allocate();
    let order = MarketOrder {
        id,
        owner,
        resource,
        side,
        price,
        quantity,
        placed_tick: tick,
        expires_tick: tick + expires_in.unwrap_or(tuning.default_expiry_ticks) as u64,
    };
    market.submit(order);
    market.incoming.clear();
    market.rest(order);
    Ok(id)
}

/// Cancels a resting order of `owner` and refunds its escrow.
pub fn cancel_order(
    market: &mut Market,
    owner: EntityId,
    order: EntityId,
    credits: &mut Credits,
    stockpile: &mut Stockpile,
) -> Result<MarketOrder, RejectReason> {
    let o = *market.get(order).ok_or(RejectReason::NotFound { what: "order", id: order.0 })?;
    if o.owner != owner {
        return Err(RejectReason::NotOwner { what: "order" });
    }
    market.remove(order);
    match o.side {
        Side::Buy => credits.0 += o.price * o.quantity,
        Side::Sell => *stockpile.0.get_mut(o.resource) += o.quantity * MILLI,
    }
    Ok(o)
}
