//! Galactic exchange tests: a minimal app with the market plugin, ticks run directly.

use std::hash::{DefaultHasher, Hasher};

use bevy_app::prelude::*;
use bevy_ecs::message::Messages;
use bevy_ecs::prelude::{Entity, Mut, World};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use starforge_components::prelude::*;
use starforge_systems::market::{MarketPlugin, cancel_order, place_order};

const E: ResourceKind = ResourceKind::Energy;
const M: ResourceKind = ResourceKind::Minerals;

/// A minimal app: the market plugin only; `tick()` runs one `FixedUpdate` then advances `SimTick`.
struct Sim {
    app: App,
}

impl Sim {
    fn new() -> Self {
        let mut app = App::new();
        app.add_plugins(MarketPlugin).init_resource::<IdAllocator>();
        Self { app }
    }

    fn world(&mut self) -> &mut World {
        self.app.world_mut()
    }

    fn tuning(&mut self) -> Mut<'_, Tuning> {
        self.world().resource_mut::<Tuning>()
    }

    /// An empire with `credits` whole credits and `units` whole units of each traded resource.
    fn empire(&mut self, credits: i64, units: i64) -> EntityId {
        let id = self.world().resource_mut::<IdAllocator>().allocate();
        let stock = ResourceAmounts([units * MILLI, units * MILLI, units * MILLI, 0]);
        let e = self.world().spawn((id, Credits(credits * MILLI), Stockpile(stock))).id();
        self.world().resource_mut::<EntityIndex>().insert(id, e);
        id
    }

    fn entity(&mut self, id: EntityId) -> Entity {
        self.world().resource::<EntityIndex>().get(id).expect("empire is indexed")
    }

    fn credits(&mut self, id: EntityId) -> i64 {
        let e = self.entity(id);
        self.world().get::<Credits>(e).expect("empire has credits").0
    }

    fn goods(&mut self, id: EntityId, r: ResourceKind) -> i64 {
        let e = self.entity(id);
        self.world().get::<Stockpile>(e).expect("empire has a stockpile").0.get(r)
    }

    fn place_with(
        &mut self,
        owner: EntityId,
        r: ResourceKind,
        side: Side,
        price: i64,
        qty: i64,
        expires_in: Option<u32>,
    ) -> Result<EntityId, RejectReason> {
        let e = self.entity(owner);
        let world = self.world();
        let tuning = world.resource::<Tuning>().market;
        let tick = world.resource::<SimTick>().0;
        let mut credits = *world.get::<Credits>(e).expect("credits");
        let mut stock = *world.get::<Stockpile>(e).expect("stockpile");
        let mut ids = world.resource::<IdAllocator>().clone();
        let mut market = world.remove_resource::<Market>().expect("market resource");
        let res = place_order(
            &mut market,
            &tuning,
            tick,
            &mut ids,
            owner,
            &mut credits,
            &mut stock,
            r,
            side,
            price,
            qty,
            expires_in,
        );
        world.insert_resource(market);
        world.insert_resource(ids);
        world.entity_mut(e).insert((credits, stock));
        res
    }

    fn place(&mut self, owner: EntityId, r: ResourceKind, side: Side, price: i64, qty: i64) -> EntityId {
        self.place_with(owner, r, side, price, qty, None).expect("order accepted")
    }

    fn cancel(&mut self, owner: EntityId, order: EntityId) -> Result<MarketOrder, RejectReason> {
        let e = self.entity(owner);
        let world = self.world();
        let mut credits = *world.get::<Credits>(e).expect("credits");
        let mut stock = *world.get::<Stockpile>(e).expect("stockpile");
        let mut market = world.remove_resource::<Market>().expect("market resource");
        let res = cancel_order(&mut market, owner, order, &mut credits, &mut stock);
        world.insert_resource(market);
        world.entity_mut(e).insert((credits, stock));
        res
    }

    fn tick(&mut self) {
        self.world().run_schedule(FixedUpdate);
        self.world().resource_mut::<SimTick>().0 += 1;
    }

    fn trades(&mut self) -> Vec<TradeExecuted> {
        self.world().resource_mut::<Messages<TradeExecuted>>().drain().collect()
    }

    fn closed(&mut self) -> Vec<OrderClosed> {
        self.world().resource_mut::<Messages<OrderClosed>>().drain().collect()
    }

    fn market(&mut self) -> &Market {
        self.world().resource::<Market>()
    }

    fn ticker(&mut self, r: ResourceKind) -> Ticker {
        self.market().ticker(r).expect("traded resource has a ticker").clone()
    }

    /// Hash of the market, every empire's balances and the id allocator.
    fn state_hash(&mut self) -> u64 {
        let mut h = DefaultHasher::new();
        let world = self.world();
        world.resource::<Market>().hash_into(&mut h);
        h.write_u64(world.resource::<IdAllocator>().next);
        let mut rows: Vec<(EntityId, i64, [i64; 4])> = world
            .query::<(&EntityId, &Credits, &Stockpile)>()
            .iter(world)
            .map(|(id, c, s)| (*id, c.0, s.0.0))
            .collect();
        rows.sort_unstable();
        for (id, c, s) in rows {
            h.write_u64(id.0);
            h.write_i64(c);
            for v in s {
                h.write_i64(v);
            }
        }
        h.finish()
    }
}

