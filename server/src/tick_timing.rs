//! Wall-clock cost of every fixed tick, overruns, the catch-up cap and the `--ticks` limit.
//!
//! Clocks are allowed here (the server) and never in `systems/`: this module only observes
//! ticks from `FixedFirst`/`FixedLast` and bounds how much game time one frame may run.

use std::time::{Duration, Instant};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_time::TimeSystems;
use bevy_time::prelude::*;
use tracing::{info, warn};

/// At most this many fixed ticks run in one frame; game time beyond that is dropped
/// (and counted), so a slow tick can never make the server spiral.
pub const MAX_CATCH_UP_TICKS: u32 = 3;

/// Tick durations kept per status interval for the p99 (at 120 Hz: over 9 minutes).
const MAX_SAMPLES: usize = 1 << 16;

/// Warnings about overruns and dropped time are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// Measures ticks, caps catch-up and stops after `--ticks`.
pub struct TickTimingPlugin {
    /// Exit with success after this many ticks (`--ticks`).
    pub tick_limit: Option<u64>,
}

/// The sets of [`TickTimingPlugin`].
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TickTimingSystems {
    /// Starts the tick's stopwatch (`FixedFirst`).
    Start,
    /// Stops it, counts overruns and the tick limit (`FixedLast`).
    End,
    /// Counts game time dropped by the catch-up cap (`First`, after time is updated).
    AccountDropped,
    /// Sets the catch-up cap for the next frame (`Last`).
    Cap,
}

impl Plugin for TickTimingPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(TickTiming::new(self.tick_limit))
            .add_systems(FixedFirst, start_tick.in_set(TickTimingSystems::Start))
            .add_systems(FixedLast, end_tick.in_set(TickTimingSystems::End))
            .add_systems(First, account_dropped_time.in_set(TickTimingSystems::AccountDropped).after(TimeSystems))
            .add_systems(Last, cap_catch_up.in_set(TickTimingSystems::Cap));
    }
}

/// What a status interval saw (see [`TickTiming::take_window`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TickWindow {
    /// Ticks run.
    pub ticks: u64,
    /// Mean wall time of a tick.
    pub mean: Duration,
    /// 99th percentile wall time of a tick.
    pub p99: Duration,
    /// Ticks that took longer than the tick period.
    pub overruns: u64,
    /// Game time dropped by the catch-up cap.
    pub dropped: Duration,
}

/// Tick timing state: whole-run totals and the current status window.
#[derive(Resource, Debug)]
pub struct TickTiming {
    /// Fixed ticks run by this process.
    pub ticks_run: u64,
    /// `--ticks`: exit after this many.
    pub tick_limit: Option<u64>,
    /// Overruns since start.
    pub overruns_total: u64,
    /// Game time dropped since start.
    pub dropped_total: Duration,
    /// Sum of all tick durations since start.
    pub busy_total: Duration,
    /// Longest tick since start.
    pub max_tick: Duration,
    started: Option<Instant>,
    /// Wall time of the newest tick.
    pub last_took: Duration,
    samples: Vec<Duration>,
    window_ticks: u64,
    window_busy: Duration,
    window_overruns: u64,
    window_dropped: Duration,
    overruns_unreported: u64,
    dropped_unreported: Duration,
    last_overrun_warning: Option<Instant>,
    last_dropped_warning: Option<Instant>,
}

impl TickTiming {
    /// Fresh timing; `tick_limit` is `--ticks`.
    pub fn new(tick_limit: Option<u64>) -> TickTiming {
        TickTiming {
            ticks_run: 0,
            tick_limit,
            overruns_total: 0,
            dropped_total: Duration::ZERO,
            busy_total: Duration::ZERO,
            max_tick: Duration::ZERO,
            started: None,
            last_took: Duration::ZERO,
            samples: Vec::new(),
            window_ticks: 0,
            window_busy: Duration::ZERO,
            window_overruns: 0,
            window_dropped: Duration::ZERO,
            overruns_unreported: 0,
            dropped_unreported: Duration::ZERO,
            last_overrun_warning: None,
            last_dropped_warning: None,
        }
    }

    /// Records one tick of wall time `took` against the budget `period`; true if it overran.
    pub fn record(&mut self, took: Duration, period: Duration) -> bool {
        self.ticks_run += 1;
        self.busy_total += took;
        self.max_tick = self.max_tick.max(took);
        self.window_ticks += 1;
        self.window_busy += took;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(took);
        }
        let overran = took > period;
        if overran {
            self.overruns_total += 1;
            self.window_overruns += 1;
        }
        overran
    }

    /// Mean tick wall time since start.
    pub fn mean_total(&self) -> Duration {
        mean(self.busy_total, self.ticks_run)
    }

    /// The current status window's numbers; starts a new window.
    pub fn take_window(&mut self) -> TickWindow {
        self.samples.sort_unstable();
        let p99 = match self.samples.len() {
            0 => Duration::ZERO,
            n => self.samples[(n * 99).div_ceil(100) - 1],
        };
        let window = TickWindow {
            ticks: self.window_ticks,
            mean: mean(self.window_busy, self.window_ticks),
            p99,
            overruns: self.window_overruns,
            dropped: self.window_dropped,
        };
        self.samples.clear();
        self.window_ticks = 0;
        self.window_busy = Duration::ZERO;
        self.window_overruns = 0;
        self.window_dropped = Duration::ZERO;
        window
    }

    /// Ticks left before `--ticks` is reached (`None`: no limit).
    pub fn remaining(&self) -> Option<u64> {
        self.tick_limit.map(|limit| limit.saturating_sub(self.ticks_run))
    }
}

