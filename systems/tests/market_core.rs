//! Unit tests of the exchange's pure matching core (no ECS).

use std::hash::{DefaultHasher, Hasher};

use starforge_components::empire::ResourceKind;
use starforge_components::ids::EntityId;
use starforge_components::market::{Escrow, Market, MarketEvent, MarketOrder, OrderBook, Side, trade_fee};

fn order(id: u64, owner: u64, side: Side, price: i64, quantity: i64, placed_tick: u64) -> MarketOrder {
    MarketOrder {
        id: EntityId(id),
        owner: EntityId(owner),
        resource: ResourceKind::Energy,
        side,
        price,
        quantity,
        placed_tick,
        expires_tick: placed_tick + 100,
    }
}

fn run(m: &mut Market, tick: u64) -> Vec<MarketEvent> {
    let mut events = Vec::new();
    m.match_incoming(tick, 200, |_| true, &mut |e| events.push(e));
    m.update_tickers(tick, 10);
    events
}

fn hash(m: &Market) -> u64 {
    let mut h = DefaultHasher::new();
    m.hash_into(&mut h);
    h.finish()
}

#[test]
fn restore_puts_orders_in_price_time_order_and_hashes_equal() {
    let orders = [
        order(5, 1, Side::Sell, 100, 1, 3),
        order(2, 2, Side::Sell, 100, 1, 7),
        order(9, 3, Side::Sell, 100, 1, 3),
        order(4, 4, Side::Buy, 90, 2, 1),
    ];
    let mut a = Market::default();
    assert!(a.restore(orders).is_empty(), "all orders restore");
    let mut b = Market::default();
    assert!(b.restore(orders.iter().rev().copied()).is_empty(), "all orders restore");
    assert_eq!(hash(&a), hash(&b), "restore order does not matter");
    assert_eq!(a.book(ResourceKind::Energy).map(OrderBook::len), Some(4), "four resting");
    a.submit(order(20, 8, Side::Buy, 100, 3, 8));
    let sells: Vec<u64> = run(&mut a, 8)
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Trade { trade, .. } => Some(trade.sell_order.0),
            MarketEvent::Closed { .. } => None,
        })
        .collect();
    assert_eq!(sells, vec![5, 9, 2], "earlier tick first, then lower id");
    assert_ne!(hash(&a), hash(&b), "hash follows the state");
    let bad = order(30, 1, Side::Buy, 0, 1, 0);
    assert_eq!(b.restore([bad]), vec![bad], "a zero price is refused");
}

#[test]
fn cancelled_orders_are_not_expired_again() {
    let mut m = Market::default();
    m.submit(order(1, 1, Side::Sell, 100, 5, 0));
    m.submit(order(2, 2, Side::Sell, 101, 5, 0));
    assert!(run(&mut m, 0).is_empty(), "nothing crosses");
    assert_eq!(m.cancel(EntityId(1)).map(|o| o.quantity), Some(5), "cancel returns the open order");
    assert_eq!(m.drain_cancelled().len(), 1, "cancel recorded for its event");
    let mut expired = Vec::new();
    m.expire(100, &mut |e| expired.push(e));
    assert_eq!(expired.len(), 1, "only the still-resting order expires: {expired:?}");
    assert_eq!(m.resting(), 0, "book empty");
    assert_eq!(m.open_orders(EntityId(2)), 0, "open count released");
    assert_eq!(m.escrow(), Escrow::default(), "no escrow left");
}

#[test]
fn remove_owner_and_depth() {
    let mut m = Market::default();
    m.submit(order(1, 7, Side::Buy, 90, 5, 0));
    m.submit(order(2, 8, Side::Buy, 90, 1, 0));
    m.submit(order(3, 7, Side::Buy, 95, 2, 0));
    m.submit(order(4, 7, Side::Sell, 120, 2, 0));
    run(&mut m, 0);
    let book = m.book(ResourceKind::Energy).expect("energy is traded");
    assert_eq!(book.depth(Side::Buy, 5), vec![(95, 2, 1), (90, 6, 2)], "bids best first");
    assert_eq!(book.depth(Side::Sell, 5), vec![(120, 2, 1)], "asks best first");
    let gone: Vec<u64> = m.remove_owner(EntityId(7)).iter().map(|o| o.id.0).collect();
    assert_eq!(gone, vec![1, 3, 4], "all of the owner's orders, id order");
    assert_eq!(m.orders_sorted().iter().map(|o| o.id.0).collect::<Vec<_>>(), vec![2], "others stay");
    assert!(m.book(ResourceKind::Population).is_none(), "population has no book");
}

#[test]
fn fee_is_floored_and_bounded() {
    assert_eq!(trade_fee(86_415, 200), 1_728, "2% floored");
    assert_eq!(trade_fee(1_000_000_000_000_000, 10_000), 1_000_000_000_000_000, "no overflow, at most notional");
    assert_eq!(trade_fee(49, 200), 0, "tiny trades pay nothing");
    assert_eq!(trade_fee(100, u32::MAX), 100, "a silly fee never exceeds the notional");
}
