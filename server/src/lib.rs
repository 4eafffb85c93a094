//! The Starforge server: configuration, plugin assembly, tuning hot reload and the run loop.
//!
//! `main.rs` is a thin wrapper: parse [`ServerConfig`], read the tuning directory with
//! [`read_tuning_dir`], [`build_app`], install signal handlers, run.
//!
//! One frame of the headless app, in order:
//! 1. `First`: time advances; game time beyond the catch-up cap is counted as dropped.
//! 2. `PreUpdate`: a shutdown request becomes `AppExit`; changed tuning files are reloaded.
//! 3. `RunFixedMainLoop`: zero to [`tick_timing::MAX_CATCH_UP_TICKS`] fixed ticks, each
//!    timed from `FixedFirst` to `FixedLast` around the simulation in `FixedUpdate`.
//! 4. `Last`: the catch-up cap for the next frame; the status line; the summary on exit.

use std::time::Duration;

use bevy_app::{ScheduleRunnerPlugin, TaskPoolPlugin, prelude::*};
use bevy_time::{TimePlugin, prelude::*};
use starforge_components::prelude::*;
use starforge_systems::SimulationPlugin;
use starforge_systems::worldgen::{GenParams, generate_world};

pub mod accounts;
pub mod config;
pub mod gate;
pub mod hot_reload;
pub mod http;
pub mod http_client;
pub mod metrics;
pub mod shutdown;
pub mod status;
#[cfg(test)]
mod test_support;
pub mod tick_timing;
pub mod token;
pub mod tuning_dir;

pub use config::ServerConfig;
pub use shutdown::{ShutdownFlag, spawn_signal_listener};
pub use tuning_dir::{LoadError, read_tuning_dir};

/// Builds the headless server app with a generated world, ready to `run()`.
///
/// `--tick-hz` (if given) replaces `tuning.world.tick_hz`, so systems that read the tick
/// rate from [`Tuning`] agree with `Time<Fixed>`. Tests may also drive it directly with
/// `app.world_mut().run_schedule(FixedMain)`.
pub fn build_app(config: &ServerConfig, mut tuning: Tuning) -> App {
    if let Some(hz) = config.tick_hz {
        tuning.world.tick_hz = hz;
    }
    let period = Duration::from_secs_f64(1.0 / f64::from(tuning.world.tick_hz.max(1)));
    let mut app = App::new();
    app.add_plugins((TaskPoolPlugin::default(), ScheduleRunnerPlugin::run_loop(runner_wait(period)), TimePlugin));
    app.insert_resource(Time::<Fixed>::from_duration(period));
    let mut virt = Time::<Virtual>::default();
    // The first frame's cap; `TickTimingPlugin` keeps it up to date from then on.
    let first_cap = config.ticks.map_or(tick_timing::MAX_CATCH_UP_TICKS, |n| {
        u32::try_from(n).unwrap_or(u32::MAX).min(tick_timing::MAX_CATCH_UP_TICKS)
    });
    virt.set_max_delta(period * first_cap);
    app.insert_resource(virt);
    app.insert_resource(tuning).add_plugins(SimulationPlugin).add_plugins((
        tick_timing::TickTimingPlugin { tick_limit: config.ticks },
        status::StatusLogPlugin { interval: config.log_interval },
        shutdown::ShutdownPlugin,
        hot_reload::TuningReloadPlugin { dir: config.tuning.clone(), tick_hz_override: config.tick_hz },
    ));
    let params = GenParams {
        seed: config.seed,
        systems: config.systems,
        ships: config.ships,
        colonies: config.colonies,
        resting_orders: config.resting_orders,
    };
    generate_world(app.world_mut(), &params);
    app
}

/// How long the run loop sleeps between frames: a quarter tick, within 1 to 5 ms, so a tick
/// starts at most that late and an idle server does not spin.
fn runner_wait(period: Duration) -> Duration {
    (period / 4).clamp(Duration::from_millis(1), Duration::from_millis(5))
}
