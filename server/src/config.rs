//! Command-line configuration of the server (`starforge --help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Everything an operator sets on the command line. Logging is set with `RUST_LOG`
/// (default `info`, e.g. `RUST_LOG=starforge_server=debug,info`).
#[derive(Parser, Clone, Debug, PartialEq)]
#[command(name = "starforge", version, about = "Starforge authoritative simulation server")]
pub struct ServerConfig {
    /// World seed; the same seed generates the same galaxy.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Star systems to generate (galaxy size; default: `systems` in world.ron).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub systems: Option<u32>,
    /// Total ships to generate (default: from the NPC densities in npc.ron).
    #[arg(long, value_name = "N")]
    pub ships: Option<u32>,
    /// Colonies to generate (default: `colonies_per_system` in npc.ron).
    #[arg(long, value_name = "N")]
    pub colonies: Option<u32>,
    /// Resting market orders to seed the exchange with at generation.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub resting_orders: u32,
    /// Fixed ticks per second, 1 to 120; overrides `tick_hz` in world.ron (also on hot reload).
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(1..=120))]
    pub tick_hz: Option<u32>,
    /// Directory holding the six tuning files (watched for hot reload).
    #[arg(long, value_name = "DIR", default_value = "tuning")]
    pub tuning: PathBuf,
    /// Seconds between status log lines (fractions allowed, e.g. 0.5).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_interval)]
    pub log_interval: Duration,
    /// Run this many ticks, then exit with status 0 (for tests and CI).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub ticks: Option<u64>,
    /// HTTP address: login (`POST /v1/login`), `/metrics`, `/health`, admin API.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7000")]
    pub http: SocketAddr,
    /// Seconds an HTTP client has to send a request's line and headers, counted from when the
    /// server starts waiting for it: on a new connection and after each answer on a kept-alive
    /// one (so this is also the keep-alive idle timeout). Then the connection is closed.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_interval)]
    pub http_header_timeout: Duration,
    /// Seconds an HTTP client has to send a request body (then 408 and the connection is closed);
    /// also the longest an answer may wait for the client to read it.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_interval)]
    pub http_body_timeout: Duration,
    /// Open HTTP connections at most; a connection over the limit is answered 503 and closed.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub http_max_connections: u32,
    /// UDP address for game traffic (netcode). Its real bound address goes into connect tokens,
    /// so it must be the address clients reach (not 0.0.0.0 in production).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7001")]
    pub udp: SocketAddr,
    /// The netcode private key (64 hex characters) that signs connect tokens; default: the
    /// `STARFORGE_NETCODE_KEY` environment variable, else a random key for this run.
    #[arg(long, value_name = "HEX", env = "STARFORGE_NETCODE_KEY", hide_env_values = true)]
    pub netcode_key: Option<String>,
    /// Bearer token of the admin API (`POST /v1/admin/kick`); unset disables it.
    #[arg(long, value_name = "TOKEN", env = "STARFORGE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Run the simulation only, without HTTP and UDP (benchmarks, tests).
    #[arg(long)]
    pub offline: bool,
    /// New accounts per IP address per minute (0 = unlimited; loopback is never limited).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub signups_per_minute: u32,
    /// Failed logins per IP address per minute before 429 (0 = unlimited; loopback is never limited).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub failed_logins_per_minute: u32,
    /// Postgres URL (`postgres://user:pass@host:5432/db`) to store the world and accounts in;
    /// default: the `DATABASE_URL` environment variable, else the SQLite file `--db-path`.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// SQLite file used when no Postgres URL is given (created with its directory if missing).
    #[arg(long, value_name = "FILE", default_value = "starforge.db")]
    pub db_path: PathBuf,
    /// Keep everything in memory: no database, nothing saved (benchmarks, tests, throwaway runs).
    #[arg(long)]
    pub ephemeral: bool,
    /// Redis URL for the login cache, leaderboard and market ticker; default: `REDIS_URL`;
    /// unset runs without Redis.
    #[arg(long, value_name = "URL", env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel (several servers can share one Redis).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub redis_prefix: String,
    /// Longest wait at shutdown for the database to confirm the final state (seconds).
    #[arg(long, value_name = "SECS", default_value = "60", value_parser = parse_interval)]
    pub shutdown_timeout: Duration,
    /// File the whole world is saved to when the database does not confirm it at shutdown; the
    /// next start writes it to the database first. Default: `<db-path>.spill` with SQLite,
    /// `starforge.spill` in the working directory with Postgres.
    #[arg(long, value_name = "FILE")]
    pub spill_path: Option<PathBuf>,
    /// Longest wait for each startup step against the database (migrations, a spill file,
    /// reading the saved world, listing accounts), in seconds: a step still waiting then stops startup, naming
    /// the sessions that hold the locks it waits for. A slow step says so every 10 s before.
    #[arg(long, value_name = "SECS", default_value = "600", value_parser = parse_interval)]
    pub startup_timeout: Duration,
    /// A command to run instead of the server.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands besides running the server.
#[derive(clap::Subcommand, Clone, Debug, PartialEq)]
pub enum Command {
    /// Which shard owns which star system (docs/SHARDING.md). Needs Postgres (`DATABASE_URL`).
    #[command(subcommand)]
    Placement(PlacementCommand),
}

