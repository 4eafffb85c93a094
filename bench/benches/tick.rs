//! Criterion: one simulation tick at 1k / 10k / 100k ships (colonies = ships/10, orders = ships).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use starforge_bench::{build_world, run_ticks, tick, world_counts};

fn tick_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("tick");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for ships in [1_000u32, 10_000, 100_000] {
        // Built once per size, outside the timing loop; a few ticks so NPCs have acted.
        let mut app = build_world(ships, ships / 10, ships, 1, None);
        run_ticks(&mut app, 20);
        group.bench_function(BenchmarkId::from_parameter(ships), |b| b.iter(|| tick(&mut app)));
        // The world keeps evolving across iterations (NPC shipyards build up to 40 ships per
        // colony): show what the last sample actually ticked.
        let n = world_counts(app.world_mut());
        eprintln!(
            "tick/{ships}: world at end: {} ships, {} colonies, {} resting orders",
            n.ships, n.colonies, n.resting_orders
        );
    }
    group.finish();
}

// What `criterion_group!`/`criterion_main!` expand to, minus their undocumented `pub fn`.
fn main() {
    let mut c = Criterion::default().configure_from_args();
    tick_bench(&mut c);
    c.final_summary();
}
