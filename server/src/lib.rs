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
pub mod feed;
pub mod gate;
pub mod hot_reload;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod net;
pub mod observe;
pub mod placement;
pub mod ratelimit;
pub mod shutdown;
pub mod status;
pub mod storage;
#[cfg(test)]
mod test_support;
pub mod tick_timing;
pub mod token;
pub mod tuning_dir;

pub use config::ServerConfig;
pub use shutdown::{ShutdownFlag, spawn_signal_listener};
pub use tuning_dir::{LoadError, read_tuning_dir};

/// Builds the headless server app with a generated world and nothing saved, ready to `run()`
/// (tests and benchmarks; the binary uses [`build_persistent_app`]).
///
/// `--tick-hz` (if given) replaces `tuning.world.tick_hz`, so systems that read the tick
/// rate from [`Tuning`] agree with `Time<Fixed>`. Tests may also drive it directly with
/// `app.world_mut().run_schedule(FixedMain)`.
pub fn build_app(config: &ServerConfig, tuning: Tuning) -> App {
    let mut app = base_app(config, tuning);
    generate_world(app.world_mut(), &gen_params(config));
    app
}

/// Builds the server app over `storage`: the saved world restored (or a new one generated
/// and saved), persistence on. Without storage (`--ephemeral`) the same as [`build_app`].
pub fn build_persistent_app(
    config: &ServerConfig,
    tuning: Tuning,
    storage: Option<&mut storage::Storage>,
) -> anyhow::Result<App> {
    let Some(storage) = storage else { return Ok(build_app(config, tuning)) };
    let mut app = base_app(config, tuning);
    let params = gen_params(config);
    storage::install(&mut app, storage, config, |world| generate_world(world, &params))?;
    Ok(app)
}

fn gen_params(config: &ServerConfig) -> GenParams {
    GenParams {
        seed: config.seed,
        systems: config.systems,
        ships: config.ships,
        colonies: config.colonies,
        resting_orders: config.resting_orders,
    }
}

/// The app with every plugin and no world yet.
fn base_app(config: &ServerConfig, mut tuning: Tuning) -> App {
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
    app
}

/// The running network side: the HTTP server (login, metrics, health) and the UDP address.
pub struct Network {
    /// The HTTP server; dropping it stops it.
    pub http: http::HttpHandle,
    /// The bound UDP address (the one written into connect tokens).
    pub udp: std::net::SocketAddr,
    /// The metrics registry `/metrics` renders.
    pub metrics: std::sync::Arc<metrics::Metrics>,
}

