//! Feeds the metrics registry from the tick loop: whole-tick wall time, each simulation set's
//! wall time, overruns, the tick, entity counts.

use std::sync::Arc;
use std::time::Instant;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;
use starforge_systems::SimSystems;

use crate::metrics::Metrics;
use crate::tick_timing::TickTiming;

/// The sets, in tick order, with their metric labels.
const SETS: [(SimSystems, &str); 6] = [
    (SimSystems::Input, "input"),
    (SimSystems::Movement, "movement"),
    (SimSystems::Combat, "combat"),
    (SimSystems::Production, "production"),
    (SimSystems::Market, "market"),
    (SimSystems::Bookkeeping, "bookkeeping"),
];

/// The registry, as a resource.
#[derive(Resource, Clone)]
pub struct MetricsHandle(pub Arc<Metrics>);

#[derive(Resource, Default)]
struct Marks {
    at: [Option<Instant>; SETS.len() + 1],
    overruns_seen: u64,
}

/// Adds the metric systems (after `SimulationPlugin` and `TickTimingPlugin`).
pub struct ObservePlugin(pub Arc<Metrics>);

impl Plugin for ObservePlugin {
    fn build(&self, app: &mut App) {
        use SimSystems::*;
        app.insert_resource(MetricsHandle(self.0.clone())).init_resource::<Marks>();
        app.add_systems(
            FixedUpdate,
            (
                stamp::<0>.before(Input),
                stamp::<1>.after(Input).before(Movement),
                stamp::<2>.after(Movement).before(Combat),
                stamp::<3>.after(Combat).before(Production),
                stamp::<4>.after(Production).before(Market),
                stamp::<5>.after(Market).before(Bookkeeping),
                stamp::<6>.after(Bookkeeping).before(crate::net::NetSystems),
            ),
        )
        .add_systems(FixedLast, publish.after(crate::tick_timing::TickTimingSystems::End));
    }
}

fn stamp<const I: usize>(mut marks: ResMut<Marks>, metrics: Res<MetricsHandle>) {
    let now = Instant::now();
    marks.at[I] = Some(now);
    if I > 0
        && let Some(prev) = marks.at[I - 1]
    {
        metrics.0.observe_set(SETS[I - 1].1, now.saturating_duration_since(prev));
    }
}

#[expect(clippy::too_many_arguments, reason = "one query per entity kind counted")]
fn publish(
    mut marks: ResMut<Marks>,
    metrics: Res<MetricsHandle>,
    timing: Res<TickTiming>,
    tick: Res<SimTick>,
    ships: Query<(), With<Ship>>,
    colonies: Query<(), With<Colony>>,
    fleets: Query<(), With<Fleet>>,
    empires: Query<(), With<Empire>>,
    market: Res<Market>,
) {
    let m = &metrics.0;
    m.observe_tick(timing.last_took);
    m.add_overruns(timing.overruns_total - marks.overruns_seen);
    marks.overruns_seen = timing.overruns_total;
    m.set_tick(tick.0);
    if tick.0.is_multiple_of(20) {
        m.set_entities("ships", ships.iter().count() as u64);
        m.set_entities("colonies", colonies.iter().count() as u64);
        m.set_entities("fleets", fleets.iter().count() as u64);
        m.set_entities("empires", empires.iter().count() as u64);
        m.set_entities("orders", market.resting() as u64);
    }
}
