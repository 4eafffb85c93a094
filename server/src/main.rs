//! `starforge`: the server binary (a thin wrapper over `starforge_server`).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use bevy_app::AppExit;
use clap::Parser;
use starforge_components::tuning::Tuning;
use starforge_server::hot_reload::TuningWatcher;
use starforge_server::{ServerConfig, ShutdownFlag, build_app, read_tuning_dir, spawn_signal_listener, start_network};
use tracing::info;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

fn main() -> ExitCode {
    // Bad flags: clap prints the problem and usage and exits with status 2.
    let config = ServerConfig::parse();
    match run(&config) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("starforge: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &ServerConfig) -> anyhow::Result<ExitCode> {
    let filter =
        EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).from_env().context("invalid RUST_LOG")?;
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stdout().is_terminal()).init();

    let tuning = read_tuning_dir(&config.tuning).context("cannot start")?;
    let mut app = build_app(config, tuning);
    let network = if config.offline { None } else { Some(start_network(&mut app, config).context("cannot start")?) };
    let flag: ShutdownFlag = app.world().resource::<ShutdownFlag>().clone();
    spawn_signal_listener(flag).context("cannot install SIGINT/SIGTERM handlers")?;
    let world = app.world();
    info!(
        "starforge started: seed={} tick_hz={} tuning={} hot_reload={}",
        config.seed,
        world.resource::<Tuning>().world.tick_hz,
        config.tuning.display(),
        if world.resource::<TuningWatcher>().is_watching() { "on" } else { "off" },
    );
    match &network {
        Some(n) => info!("listening: http://{} (login, /metrics, /health), udp {} (game)", n.http.addr, n.udp),
        None => info!("offline: no HTTP, no UDP"),
    }
    Ok(match app.run() {
        AppExit::Success => ExitCode::SUCCESS,
        AppExit::Error(code) => ExitCode::from(code.get()),
    })
}