#[test]
fn price_time_priority_and_resting_price() {
    let mut sim = Sim::new();
    let (a, b, c, d, buyer) =
        (sim.empire(0, 10), sim.empire(0, 10), sim.empire(0, 10), sim.empire(0, 10), sim.empire(10_000, 0));
    let oa = sim.place(a, E, Side::Sell, 100_000, 1);
    let ob = sim.place(b, E, Side::Sell, 99_000, 1);
    sim.tick();
    let oc = sim.place(c, E, Side::Sell, 99_000, 1);
    let od = sim.place(d, E, Side::Sell, 99_000, 1);
    sim.tick();
    assert!(sim.trades().is_empty(), "no crossing orders yet");
    let ob2 = sim.place(buyer, E, Side::Buy, 101_000, 3);
    sim.tick();
    let t = sim.trades();
    let order: Vec<EntityId> = t.iter().map(|t| t.sell_order).collect();
    assert_eq!(order, vec![ob, oc, od], "best price first, then earlier tick, then lower id");
    assert!(t.iter().all(|t| t.price == 99_000 && t.buy_order == ob2), "trades at the resting price: {t:?}");
    assert!(sim.market().get(oa).is_some(), "the worse-priced ask still rests");
    // Buyer paid 3 × 99 credits and got 3 × 2 credits back from its 101 limit.
    assert_eq!(sim.credits(buyer), 10_000_000 - 3 * 99_000, "buyer refunded the limit/price difference");
    assert_eq!(sim.goods(buyer, E), 3 * MILLI, "buyer received the goods");
}

#[test]
fn incoming_sell_trades_at_resting_bid_and_fee_is_destroyed() {
    let mut sim = Sim::new();
    let (buyer, seller) = (sim.empire(1_000, 0), sim.empire(0, 100));
    sim.place(buyer, M, Side::Buy, 12_345, 7);
    sim.tick();
    sim.place(seller, M, Side::Sell, 10_000, 7);
    sim.tick();
    let t = sim.trades();
    assert_eq!(t.len(), 1, "one fill: {t:?}");
    let notional = 12_345 * 7;
    let fee = notional * 200 / 10_000; // 1728.3 → 1728
    assert_eq!((t[0].price, t[0].fee), (12_345, 1_728), "resting bid price and floored 2% fee");
    assert_eq!(sim.credits(seller), notional - fee, "seller gets notional minus fee");
    assert_eq!(sim.credits(buyer), 1_000_000 - notional, "buyer paid exactly its limit");
    assert_eq!(sim.goods(buyer, M), 7 * MILLI, "buyer got the minerals");
    assert_eq!(sim.goods(seller, M), 93 * MILLI, "seller's minerals left");
    assert_eq!(sim.world().resource::<Ledger>().destroyed[Ledger::CREDITS], fee, "fee is destroyed");
    assert_eq!(sim.world().resource::<SimStats>().trades, 1, "trade counted");
}

#[test]
fn partial_fills_leave_remainders_resting() {
    let mut sim = Sim::new();
    let (s, b) = (sim.empire(0, 100), sim.empire(10_000, 0));
    let sell = sim.place(s, E, Side::Sell, 50_000, 10);
    sim.tick();
    sim.place(b, E, Side::Buy, 50_000, 4);
    sim.tick();
    assert_eq!(sim.market().get(sell).map(|o| o.quantity), Some(6), "6 units of the ask remain");
    let buy = sim.place(b, E, Side::Buy, 60_000, 10);
    sim.tick();
    let t = sim.trades();
    assert_eq!(t.iter().map(|t| t.quantity).collect::<Vec<_>>(), vec![4, 6], "fills of 4 then 6");
    assert!(sim.market().get(sell).is_none(), "the ask is fully filled");
    assert_eq!(sim.market().get(buy).map(|o| o.quantity), Some(4), "4 units of the bid rest");
    let tk = sim.ticker(E);
    assert_eq!((tk.best_bid, tk.best_ask, tk.last), (Some(60_000), None, Some(50_000)), "ticker after fills");
    // Escrow of the resting remainder is exactly limit × open quantity.
    assert_eq!(sim.market().escrow().credits, 60_000 * 4, "escrow of the resting bid");
    assert_eq!(sim.credits(b), 10_000_000 - 10 * 50_000 - 4 * 60_000, "buyer balance after partial fill");
}