fn mean(total: Duration, n: u64) -> Duration {
    match u32::try_from(n) {
        Ok(0) => Duration::ZERO,
        Ok(n) => total / n,
        Err(_) => Duration::from_secs_f64(total.as_secs_f64() / n as f64),
    }
}

/// `true` (and remembers now) if the last warning of this kind is old enough.
fn warn_due(last: &mut Option<Instant>, now: Instant) -> bool {
    if last.is_some_and(|t| now.duration_since(t) < WARN_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}

fn start_tick(mut timing: ResMut<TickTiming>) {
    timing.started = Some(Instant::now());
}

fn end_tick(mut timing: ResMut<TickTiming>, fixed: Res<Time<Fixed>>, mut exit: MessageWriter<AppExit>) {
    let now = Instant::now();
    let took = timing.started.take().map_or(Duration::ZERO, |t| now.duration_since(t));
    timing.last_took = took;
    let period = fixed.timestep();
    if timing.record(took, period) {
        timing.overruns_unreported += 1;
        if warn_due(&mut timing.last_overrun_warning, now) {
            warn!(
                "tick overrun: tick {} took {:.2} ms, budget {:.2} ms ({} overruns since last warning)",
                timing.ticks_run,
                ms(took),
                ms(period),
                timing.overruns_unreported
            );
            timing.overruns_unreported = 0;
        }
    }
    if timing.tick_limit == Some(timing.ticks_run) {
        info!("tick limit reached: {} ticks", timing.ticks_run);
        exit.write(AppExit::Success);
    }
}

/// Game time the catch-up cap dropped this frame: real time that virtual time did not get.
fn account_dropped_time(mut timing: ResMut<TickTiming>, real: Res<Time<Real>>, virt: Res<Time<Virtual>>) {
    if virt.is_paused() {
        return;
    }
    let wanted = real.delta().mul_f64(virt.relative_speed_f64());
    let dropped = wanted.saturating_sub(virt.delta());
    // Sub-millisecond differences are scheduling noise, not lag.
    if dropped < Duration::from_millis(1) {
        return;
    }
    timing.dropped_total += dropped;
    timing.window_dropped += dropped;
    timing.dropped_unreported += dropped;
    if warn_due(&mut timing.last_dropped_warning, Instant::now()) {
        warn!(
            "server behind: dropped {:.1} ms of game time (catch-up is capped at {MAX_CATCH_UP_TICKS} ticks per frame)",
            ms(timing.dropped_unreported)
        );
        timing.dropped_unreported = Duration::ZERO;
    }
}

/// Limits the next frame to [`MAX_CATCH_UP_TICKS`] ticks, and to the ticks left under
/// `--ticks` so that exactly that many run.
fn cap_catch_up(timing: Res<TickTiming>, fixed: Res<Time<Fixed>>, mut virt: ResMut<Time<Virtual>>) {
    let ticks = match timing.remaining() {
        Some(0) => return,
        Some(left) => left.min(u64::from(MAX_CATCH_UP_TICKS)) as u32,
        None => MAX_CATCH_UP_TICKS,
    };
    let cap = fixed.timestep() * ticks;
    if virt.max_delta() != cap && !cap.is_zero() {
        virt.set_max_delta(cap);
    }
}

/// A duration in milliseconds, for logs.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_mean_p99_and_overruns() {
        let mut t = TickTiming::new(None);
        let period = Duration::from_millis(50);
        for i in 1..=100 {
            t.record(Duration::from_millis(i), period);
        }
        let w = t.take_window();
        assert_eq!(w.ticks, 100);
        assert_eq!(w.p99, Duration::from_millis(99), "p99 of 1..=100 ms");
        assert_eq!(w.mean, Duration::from_micros(50_500));
        assert_eq!(w.overruns, 50, "51..=100 ms exceed 50 ms");
        assert_eq!(t.take_window(), TickWindow::default(), "a new window starts empty");
        assert_eq!((t.ticks_run, t.overruns_total), (100, 50), "totals are kept");
        assert_eq!(t.max_tick, Duration::from_millis(100));
    }

    #[test]
    fn remaining_ticks() {
        let mut t = TickTiming::new(Some(2));
        assert_eq!(t.remaining(), Some(2));
        t.record(Duration::ZERO, Duration::from_millis(1));
        t.record(Duration::ZERO, Duration::from_millis(1));
        assert_eq!(t.remaining(), Some(0));
        assert_eq!(TickTiming::new(None).remaining(), None);
    }
}
