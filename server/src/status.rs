//! The periodic status line and the final summary line.

use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use starforge_components::prelude::*;
use tracing::info;

use crate::tick_timing::{TickTiming, ms};

/// Logs a status line every `interval` and a summary when the app exits.
pub struct StatusLogPlugin {
    /// `--log-interval`.
    pub interval: Duration,
}

/// The sets of [`StatusLogPlugin`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusLogSystems {
    /// The periodic status line (`Last`).
    Status,
    /// The summary when an `AppExit` was written this frame (`Last`, after `Status`).
    Summary,
}

impl Plugin for StatusLogPlugin {
    fn build(&self, app: &mut App) {
        let now = Instant::now();
        app.insert_resource(StatusLog {
            interval: self.interval,
            started: now,
            last: now,
            last_stats: SimStats::default(),
            summarized: false,
        })
        .add_systems(
            Last,
            (log_status.in_set(StatusLogSystems::Status), log_summary_on_exit.in_set(StatusLogSystems::Summary))
                .chain(),
        );
    }
}

/// When the last status line was written and the counters it saw.
#[derive(Resource, Debug)]
pub struct StatusLog {
    interval: Duration,
    started: Instant,
    last: Instant,
    last_stats: SimStats,
    summarized: bool,
}

/// Entity counts by kind.
#[derive(SystemParam)]
pub struct KindCounts<'w, 's> {
    ships: Query<'w, 's, (), With<Ship>>,
    colonies: Query<'w, 's, (), With<Colony>>,
    fleets: Query<'w, 's, (), With<Fleet>>,
    empires: Query<'w, 's, (), With<Empire>>,
}

impl KindCounts<'_, '_> {
    /// `ships=… colonies=… fleets=… empires=…`.
    fn line(&self) -> String {
        format!(
            "ships={} colonies={} fleets={} empires={}",
            self.ships.iter().count(),
            self.colonies.iter().count(),
            self.fleets.iter().count(),
            self.empires.iter().count()
        )
    }
}

fn log_status(
    mut log: ResMut<StatusLog>,
    mut timing: ResMut<TickTiming>,
    tick: Res<SimTick>,
    stats: Res<SimStats>,
    counts: KindCounts,
    net: Option<Res<crate::net::NetServer>>,
) {
    let now = Instant::now();
    if now.duration_since(log.last) < log.interval {
        return;
    }
    let w = timing.take_window();
    let clients = net.map_or_else(|| "offline".to_owned(), |n| n.connected().to_string());
    info!(
        "tick={}, tick_ms mean={:.3} p99={:.3}, clients={clients}, {}, battles={} trades={} (since last log), overruns={}, dropped_ms={:.0}",
        tick.0,
        ms(w.mean),
        ms(w.p99),
        counts.line(),
        stats.battles.saturating_sub(log.last_stats.battles),
        stats.trades.saturating_sub(log.last_stats.trades),
        w.overruns,
        ms(w.dropped),
    );
    log.last = now;
    log.last_stats = *stats;
}

fn log_summary_on_exit(
    mut exits: MessageReader<AppExit>,
    mut log: ResMut<StatusLog>,
    timing: Res<TickTiming>,
    tick: Res<SimTick>,
    stats: Res<SimStats>,
    counts: KindCounts,
) {
    let Some(exit) = exits.read().last().cloned() else {
        return;
    };
    if std::mem::replace(&mut log.summarized, true) {
        return;
    }
    info!(
        "summary: exit={exit:?} ticks_run={} tick={} uptime_s={:.1}, tick_ms mean={:.3} max={:.3}, overruns={} dropped_ms={:.0}, {}, battles={} shots={} ships_destroyed={} ships_built={} trades={} (total)",
        timing.ticks_run,
        tick.0,
        log.started.elapsed().as_secs_f64(),
        ms(timing.mean_total()),
        ms(timing.max_tick),
        timing.overruns_total,
        ms(timing.dropped_total),
        counts.line(),
        stats.battles,
        stats.shots,
        stats.ships_destroyed,
        stats.ships_built,
        stats.trades,
    );
}
