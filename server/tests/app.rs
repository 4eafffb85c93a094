//! `build_app` without the run loop: ticks driven directly, tick limit, catch-up cap.

use std::path::PathBuf;
use std::time::Duration;

use bevy_app::{App, AppExit, FixedMain};
use bevy_time::{Fixed, Time, TimeUpdateStrategy};
use starforge_components::prelude::*;
use starforge_server::tick_timing::TickTiming;
use starforge_server::{ServerConfig, build_app};

fn config(args: &[&str]) -> ServerConfig {
    let tuning = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tuning");
    let mut c =
        ServerConfig::try_from_args(std::iter::once("starforge").chain(args.iter().copied())).expect("valid flags");
    c.tuning = tuning;
    c
}

fn ticks_run(app: &App) -> u64 {
    app.world().resource::<TickTiming>().ticks_run
}

#[test]
fn fixed_main_runs_ticks() {
    let mut app = build_app(&config(&["--systems", "20"]), Tuning::default());
    for _ in 0..10 {
        app.world_mut().run_schedule(FixedMain);
    }
    assert_eq!(ticks_run(&app), 10, "each FixedMain run is one timed tick");
    let sim_tick = app.world().resource::<SimTick>().0;
    assert!(sim_tick == 0 || sim_tick == 10, "SimTick advances once per tick if at all: {sim_tick}");
}

#[test]
fn tick_hz_flag_overrides_tuning() {
    let app = build_app(&config(&["--tick-hz", "50"]), Tuning::default());
    assert_eq!(app.world().resource::<Tuning>().world.tick_hz, 50, "Tuning agrees with the flag");
    assert_eq!(app.world().resource::<Time<Fixed>>().timestep(), Duration::from_millis(20));
}

/// Frames that each want 10 ticks of game time run at most 3 (the rest is dropped and
/// counted), and `--ticks` stops after exactly that many ticks.
#[test]
fn catch_up_is_capped_and_tick_limit_is_exact() {
    let mut app = build_app(&config(&["--ticks", "7", "--tick-hz", "20"]), Tuning::default());
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(500)));
    app.finish();
    app.cleanup();
    let mut frames = 0;
    while app.should_exit().is_none() {
        let before = ticks_run(&app);
        app.update();
        frames += 1;
        assert!(ticks_run(&app) - before <= 3, "at most 3 ticks per frame");
        assert!(frames < 100, "the tick limit stops the app");
    }
    assert_eq!(app.should_exit(), Some(AppExit::Success));
    assert_eq!(ticks_run(&app), 7, "exactly --ticks ticks");
    let timing = app.world().resource::<TickTiming>();
    assert!(timing.dropped_total >= Duration::from_millis(350), "dropped: {:?}", timing.dropped_total);
}
