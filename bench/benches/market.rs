//! Galactic exchange throughput: placing (validation + escrow) and matching orders on the
//! pure core, against a realistic book of 100k resting orders around a mid price.
//!
//! Run: `cargo bench -p starforge-bench --bench market`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use starforge_components::empire::{Credits, MILLI, ResourceAmounts, ResourceKind, Stockpile};
use starforge_components::ids::{EntityId, IdAllocator};
use starforge_components::market::{Market, MarketEvent, Side};
use starforge_components::tuning::{MarketTuning, Tuning};
use starforge_systems::market::place_order;

/// Mid price, milli-credits per unit.
const MID: i64 = 100_000;
/// Resting orders in the book before the stream starts.
const RESTING: usize = 100_000;
/// Empires placing orders.
const OWNERS: usize = 1_000;

/// SplitMix64: a tiny deterministic stream for order generation.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// One order to place.
#[derive(Clone, Copy)]
struct Spec {
    owner: usize,
    side: Side,
    price: i64,
    qty: i64,
}

/// Everything one benchmark iteration mutates.
#[derive(Clone)]
struct State {
    market: Market,
    ids: IdAllocator,
    credits: Vec<Credits>,
    stock: Vec<Stockpile>,
    tick: u64,
}

impl State {
    /// Places `specs` (one tick's worth at a time) and matches; returns fills.
    fn run(&mut self, tuning: &MarketTuning, specs: &[Spec], per_tick: usize) -> u64 {
        let mut fills = 0u64;
        for chunk in specs.chunks(per_tick) {
            for s in chunk {
                let owner = EntityId(s.owner as u64 + 1);
                let res = place_order(
                    &mut self.market,
                    tuning,
                    self.tick,
                    &mut self.ids,
                    owner,
                    &mut self.credits[s.owner],
                    &mut self.stock[s.owner],
                    ResourceKind::Energy,
                    s.side,
                    s.price,
                    s.qty,
                    None,
                );
                black_box(res.is_ok());
            }
            let (credits, stock) = (&mut self.credits, &mut self.stock);
            let settle = &mut |e: MarketEvent| match e {
                MarketEvent::Trade { trade, buyer_refund } => {
                    fills += 1;
                    let b = (trade.buyer.0 - 1) as usize;
                    let s = (trade.seller.0 - 1) as usize;
                    credits[b].0 += buyer_refund;
                    *stock[b].0.get_mut(trade.resource) += trade.quantity * MILLI;
                    credits[s].0 += trade.price * trade.quantity - trade.fee;
                }
                MarketEvent::Closed { order, .. } => {
                    let o = (order.owner.0 - 1) as usize;
                    credits[o].0 += order.escrow_credits();
                    *stock[o].0.get_mut(order.resource) += order.escrow_goods();
                }
            };
            self.market.match_incoming(self.tick, tuning.fee_bps, |_| true, settle);
            self.market.update_tickers(self.tick, tuning.ticker_window_ticks);
            self.tick += 1;
        }
        fills
    }
}

/// Orders priced around `MID`: about a quarter of them cross the spread.
fn stream(rng: &mut Stream, n: usize, crossing: bool) -> Vec<Spec> {
    (0..n)
        .map(|_| {
            let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
            // Passive orders: 1..=10_000 milli away from mid on their own side; a crossing
            // order reaches up to 3_000 milli into the other side.
            let off = if crossing && rng.below(4) == 0 { -rng.below(3_000) - 1 } else { rng.below(10_000) + 1 };
            let price = match side {
                Side::Buy => MID - off,
                Side::Sell => MID + off,
            };
            Spec { owner: rng.below(OWNERS as u64) as usize, side, price, qty: 1 + rng.below(50) }
        })
        .collect()
}

fn setup(tuning: &MarketTuning) -> State {
    let mut st = State {
        market: Market::default(),
        ids: IdAllocator { next: OWNERS as u64 + 1 },
        credits: vec![Credits(i64::MAX / 4); OWNERS],
        stock: vec![Stockpile(ResourceAmounts([i64::MAX / 4; 4])); OWNERS],
        tick: 0,
    };
    let mut rng = Stream(7);
    let book = stream(&mut rng, RESTING, false);
    st.run(tuning, &book, 1_000);
    assert_eq!(st.market.resting(), RESTING, "the seeded book rests completely");
    st
}

fn market(c: &mut Criterion) {
    let mut tuning = Tuning::default().market;
    tuning.max_open_orders_per_empire = u32::MAX;
    let base = setup(&tuning);
    let mut rng = Stream(11);
    const N: usize = 20_000;
    let mut g = c.benchmark_group("market");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(30);
    for per_tick in [N, 200] {
        let specs = stream(&mut rng, N, true);
        let fills = base.clone().run(&tuning, &specs, per_tick);
        eprintln!("market bench: {N} orders, {per_tick} per tick, {fills} fills, {RESTING} resting at start");
        g.bench_function(format!("place_and_match_100k_book_{per_tick}_per_tick"), |b| {
            b.iter_batched_ref(
                || base.clone(),
                |st| black_box(st.run(&tuning, &specs, per_tick)),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// The criterion group (its generated function has no doc of its own).
mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::market);
}
criterion_main!(group::benches);