/// Binds the UDP socket and the HTTP server and adds the network systems to `app`.
///
/// `accounts` is where logins look players up: `accounts::DbAccounts` over the database (the
/// binary), or `accounts::MemoryAccounts` (tests, `--ephemeral`). `cache` (the login cache's
/// counters) and the writer's state, if the app persists, are reported on `/metrics` and
/// `/health`.
pub fn start_network(
    app: &mut App,
    config: &ServerConfig,
    accounts: std::sync::Arc<dyn accounts::AccountStore>,
    cache: Option<std::sync::Arc<starforge_persistence::CacheStats>>,
) -> anyhow::Result<Network> {
    use std::sync::Arc;

    use anyhow::Context;
    use renet_netcode::{ServerAuthentication, ServerConfig as NetcodeConfig};

    let galaxy = net::convert::galaxy_info(app.world().resource::<starforge_components::galaxy::Galaxy>());
    let welcome_bytes = starforge_shared::wire::encode(&galaxy).map(|b| b.len()).unwrap_or(usize::MAX);
    if welcome_bytes + 1024 > starforge_shared::protocol::MAX_WELCOME_BYTES {
        anyhow::bail!(
            "the galaxy ({} systems) is too large for the welcome message: {welcome_bytes} bytes, limit {} \
             (use fewer systems; about 40,000 fit)",
            galaxy.systems.len(),
            starforge_shared::protocol::MAX_WELCOME_BYTES
        );
    }
    let (key, source) = token::load_private_key(config.netcode_key.as_deref()).context("netcode key")?;
    if source == token::KeySource::Generated {
        tracing::warn!(
            "no netcode key configured: using a random one; tokens will not survive a restart \
             (set STARFORGE_NETCODE_KEY to 64 hex characters in production)"
        );
    }
    let socket = bind_udp(config.udp).with_context(|| format!("cannot bind UDP {}", config.udp))?;
    let udp = socket.local_addr().context("UDP address")?;
    let protocol_id = starforge_shared::protocol::protocol_id(starforge_shared::PROTOCOL_VERSION);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    socket.set_nonblocking(true).context("UDP socket")?;
    let ingress = starforge_shared::ingress::Ingress::new(
        NetcodeConfig {
            current_time: now,
            max_clients: MAX_CLIENTS,
            protocol_id,
            public_addresses: vec![udp],
            authentication: ServerAuthentication::Secure { private_key: key },
        },
        socket,
    );
    // What the server may hold unacknowledged for one client on the events channel: this
    // galaxy's welcome plus room for events. A client that stops acknowledging is dropped when
    // it is full, so this bounds its memory (the shared default must fit the largest galaxy).
    let mut connection = starforge_shared::protocol::connection_config();
    for c in &mut connection.server_channels_config {
        if c.channel_id == starforge_shared::protocol::channel::EVENTS {
            c.max_memory_usage_bytes = welcome_bytes + starforge_shared::protocol::EVENTS_HEADROOM_BYTES;
        }
    }
    let renet = renet::RenetServer::new(connection);
    let (gate, requests) = gate::GameGate::channel(4096);
    let metrics = Arc::new(metrics::Metrics::new());
    let health = Arc::new(http::HealthState::new());
    let tuning = app.world().resource::<Tuning>();
    let tick_hz = tuning.world.tick_hz;
    let timeout = i32::try_from(tuning.network.client_timeout_s).unwrap_or(10);
    let tokens = Arc::new(token::TokenIssuer::new(key, protocol_id, udp, TOKEN_EXPIRY_S, timeout));
    let state = http::HttpState {
        accounts,
        gate,
        tokens,
        metrics: metrics.clone(),
        health: health.clone(),
        admin_token: config.admin_token.clone().filter(|t| !t.is_empty()),
        tick_hz,
        rate_limits: ratelimit::RateLimits {
            signups_per_minute: config.signups_per_minute,
            failed_logins_per_minute: config.failed_logins_per_minute,
            exempt_loopback: true,
        },
        limits: http::HttpLimits {
            header_timeout: config.http_header_timeout,
            body_timeout: config.http_body_timeout,
            max_connections: config.http_max_connections as usize,
        },
    };
    let http = http::spawn_http(config.http, state).with_context(|| format!("cannot serve HTTP on {}", config.http))?;
    storage::add_reporting(app, storage::PersistReport { metrics: metrics.clone(), health: health.clone(), cache });
    app.insert_resource(net::NetServer::new(galaxy, renet, ingress, requests, metrics.clone(), health));
    app.add_plugins((net::NetPlugin, observe::ObservePlugin(metrics.clone())));
    Ok(Network { http, udp, metrics })
}

/// Socket buffer asked for (bytes; the kernel caps it at `net.core.rmem_max`/`wmem_max`).
/// The default (~208 KiB) overflows between two frames with ~1,000 clients sending ~20
/// packets per second each, and the kernel then drops packets silently.
pub const UDP_BUFFER_BYTES: usize = 8 << 20;

/// Binds the game socket with large kernel buffers.
fn bind_udp(addr: std::net::SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!("cannot enlarge the UDP receive buffer: {e}");
    }
    if let Err(e) = socket.set_send_buffer_size(UDP_BUFFER_BYTES) {
        tracing::warn!("cannot enlarge the UDP send buffer: {e}");
    }
    socket.bind(&addr.into())?;
    let (recv, send) = (socket.recv_buffer_size().unwrap_or(0), socket.send_buffer_size().unwrap_or(0));
    tracing::info!(recv, send, "UDP socket buffers (bytes; raise net.core.rmem_max/wmem_max for more)");
    Ok(socket.into())
}

/// Most concurrent connections (renetcode's limit per server socket).
pub const MAX_CLIENTS: usize = 1024;
/// Seconds a connect token stays valid after login.
pub const TOKEN_EXPIRY_S: u64 = 300;

/// How long the run loop sleeps between frames: a quarter tick, within 1 to 5 ms, so a tick
/// starts at most that late and an idle server does not spin.
fn runner_wait(period: Duration) -> Duration {
    (period / 4).clamp(Duration::from_millis(1), Duration::from_millis(5))
}