#[test]
fn cancel_refunds_remaining_escrow_and_reports() {
    let mut sim = Sim::new();
    let (s, b) = (sim.empire(0, 100), sim.empire(1_000, 0));
    let buy = sim.place(b, E, Side::Buy, 20_000, 10);
    assert_eq!(sim.credits(b), 1_000_000 - 200_000, "escrow taken at placement");
    sim.tick();
    sim.place(s, E, Side::Sell, 20_000, 3);
    sim.tick();
    let closed = sim.cancel(b, buy).expect("own order cancels");
    assert_eq!(closed.quantity, 7, "7 units were open");
    assert_eq!(sim.credits(b), 1_000_000 - 3 * 20_000, "remaining escrow refunded");
    let sell = sim.place(s, E, Side::Sell, 90_000, 5);
    assert_eq!(sim.goods(s, E), 92 * MILLI, "goods escrowed");
    sim.cancel(s, sell).expect("cancel in the tick it was placed");
    assert_eq!(sim.goods(s, E), 97 * MILLI, "goods refunded");
    sim.closed();
    sim.tick();
    let ev = sim.closed();
    assert_eq!(ev.len(), 2, "both cancels reported: {ev:?}");
    assert!(ev.iter().all(|e| e.why == OrderCloseReason::Cancelled), "reason Cancelled");
    assert_eq!((ev[0].order, ev[0].unfilled), (buy, 7), "unfilled quantity reported");
    assert_eq!(sim.market().orders_sorted().len(), 0, "nothing open");
    assert_eq!(sim.market().open_orders(b), 0, "open count back to zero");
}

#[test]
fn expiry_refunds_and_reports() {
    let mut sim = Sim::new();
    let (s, b) = (sim.empire(0, 10), sim.empire(1_000, 0));
    let sell = sim.place_with(s, E, Side::Sell, 30_000, 5, Some(3)).expect("sell accepted");
    let buy = sim.place_with(b, M, Side::Buy, 1_000, 5, Some(2)).expect("buy accepted");
    sim.tick(); // tick 0
    sim.tick(); // tick 1
    assert!(sim.closed().is_empty(), "nothing expired before tick 2");
    sim.tick(); // tick 2: the buy expires
    let ev = sim.closed();
    assert_eq!(ev.len(), 1, "one expiry at tick 2: {ev:?}");
    assert_eq!((ev[0].order, ev[0].why, ev[0].unfilled), (buy, OrderCloseReason::Expired, 5), "buy expired");
    assert_eq!(sim.credits(b), 1_000_000, "buy escrow refunded");
    sim.tick(); // tick 3: the sell expires
    let ev = sim.closed();
    assert_eq!(ev.iter().map(|e| e.order).collect::<Vec<_>>(), vec![sell], "sell expired at tick 3");
    assert_eq!(sim.goods(s, E), 10 * MILLI, "sell escrow refunded");
    assert_eq!(sim.market().resting(), 0, "book empty");
}

