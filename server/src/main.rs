//! `starforge`: the server binary (a thin wrapper over `starforge_server`).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use bevy_app::AppExit;
use clap::Parser;
use starforge_components::tuning::Tuning;
use starforge_server::accounts::{AccountStore, DbAccounts, MemoryAccounts};
use starforge_server::config::Command;
use starforge_server::hot_reload::TuningWatcher;
use starforge_server::{
    ServerConfig, ShutdownFlag, build_persistent_app, feed, read_tuning_dir, spawn_signal_listener, start_network,
    storage,
};
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
    if let Some(Command::Placement(command)) = &config.command {
        print!("{}", starforge_server::placement::run(config, command)?);
        return Ok(ExitCode::SUCCESS);
    }
    let filter =
        EnvFilter::builder().with_default_directive(LevelFilter::INFO.into()).from_env().context("invalid RUST_LOG")?;
    starforge_server::logs::init(filter, std::io::stdout().is_terminal()).context("cannot set up logging")?;

    let tuning = read_tuning_dir(&config.tuning).context("cannot start")?;
    let mut storage = storage::open_storage(config).context("cannot start")?;
    let mut app = build_persistent_app(config, tuning, storage.as_mut()).context("cannot start")?;
    let (accounts, cache): (Arc<dyn AccountStore>, _) = match &storage {
        Some(s) => (Arc::new(DbAccounts::new(s.profiles.clone())), Some(s.profiles.stats())),
        None => (Arc::new(MemoryAccounts::new()), None),
    };
    if let Some(s) = &storage {
        feed::add_redis_feed(&mut app, s);
    }
    let network = if config.offline {
        None
    } else {
        Some(start_network(&mut app, config, accounts, cache).context("cannot start")?)
    };
    let flag: ShutdownFlag = app.world().resource::<ShutdownFlag>().clone();
    spawn_signal_listener(flag).context("cannot install SIGINT/SIGTERM handlers")?;
    let world = app.world();
    info!(
        "starforge started: seed={} tick={} tick_hz={} storage={} tuning={} hot_reload={}",
        world.resource::<starforge_components::sim::WorldSeed>().0,
        world.resource::<starforge_components::sim::SimTick>().0,
        world.resource::<Tuning>().world.tick_hz,
        storage.as_ref().map_or_else(|| "none (--ephemeral)".to_owned(), |s| format!("{:?}", s.target)),
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