/// `starforge placement ...`.
#[derive(clap::Subcommand, Clone, Debug, PartialEq)]
pub enum PlacementCommand {
    /// Checks a placement file against the galaxy (`--systems`, else `systems` in world.ron) and
    /// writes it into the database in one transaction.
    Apply {
        /// The placement file (RON; see deploy/placement.ron).
        file: PathBuf,
        /// Only check the file against the galaxy's size; do not open the database (so what
        /// only the database can refuse — a renamed galaxy, a changed ordinal — is not checked).
        #[arg(long)]
        check: bool,
    },
    /// Prints the placement the database holds.
    Show,
}

impl ServerConfig {
    /// Parses `args` (the first item is the program name); errors carry clap's message.
    pub fn try_from_args<I, T>(args: I) -> Result<ServerConfig, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        ServerConfig::try_parse_from(args)
    }
}

impl Default for ServerConfig {
    /// The configuration with no flags given.
    fn default() -> Self {
        ServerConfig {
            seed: 1,
            systems: None,
            ships: None,
            colonies: None,
            resting_orders: 0,
            tick_hz: None,
            tuning: PathBuf::from("tuning"),
            log_interval: Duration::from_secs(5),
            ticks: None,
            http: SocketAddr::from(([127, 0, 0, 1], 7000)),
            http_header_timeout: Duration::from_secs(10),
            http_body_timeout: Duration::from_secs(10),
            http_max_connections: 512,
            udp: SocketAddr::from(([127, 0, 0, 1], 7001)),
            netcode_key: None,
            admin_token: None,
            offline: false,
            signups_per_minute: 10,
            failed_logins_per_minute: 20,
            database_url: None,
            db_path: PathBuf::from("starforge.db"),
            ephemeral: false,
            redis_url: None,
            redis_prefix: String::new(),
            shutdown_timeout: Duration::from_secs(60),
            spill_path: None,
            startup_timeout: Duration::from_secs(600),
            command: None,
        }
    }
}

/// A positive number of seconds, at most a day.
fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("must be more than 0 and at most 86400 seconds (got {s})"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerConfig, clap::Error> {
        ServerConfig::try_from_args(std::iter::once("starforge").chain(args.iter().copied()))
    }

    #[test]
    fn no_flags_is_the_default() {
        assert_eq!(parse(&[]).expect("no flags"), ServerConfig::default());
    }

    #[test]
    fn placement_commands_parse_with_the_server_flags() {
        let c = parse(&["--systems", "12", "placement", "apply", "p.ron", "--check"]).expect("valid");
        assert_eq!(c.systems, Some(12));
        assert_eq!(
            c.command,
            Some(Command::Placement(PlacementCommand::Apply { file: PathBuf::from("p.ron"), check: true }))
        );
        assert_eq!(
            parse(&["placement", "show"]).expect("valid").command,
            Some(Command::Placement(PlacementCommand::Show))
        );
        assert!(parse(&["placement", "apply"]).is_err(), "the file is required");
        assert!(parse(&["placement"]).is_err(), "a placement command is required");
    }

    #[test]
    fn all_flags_parse() {
        let c = parse(&[
            "--seed",
            "7",
            "--systems",
            "20",
            "--ships",
            "100",
            "--colonies",
            "5",
            "--tick-hz",
            "50",
            "--tuning",
            "/tmp/t",
            "--log-interval",
            "0.5",
            "--ticks",
            "40",
            "--resting-orders",
            "3",
        ])
        .expect("valid flags");
        assert_eq!(c.seed, 7);
        assert_eq!((c.systems, c.ships, c.colonies), (Some(20), Some(100), Some(5)));
        assert_eq!(c.tick_hz, Some(50));
        assert_eq!(c.tuning, PathBuf::from("/tmp/t"));
        assert_eq!(c.log_interval, Duration::from_millis(500));
        assert_eq!((c.ticks, c.resting_orders), (Some(40), 3));
    }

    #[test]
    fn http_limit_flags_parse() {
        let c = parse(&["--http-header-timeout", "1.5", "--http-body-timeout", "3", "--http-max-connections", "64"])
            .expect("valid flags");
        assert_eq!((c.http_header_timeout, c.http_body_timeout), (Duration::from_millis(1500), Duration::from_secs(3)));
        assert_eq!(c.http_max_connections, 64);
        let cases = [
            (["--http-max-connections", "0"], "--http-max-connections"),
            (["--http-header-timeout", "0"], "must be more than 0"),
            (["--http-body-timeout", "soon"], "not a number of seconds"),
        ];
        for (args, expected) in cases {
            let err = parse(&args).expect_err("invalid HTTP limit").to_string();
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let cases: [(&[&str], &str); 7] = [
            (&["--tick-hz", "0"], "--tick-hz"),
            (&["--tick-hz", "500"], "--tick-hz"),
            (&["--seed=-1"], "--seed"),
            (&["--systems", "lots"], "--systems"),
            (&["--log-interval", "0"], "must be more than 0"),
            (&["--log-interval", "soon"], "not a number of seconds"),
            (&["--ticks", "0"], "--ticks"),
        ];
        for (args, expected) in cases {
            let err = parse(args).expect_err("invalid flag value");
            let msg = err.to_string();
            assert!(msg.contains(expected), "{args:?}: {msg}");
        }
        let err = parse(&["--frobnicate"]).expect_err("unknown flag");
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