/// One rejected placement: owner, resource, side, price, quantity, expiry, description.
type Case = (EntityId, ResourceKind, Side, i64, i64, Option<u32>, &'static str);

#[test]
fn rejections_change_nothing() {
    let mut sim = Sim::new();
    let (rich, poor, other) = (sim.empire(100, 5), sim.empire(1, 0), sim.empire(0, 0));
    sim.tuning().market.max_open_orders_per_empire = 2;
    let resting = sim.place(rich, E, Side::Buy, 1_000, 1);
    sim.tick();
    let max_price = (sim.tuning().market.max_price * 1000.0) as i64;
    let max_qty = sim.tuning().market.max_quantity;
    let max_exp = sim.tuning().market.max_expiry_ticks;
    let before = sim.state_hash();
    let cases: Vec<Case> = vec![
        (poor, E, Side::Buy, 2_000, 1, None, "cannot afford credits"),
        (poor, E, Side::Sell, 1_000, 1, None, "cannot afford goods"),
        (rich, ResourceKind::Population, Side::Buy, 1_000, 1, None, "not traded"),
        (rich, E, Side::Buy, 0, 1, None, "zero price"),
        (rich, E, Side::Buy, -5, 1, None, "negative price"),
        (rich, E, Side::Buy, max_price + 1, 1, None, "price above max"),
        (rich, E, Side::Buy, 1_000, 0, None, "zero quantity"),
        (rich, E, Side::Buy, 1_000, max_qty + 1, None, "quantity above max"),
        (rich, E, Side::Buy, 1_000, 1, Some(0), "zero expiry"),
        (rich, E, Side::Buy, 1_000, 1, Some(max_exp + 1), "expiry above max"),
    ];
    for (owner, r, side, price, qty, exp, what) in cases {
        let res = sim.place_with(owner, r, side, price, qty, exp);
        assert!(res.is_err(), "{what}: must be rejected, got {res:?}");
        assert_eq!(sim.state_hash(), before, "{what}: rejection must change nothing");
    }
    assert!(
        matches!(
            sim.place_with(poor, E, Side::Buy, 2_000, 1, None),
            Err(RejectReason::CannotAfford { what: "credits", needed: 2_000, available: 1_000 })
        ),
        "typed affordability reason"
    );
    sim.place(rich, E, Side::Buy, 1_000, 1);
    let before = sim.state_hash();
    let res = sim.place_with(rich, E, Side::Buy, 1_000, 1, None);
    assert_eq!(res, Err(RejectReason::LimitReached { what: "open orders", limit: 2 }), "open-order limit");
    assert_eq!(sim.state_hash(), before, "limit rejection changes nothing");
    assert_eq!(sim.cancel(other, resting).map(|o| o.id), Err(RejectReason::NotOwner { what: "order" }), "not owner");
    assert_eq!(
        sim.cancel(rich, EntityId(999)).map(|o| o.id),
        Err(RejectReason::NotFound { what: "order", id: 999 }),
        "unknown order"
    );
    assert_eq!(sim.state_hash(), before, "cancel rejections change nothing");
}

#[test]
fn ticker_tracks_last_bid_ask_and_rolls_volume() {
    let mut sim = Sim::new();
    sim.tuning().market.ticker_window_ticks = 3;
    let (s, b) = (sim.empire(0, 1_000), sim.empire(100_000, 0));
    sim.place(s, E, Side::Sell, 10_000, 100);
    sim.place(b, E, Side::Buy, 9_000, 100);
    sim.tick(); // tick 0
    let tk = sim.ticker(E);
    assert_eq!((tk.last, tk.best_bid, tk.best_ask, tk.volume), (None, Some(9_000), Some(10_000), 0), "quiet book");
    sim.place(b, E, Side::Buy, 10_000, 4);
    sim.tick(); // tick 1: 4 traded
    sim.place(b, E, Side::Buy, 10_000, 6);
    sim.tick(); // tick 2: 6 traded
    let tk = sim.ticker(E);
    assert_eq!((tk.last, tk.volume), (Some(10_000), 10), "volume sums ticks 1 and 2");
    sim.tick(); // tick 3: window (0,3] still holds ticks 1..=3
    assert_eq!(sim.ticker(E).volume, 10, "tick 1 still within a 3-tick window at tick 3");
    sim.tick(); // tick 4: tick 1 rolls off
    assert_eq!(sim.ticker(E).volume, 6, "tick 1 rolled off at tick 4");
    sim.tick(); // tick 5: tick 2 rolls off
    assert_eq!(sim.ticker(E).volume, 0, "all volume rolled off");
    assert_eq!(sim.ticker(E).last, Some(10_000), "last price stays");
    assert_eq!(sim.ticker(M), Ticker::default(), "other resources untouched");
}

#[test]
fn self_trade_cancels_the_resting_order() {
    let mut sim = Sim::new();
    let (a, b) = (sim.empire(1_000, 100), sim.empire(0, 100));
    let own = sim.place(a, E, Side::Sell, 10_000, 5);
    let theirs = sim.place(b, E, Side::Sell, 11_000, 5);
    sim.tick();
    sim.closed();
    sim.place(a, E, Side::Buy, 12_000, 3);
    sim.tick();
    let ev = sim.closed();
    assert_eq!(
        ev.iter().map(|e| (e.order, e.why)).collect::<Vec<_>>(),
        vec![(own, OrderCloseReason::Cancelled)],
        "own resting order cancelled"
    );
    let t = sim.trades();
    assert_eq!(
        t.iter().map(|t| (t.sell_order, t.price, t.quantity)).collect::<Vec<_>>(),
        vec![(theirs, 11_000, 3)],
        "matched the other seller"
    );
    assert_eq!(sim.goods(a, E), 103 * MILLI, "own escrowed goods returned, 3 bought");
}

#[test]
fn vanished_empire_is_never_traded_with_and_nothing_panics() {
    let mut sim = Sim::new();
    let (gone, b) = (sim.empire(0, 10), sim.empire(1_000, 0));
    let sell = sim.place(gone, E, Side::Sell, 10_000, 5);
    sim.tick();
    let e = sim.entity(gone);
    sim.world().despawn(e);
    sim.world().resource_mut::<EntityIndex>().remove(gone);
    let buy = sim.place(b, E, Side::Buy, 10_000, 5);
    sim.tick();
    assert!(sim.trades().is_empty(), "no trade with a vanished empire");
    assert_eq!(sim.closed().iter().map(|c| c.order).collect::<Vec<_>>(), vec![sell], "its order closed");
    assert_eq!(
        sim.world().resource::<Ledger>().destroyed[Ledger::resource(E)],
        5 * MILLI,
        "its escrow is recorded as destroyed"
    );
    assert!(sim.market().get(buy).is_some(), "the buyer's order rests");
}

/// Totals held by empires + escrow + destroyed, per ledger kind.
fn totals(sim: &mut Sim) -> [i64; 5] {
    let world = sim.world();
    let mut t = [0i64; 5];
    for (c, s) in world.query::<(&Credits, &Stockpile)>().iter(world) {
        assert!(c.0 >= 0, "credits never negative: {}", c.0);
        assert!(s.0.0.iter().all(|v| *v >= 0), "stockpile never negative: {:?}", s.0);
        t[0] += c.0;
        for r in ResourceKind::ALL {
            t[Ledger::resource(r)] += s.0.get(r);
        }
    }
    let escrow = world.resource::<Market>().escrow();
    t[0] += escrow.credits;
    for r in ResourceKind::ALL {
        t[Ledger::resource(r)] += escrow.goods[r.index()];
    }
    let ledger = world.resource::<Ledger>();
    for (k, v) in t.iter_mut().enumerate() {
        *v += ledger.destroyed[k] - ledger.created[k];
    }
    t
}

/// Random trading over many ticks; returns the final state hash.
fn random_session(seed: u64, check: bool) -> u64 {
    let mut sim = Sim::new();
    sim.tuning().market.ticker_window_ticks = 20;
    let empires: Vec<EntityId> = (0..16).map(|_| sim.empire(50_000, 500)).collect();
    let start = totals(&mut sim);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut placed: Vec<(EntityId, EntityId)> = Vec::new();
    for _ in 0..150 {
        for _ in 0..(rng.next_u32() % 25) {
            let owner = empires[(rng.next_u32() % 16) as usize];
            let r = ResourceKind::TRADED[(rng.next_u32() % 3) as usize];
            let side = if rng.next_u32() % 2 == 0 { Side::Buy } else { Side::Sell };
            let price = 9_000 + i64::from(rng.next_u32() % 2_000);
            let qty = 1 + i64::from(rng.next_u32() % 40);
            let exp = Some(1 + rng.next_u32() % 30);
            if let Ok(id) = sim.place_with(owner, r, side, price, qty, exp) {
                placed.push((owner, id));
            }
        }
        for _ in 0..(rng.next_u32() % 4) {
            if !placed.is_empty() {
                let (owner, id) = placed[(rng.next_u32() as usize) % placed.len()];
                let _ = sim.cancel(owner, id);
            }
        }
        sim.tick();
        if check {
            assert_eq!(totals(&mut sim), start, "value conserved (credits, goods) after a tick");
            let open: u32 = empires.iter().map(|e| sim.market().open_orders(*e)).sum();
            assert_eq!(open as usize, sim.market().orders_sorted().len(), "open-order counts match the books");
        }
    }
    assert!(sim.world().resource::<SimStats>().trades > 100, "the session actually traded");
    sim.state_hash()
}

#[test]
fn conservation_over_random_orders() {
    for seed in 0..4 {
        random_session(seed, true);
    }
}

#[test]
fn same_inputs_same_state() {
    assert_eq!(random_session(42, false), random_session(42, false), "deterministic replay");
    assert_ne!(random_session(42, false), random_session(43, false), "hash depends on the state");
}
