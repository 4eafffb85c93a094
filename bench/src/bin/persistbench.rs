//! `persistbench`: world persistence against a real Postgres (and Redis, for login hydration).
//!
//! `persistbench --database-url URL [--redis-url URL] [--ships N]` works in a scratch database
//! of its own, `persistbench_<random>`, created on the server `URL` names (the URL's own
//! database is only used to create and drop it) and dropped at the end, also on an error, a
//! panic or Ctrl-C (`--keep` keeps it); Redis keys go under `persistbench:<random>:`, deleted
//! at the end. Phases:
//!
//! 1. **Census**: how many entities the simulation marks changed per tick (what persistence
//!    collects), in the same world as the timed runs.
//! 2. **Pairs of tick runs** (`--pairs`, OFF then ON, then ON then OFF, ...): the same generated
//!    world (same seed) each time; OFF is the simulation alone, ON adds `PersistencePlugin` and
//!    a `Persister` writing to the scratch database (tables emptied first) at the shipped flush
//!    interval. Each run warms up (ON: the first batch, the whole world, is written then), then
//!    times every tick (`FixedMain`) individually, started at `--tick-hz` (the server's rate)
//!    or back to back. Figures: each pair's ON/OFF ratio of mean tick time and their median;
//!    in ON runs, the mean tick that collected a batch minus the mean of the other ticks of
//!    the same run; and from the writer's confirmations, rows per second of transaction time,
//!    rows per batch and transaction times.
//! 3. **Bulk**: batches holding every entity of the world, encoded and applied with the
//!    writer's own `tables::map::encode` and `apply::apply`: the writer's rate on whole-world
//!    batches (the first batch after a start; a spill file).
//! 4. **Login**: accounts looked up through `Profiles` after wiping the Redis prefix (misses:
//!    Redis, database, write-back), then again (hits). Without `--redis-url` the database path
//!    alone is measured as the miss.
//!
//! A human summary goes to stderr; the last stdout line is one JSON object:
//! `{rows_per_s, batch_rows, transaction_ms:{p50,max}, flush_tick_extra_ms, tick_mean_ratio,
//! tick_mean_ratio_pairs, login_ms:{redis_hit_p95, miss_p95}, ...}` plus extra keys (per-run
//! figures, census, bulk).
//!
//! The world: NPC worlds move ~90 % of their ships every tick, so by default only 10 % of the
//! fleets keep their NPC brain (`--active`); the others are parked (see
//! `starforge_bench::park_fleets`), like the docked fleets of offline players.

// The summary JSON is one `json!` literal with more keys than the macro's default recursion
// limit allows.
#![recursion_limit = "256"]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bevy_app::{App, FixedUpdate};
use bevy_ecs::prelude::{IntoScheduleConfigs, ResMut, Resource, With};
use clap::Parser;
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use starforge_bench::{Parked, Summary, build_world_with, park_fleets, run_ticks, systems_for, thread_cpu_time, tick};
use starforge_components::prelude::*;
use starforge_persistence::apply::{Applied, apply};
use starforge_persistence::rows::{Kind, Record, WorldMeta};
use starforge_persistence::tables::map;
use starforge_persistence::writer::{Batch, Confirmation, WriterOptions};
use starforge_persistence::{
    Change, Changes, Db, DbTarget, PendingChanges, PersistAfter, PersistSystems, PersistencePlugin, Persister,
    Profiles, RedisCache, SHARD, collect_now, flush_now, wait_confirmed,
};
use starforge_systems::prelude::*;

/// Generous bound for the database to take or confirm a batch (a hang guard, not a bar).
const CONFIRM: Duration = Duration::from_secs(120);

/// The saved world's tables, emptied before every ON run and the bulk phase.
const TABLES: &str = "world, star_systems, planets, hyperlanes, empires, fleets, ships, colonies, buildings, \
                      construction_queue, shipyard_queue, market_orders, market_tickers, market_trades, \
                      combat_reports, engagements";

/// Measures persistence: writer throughput, the flush tick's cost, tick time off/on, login
/// hydration.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Postgres server to work on (`postgres://user[:password]@host[:port]/database`); a scratch
    /// database is created there, the URL's own database is not written.
    #[arg(long)]
    database_url: String,
    /// Redis for the login hydration cache (keys under a scratch prefix, deleted at the end).
    #[arg(long)]
    redis_url: Option<String>,
    /// Ships to generate.
    #[arg(long, default_value_t = 100_000)]
    ships: u32,
    /// Colonies to generate (default: ships / 10, tickbench's ratio).
    #[arg(long)]
    colonies: Option<u32>,
    /// Resting market orders to seed (default: ships, tickbench's ratio).
    #[arg(long)]
    orders: Option<u32>,
    /// Star systems (default: max(200, ships / 250)).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    systems: Option<u32>,
    /// World seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of NPC fleets that keep their brain; the others are parked. The default makes
    /// about 10 % of the ships change per tick in the default world (see the census).
    #[arg(long, default_value_t = 0.1)]
    active: f64,
    /// Unmeasured ticks at the start of every run, twice: ON runs write the whole world (the
    /// first batch) after the first warm-up and let Postgres finish with it during the second.
    /// OFF runs tick as many times.
    #[arg(long, default_value_t = 40)]
    warmup: u32,
    /// Measured ticks per run.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    ticks: u32,
    /// OFF/ON pairs of runs (OFF then ON, then ON then OFF, alternating).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pairs: u32,
    /// Ticks counted by the census (phase 1; default: `--ticks`, so it spans the same ticks of
    /// the world's history as the measured ones).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    census_ticks: Option<u32>,
    /// Whole-world batches applied in the bulk phase (after one inserting into empty tables;
    /// 0 skips the phase).
    #[arg(long, default_value_t = 5)]
    bulk_batches: u32,
    /// Accounts looked up in the login phase (0 skips the phase).
    #[arg(long, default_value_t = 2_000)]
    accounts: u32,
    /// Write every measured tick to this CSV file (`run,mode,tick,tick_ms,persist_ms,flushed`).
    #[arg(long)]
    tick_log: Option<std::path::PathBuf>,
    /// Start measured ticks at this rate, as the server does (20: the default tuning's
    /// `tick_hz`), sleeping between them; 0 runs them back to back.
    #[arg(long, default_value_t = 20.0)]
    tick_hz: f64,
    /// Keep the scratch database and Redis keys (their names are printed).
    #[arg(long)]
    keep: bool,
    /// Log every statement on the scratch database to the Postgres server's log (needs a
    /// superuser): `durations` (`log_min_duration_statement = 0`), or `plans` (`auto_explain`
    /// with actual times, buffers and WAL, foreign-key checks included; slows the writer).
    #[arg(long, value_enum)]
    server_log: Option<ServerLog>,
}

/// What `--server-log` logs.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ServerLog {
    Durations,
    Plans,
}

impl Args {
    fn colonies(&self) -> u32 {
        self.colonies.unwrap_or(self.ships / 10)
    }

    fn orders(&self) -> u32 {
        self.orders.unwrap_or(self.ships)
    }

    fn systems(&self) -> u32 {
        self.systems.unwrap_or_else(|| systems_for(self.ships))
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !(0.0..=1.0).contains(&args.active) {
        bail!("--active must be within 0..=1, got {}", args.active);
    }
    if args.tick_hz < 0.0 || !args.tick_hz.is_finite() {
        bail!("--tick-hz must be 0 or more, got {}", args.tick_hz);
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("persist")
            .enable_all()
            .build()
            .context("tokio runtime")?,
    );
    let scratch = rt.block_on(Scratch::create(&args.database_url, args.redis_url.as_deref(), args.server_log))?;
    eprintln!("scratch database {} (on {})", scratch.name, starforge_persistence::db::redact_url(&scratch.url));
    if let Some(prefix) = &scratch.redis_prefix {
        eprintln!("scratch Redis prefix {prefix}");
    }
    {
        let s = scratch.clone();
        let keep = args.keep;
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: cleaning up");
                s.cleanup(keep).await;
                std::process::exit(130);
            }
        });
    }
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| run(&args, &rt, &scratch)));
    rt.block_on(scratch.cleanup(args.keep));
    let json = match outcome {
        Ok(result) => result?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    println!("{json}");
    Ok(())
}

/// The scratch database and Redis prefix of one run.
#[derive(Clone, Debug)]
struct Scratch {
    /// The URL given, used to create and drop the scratch database.
    admin_url: String,
    /// The scratch database's name.
    name: String,
    /// The scratch database's URL.
    url: String,
    /// Redis URL and prefix, if Redis is used.
    redis_url: Option<String>,
    redis_prefix: Option<String>,
}

impl Scratch {
    async fn create(
        database_url: &str,
        redis_url: Option<&str>,
        server_log: Option<ServerLog>,
    ) -> anyhow::Result<Scratch> {
        let suffix = random_suffix();
        let name = format!("persistbench_{suffix}");
        let url = with_database(database_url, &name)?;
        let mut conn = admin_connect(database_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        if let Some(log) = server_log {
            // Every session on the scratch database (opened after this) logs to the server's log;
            // parameters (whole columns) are not logged. Needs a superuser.
            let settings: &[&str] = match log {
                ServerLog::Durations => &["log_min_duration_statement = 0", "log_parameter_max_length = 0"],
                ServerLog::Plans => &[
                    "session_preload_libraries = 'auto_explain'",
                    "auto_explain.log_min_duration = 0",
                    "auto_explain.log_analyze = on",
                    "auto_explain.log_buffers = on",
                    "auto_explain.log_wal = on",
                    "auto_explain.log_nested_statements = on",
                ],
            };
            for setting in settings {
                sqlx::raw_sql(AssertSqlSafe(format!("ALTER DATABASE {name} SET {setting}")))
                    .execute(&mut conn)
                    .await
                    .with_context(|| format!("--server-log: ALTER DATABASE {name} SET {setting}"))?;
            }
        }
        let _ = conn.close().await;
        Ok(Scratch {
            admin_url: database_url.to_owned(),
            name,
            url,
            redis_url: redis_url.map(str::to_owned),
            redis_prefix: redis_url.map(|_| format!("persistbench:{suffix}:")),
        })
    }

    /// Drops the database and deletes the Redis keys (unless `keep`); failures are printed.
    async fn cleanup(&self, keep: bool) {
        if keep {
            eprintln!("kept: database {} and Redis keys {}*", self.name, self.redis_prefix.as_deref().unwrap_or("-"));
            return;
        }
        let dropped = async {
            let mut conn = admin_connect(&self.admin_url).await?;
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
                .execute(&mut conn)
                .await?;
            let _ = conn.close().await;
            anyhow::Ok(())
        };
        match dropped.await {
            Ok(()) => eprintln!("dropped database {}", self.name),
            Err(e) => eprintln!("warning: could not drop database {}: {e:#}", self.name),
        }
        if let (Some(url), Some(prefix)) = (&self.redis_url, &self.redis_prefix) {
            match wipe_prefix(url, prefix).await {
                Ok(n) => eprintln!("deleted {n} Redis keys {prefix}*"),
                Err(e) => eprintln!("warning: could not delete Redis keys {prefix}*: {e:#}"),
            }
        }
    }

    fn db_target(&self) -> DbTarget {
        DbTarget::Postgres(self.url.clone())
    }
}

async fn admin_connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    let options = PgConnectOptions::from_str(url).context("parsing --database-url")?;
    tokio::time::timeout(Duration::from_secs(10), options.connect())
        .await
        .map_err(|_| anyhow!("Postgres at {}: no answer within 10 s", starforge_persistence::db::redact_url(url)))?
        .with_context(|| format!("connecting to {}", starforge_persistence::db::redact_url(url)))
}

/// `url` with its database replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let rest_start = url.find("://").map(|i| i + 3).ok_or_else(|| anyhow!("not a URL: {url}"))?;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let after = &rest[authority_end..];
    let query = after.find(['?', '#']).map_or("", |i| &after[i..]);
    Ok(format!("{}{}/{name}{query}", &url[..rest_start], &rest[..authority_end]))
}

/// 16 hex digits, different per call.
fn random_suffix() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// Deletes every key under `prefix` (SCAN, so it is fine on a shared Redis); returns how many.
async fn wipe_prefix(url: &str, prefix: &str) -> anyhow::Result<usize> {
    let client = redis::Client::open(url)?;
    let mut conn = tokio::time::timeout(Duration::from_secs(5), client.get_multiplexed_async_connection())
        .await
        .map_err(|_| anyhow!("Redis: no answer within 5 s"))??;
    let mut cursor = 0u64;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: usize = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// Nearest-rank percentile `p` (0..=100) of `ms`, sorted or not; 0 when empty.
fn percentile(ms: &[f64], p: f64) -> f64 {
    if ms.is_empty() {
        return 0.0;
    }
    let mut v = ms.to_vec();
    v.sort_by(f64::total_cmp);
    let r = (p / 100.0 * v.len() as f64).ceil() as usize;
    v[r.clamp(1, v.len()) - 1]
}

fn to_ms(d: &[Duration]) -> Vec<f64> {
    d.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Median of `v` (mean of the middle two for an even count); 0 when empty.
fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

fn run(args: &Args, rt: &Arc<tokio::runtime::Runtime>, scratch: &Scratch) -> anyhow::Result<serde_json::Value> {
    let db = rt.block_on(async {
        let db = Db::connect(&scratch.db_target()).await?;
        db.migrate().await?;
        anyhow::Ok(db)
    })?;
    eprintln!(
        "world: {} ships, {} colonies, {} orders, {} systems, seed {}, {:.0} % of NPC fleets active; ticks {}",
        args.ships,
        args.colonies(),
        args.orders(),
        args.systems(),
        args.seed,
        args.active * 100.0,
        if args.tick_hz > 0.0 { format!("started at {} Hz", args.tick_hz) } else { "back to back".into() }
    );

    // 1. Census.
    let census = census(args);
    eprintln!(
        "census over {} ticks: {:.0} entity records changed per tick ({:.0} ships = {:.1} % of {} ships (mean), {:.0} orders, \
         {:.0} colonies, {:.0} fleets, {:.0} empires, {:.1} despawns), {:.1} history entries per tick",
        census.ticks,
        census.per_tick(census.total()),
        census.per_tick(census.ships),
        census.ships_pct(),
        census.world_ships,
        census.per_tick(census.orders),
        census.per_tick(census.colonies),
        census.per_tick(census.fleets),
        census.per_tick(census.empires),
        census.per_tick(census.deletes),
        census.per_tick(census.history),
    );
    eprintln!(
        "  distinct entities changed per flush interval ({} ticks): {:.0}",
        census.interval, census.distinct_per_interval
    );

    // 2. Pairs of tick runs, OFF/ON alternating (ABBA).
    let mut pairs: Vec<(RunResult, RunResult)> = Vec::new();
    let mut log = String::from("run,mode,tick,tick_ms,persist_ms,flushed\n");
    let mut run_no = 0;
    for pair in 0..args.pairs as usize {
        let order = if pair % 2 == 0 { [false, true] } else { [true, false] };
        let (mut off, mut on) = (None, None);
        for persist in order {
            let r = timed_run(args, persist, rt, &db)?;
            r.print(pair);
            log += &r.csv(run_no);
            run_no += 1;
            if persist { on = Some(r) } else { off = Some(r) }
        }
        let (off, on) = (off.context("no OFF run")?, on.context("no ON run")?);
        eprintln!(
            "  pair #{pair}: mean tick ON/OFF = {:.3} / {:.3} ms = {:.3}",
            on.mean_ms(),
            off.mean_ms(),
            on.mean_ms() / off.mean_ms().max(f64::MIN_POSITIVE)
        );
        pairs.push((off, on));
    }
    if let Some(path) = &args.tick_log {
        std::fs::write(path, log).with_context(|| format!("writing {}", path.display()))?;
    }
    let off_means: Vec<f64> = pairs.iter().map(|(off, _)| off.mean_ms()).collect();
    let on_means: Vec<f64> = pairs.iter().map(|(_, on)| on.mean_ms()).collect();
    let ratios: Vec<f64> = on_means.iter().zip(&off_means).map(|(a, b)| a / b.max(f64::MIN_POSITIVE)).collect();
    let ratio = median(&ratios);
    let pooled = |f: fn(&(RunResult, RunResult)) -> &RunResult| -> Vec<f64> {
        pairs.iter().flat_map(|p| to_ms(&f(p).samples)).collect()
    };
    let (off_ms, on_ms) = (pooled(|p| &p.0), pooled(|p| &p.1));
    eprintln!(
        "tick mean ON/OFF per pair: {}; median {ratio:.3} (bar <= 1.1). Pooled: OFF mean {:.3} ms p50 {:.3} p99 {:.3}; \
         ON mean {:.3} ms p50 {:.3} p99 {:.3}",
        ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", "),
        mean(&off_ms),
        percentile(&off_ms, 50.0),
        percentile(&off_ms, 99.0),
        mean(&on_ms),
        percentile(&on_ms, 50.0),
        percentile(&on_ms, 99.0),
    );

    // The flush tick's extra cost: within each ON run, flushing ticks against the others;
    // weighted by flushes.
    let ons: Vec<&RunResult> = pairs.iter().map(|(_, on)| on).collect();
    let flushes: usize = ons.iter().map(|r| r.flush_count()).sum();
    let extra_runs: Vec<f64> = ons.iter().map(|r| r.flush_extra_ms()).collect();
    let flush_extra =
        ons.iter().map(|r| r.flush_extra_ms() * r.flush_count() as f64).sum::<f64>() / flushes.max(1) as f64;
    let flush_tick_ms: Vec<f64> = ons.iter().flat_map(|r| r.split(&r.samples).0).collect();
    let other_tick_ms: Vec<f64> = ons.iter().flat_map(|r| r.split(&r.samples).1).collect();
    let flush_persist_ms: Vec<f64> = ons.iter().flat_map(|r| r.split(&r.persist_times).0).collect();
    let other_persist_ms: Vec<f64> = ons.iter().flat_map(|r| r.split(&r.persist_times).1).collect();
    let deferred: u64 = ons.iter().map(|r| r.deferred).sum();
    eprintln!(
        "flush ticks: {flushes} in the ON runs; mean {:.3} ms against {:.3} ms for the other ticks; extra per run: {}; \
         extra {flush_extra:.3} ms (bar <= 5). Persistence systems: {:.3} ms mean on flush ticks, {:.3} ms on the others; \
         batches deferred (writer busy): {deferred}",
        mean(&flush_tick_ms),
        mean(&other_tick_ms),
        extra_runs.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", "),
        mean(&flush_persist_ms),
        mean(&other_persist_ms),
    );

    // The writer, from the confirmations of the batches sent during the measured ticks.
    let confirmations: Vec<Confirmation> = ons.iter().flat_map(|r| r.confirmations.iter().copied()).collect();
    let rows: usize = confirmations.iter().map(|c| c.rows).sum();
    let tx_s: f64 = confirmations.iter().map(|c| c.transaction.as_secs_f64()).sum();
    let rows_per_s = rows as f64 / tx_s.max(f64::MIN_POSITIVE);
    let batch_rows = rows as f64 / confirmations.len().max(1) as f64;
    let tx_ms: Vec<f64> = confirmations.iter().map(|c| c.transaction.as_secs_f64() * 1e3).collect();
    let elapsed_ms: Vec<f64> = confirmations.iter().map(|c| c.elapsed.as_secs_f64() * 1e3).collect();
    let runs_rows_per_s: Vec<f64> = ons.iter().map(|r| r.rows_per_s()).collect();
    eprintln!(
        "writer: {} batches, {batch_rows:.0} rows per batch, transaction p50 {:.1} ms max {:.1} ms (encoding included: \
         p50 {:.1} ms) -> {rows_per_s:.0} rows/s of transaction time (bar >= 200000); per run: {}",
        confirmations.len(),
        percentile(&tx_ms, 50.0),
        percentile(&tx_ms, 100.0),
        percentile(&elapsed_ms, 50.0),
        runs_rows_per_s.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", "),
    );

    // 3. Bulk.
    let bulk = if args.bulk_batches > 0 { Some(bulk(args, rt, &db)?) } else { None };
    if let Some(b) = &bulk {
        eprintln!(
            "bulk: {} rows per batch; into empty tables {:.1} ms; upserts: transaction p50 {:.1} ms, encoding p50 {:.1} \
             ms -> {:.0} rows/s of transaction time ({:.0} rows/s encoding included)",
            b.rows,
            b.insert_ms,
            percentile(&b.tx_ms, 50.0),
            percentile(&b.encode_ms, 50.0),
            b.rows_per_s(),
            b.rows_per_s_with_encoding(),
        );
    }

    // 4. Login.
    // On a runtime worker, as the server's login handler runs (no hand-off to a thread outside
    // the runtime per await).
    let login = if args.accounts > 0 {
        Some(rt.block_on(rt.spawn(login(args.accounts, db.clone(), scratch.clone()))).context("login task")??)
    } else {
        None
    };
    if let Some(login) = &login {
        match login.hit_ms.as_deref() {
            Some(hits) => eprintln!(
                "login hydration over {} accounts: Redis hit p50 {:.3} ms p95 {:.3} ms (bar <= 2); miss p50 {:.3} ms \
                 p95 {:.3} ms (bar <= 10)",
                args.accounts,
                percentile(hits, 50.0),
                percentile(hits, 95.0),
                percentile(&login.miss_ms, 50.0),
                percentile(&login.miss_ms, 95.0),
            ),
            None => eprintln!(
                "login hydration over {} accounts, no Redis: database p50 {:.3} ms p95 {:.3} ms (bar <= 10)",
                args.accounts,
                percentile(&login.miss_ms, 50.0),
                percentile(&login.miss_ms, 95.0),
            ),
        }
    }
    rt.block_on(db.close());

    let hit_p95 = login.as_ref().and_then(|l| l.hit_ms.as_deref()).map(|h| round3(percentile(h, 95.0)));
    let miss_p95 = login.as_ref().map(|l| round3(percentile(&l.miss_ms, 95.0)));
    eprintln!("bars:");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    eprintln!("  changed rows/s to Postgres >= 200000: {rows_per_s:.0} -> {}", verdict(rows_per_s >= 200_000.0));
    eprintln!(
        "  flush tick extra cost <= 5 ms: {flush_extra:.3} ms over {flushes} flushes -> {}",
        verdict(flush_extra <= 5.0)
    );
    eprintln!(
        "  mean tick ON <= 1.1 x OFF (median of {} pairs): {ratio:.3} -> {}",
        ratios.len(),
        verdict(ratio <= 1.1)
    );
    if let Some(h) = hit_p95 {
        eprintln!("  login Redis hit p95 <= 2 ms: {h:.3} -> {}", verdict(h <= 2.0));
    }
    if let Some(m) = miss_p95 {
        eprintln!("  login miss p95 <= 10 ms: {m:.3} -> {}", verdict(m <= 10.0));
    }

    let round_all = |v: &[f64]| -> Vec<f64> { v.iter().copied().map(round3).collect() };
    let p99_runs = |f: fn(&(RunResult, RunResult)) -> &RunResult| -> Vec<f64> {
        pairs.iter().map(|p| round3(Summary::of(&f(p).samples).p99_ms)).collect()
    };
    Ok(json!({
        "rows_per_s": rows_per_s.round(),
        "batch_rows": batch_rows.round(),
        "transaction_ms": { "p50": round3(percentile(&tx_ms, 50.0)), "max": round3(percentile(&tx_ms, 100.0)) },
        "encode_and_transaction_ms_p50": round3(percentile(&elapsed_ms, 50.0)),
        "rows_per_s_runs": runs_rows_per_s.iter().map(|r| r.round()).collect::<Vec<_>>(),
        "batches": confirmations.len(),
        "batches_deferred": deferred,
        "flush_tick_extra_ms": round3(flush_extra),
        "flush_tick_extra_ms_runs": round_all(&extra_runs),
        "flush_ticks": flushes,
        "flush_tick_mean_ms": round3(mean(&flush_tick_ms)),
        "other_tick_mean_ms": round3(mean(&other_tick_ms)),
        "persist_systems_ms": {
            "flush_tick_mean": round3(mean(&flush_persist_ms)),
            "other_tick_mean": round3(mean(&other_persist_ms)),
        },
        "tick_mean_ratio": round3(ratio),
        "tick_mean_ratio_pairs": round_all(&ratios),
        "tick_mean_ms_off_runs": round_all(&off_means),
        "tick_mean_ms_on_runs": round_all(&on_means),
        "tick_mean_ms_off": round3(mean(&off_ms)),
        "tick_mean_ms_on": round3(mean(&on_ms)),
        "tick_p99_ms_off_runs": p99_runs(|p| &p.0),
        "tick_p99_ms_on_runs": p99_runs(|p| &p.1),
        "login_ms": { "redis_hit_p95": hit_p95, "miss_p95": miss_p95 },
        "login_ms_p50": {
            "redis_hit": login.as_ref().and_then(|l| l.hit_ms.as_deref()).map(|h| round3(percentile(h, 50.0))),
            "miss": login.as_ref().map(|l| round3(percentile(&l.miss_ms, 50.0))),
        },
        "changed_per_tick": census.per_tick(census.total()).round(),
        "changed_ships_per_tick": census.per_tick(census.ships).round(),
        "changed_ships_pct": round3(census.ships_pct()),
        "changed_per_flush_interval": census.distinct_per_interval.round(),
        "rows_per_s_bulk": bulk.as_ref().map(|b| b.rows_per_s().round()),
        "rows_per_s_bulk_with_encoding": bulk.as_ref().map(|b| b.rows_per_s_with_encoding().round()),
        "bulk_batch_rows": bulk.as_ref().map(|b| b.rows),
        "bulk_transaction_ms": bulk.as_ref().map(|b| json!({
            "p50": round3(percentile(&b.tx_ms, 50.0)),
            "max": round3(percentile(&b.tx_ms, 100.0)),
        })),
        "bulk_encode_ms_p50": bulk.as_ref().map(|b| round3(percentile(&b.encode_ms, 50.0))),
        "ships": args.ships,
        "world_ships": census.world_ships,
        "colonies": args.colonies(),
        "orders": args.orders(),
        "systems": args.systems(),
        "active_fleets": census.parked.active_fleets,
        "parked_fleets": census.parked.parked_fleets,
        "parked_ships": census.parked.parked_ships,
        "flush_interval_ticks": census.interval,
        "ticks_per_run": args.ticks,
        "tick_hz": args.tick_hz,
        "pairs": args.pairs,
        "accounts": args.accounts,
    }))
}

/// The app of one run: the generated world, fleets parked, with persistence collecting if
/// `persist` (no `Persister`: the caller adds one if it wants flushes).
fn world_app(args: &Args, persist: bool) -> (App, Parked) {
    let mut app =
        build_world_with(args.ships, args.colonies(), args.orders(), args.seed, Some(args.systems()), |app| {
            if persist {
                app.add_plugins(PersistencePlugin);
                app.configure_sets(FixedUpdate, PersistAfter.after(SimSystems::Bookkeeping));
            }
        });
    let parked = park_fleets(app.world_mut(), args.active);
    (app, parked)
}

/// What persistence collected per tick, summed over the census ticks.
#[derive(Debug, Default)]
struct Census {
    ticks: u32,
    interval: u64,
    /// Ships in the world, mean over the census ticks (combat destroys some as it goes).
    world_ships: usize,
    parked: Parked,
    ships: u64,
    orders: u64,
    colonies: u64,
    fleets: u64,
    empires: u64,
    deletes: u64,
    history: u64,
    distinct_per_interval: f64,
}

impl Census {
    fn total(&self) -> u64 {
        self.ships + self.orders + self.colonies + self.fleets + self.empires + self.deletes
    }

    fn per_tick(&self, n: u64) -> f64 {
        n as f64 / f64::from(self.ticks.max(1))
    }

    fn ships_pct(&self) -> f64 {
        100.0 * self.per_tick(self.ships) / self.world_ships.max(1) as f64
    }
}

/// Phase 1: the records persistence collects each tick (no `Persister`, so nothing is flushed:
/// the pending changes are collected and emptied after every tick).
fn census(args: &Args) -> Census {
    let (mut app, parked) = world_app(args, true);
    run_ticks(&mut app, args.warmup);
    let interval = app.world().resource::<Tuning>().world.flush_interval_ticks();
    let ticks = args.census_ticks.unwrap_or(args.ticks);
    let mut c = Census { ticks, interval, parked, ..Census::default() };
    let mut distinct = 0usize;
    let mut intervals = 0usize;
    let mut since_interval = std::collections::HashSet::new();
    collect_now(app.world_mut());
    app.world_mut().resource_mut::<PendingChanges>().entities = Changes::default();
    let mut ship_ticks = 0usize;
    let mut ship_query = app.world_mut().query_filtered::<(), With<Ship>>();
    for t in 0..ticks {
        tick(&mut app);
        ship_ticks += ship_query.iter(app.world()).count();
        // What changed in this tick alone.
        collect_now(app.world_mut());
        let mut p = app.world_mut().resource_mut::<PendingChanges>();
        let changes = std::mem::take(&mut p.entities);
        for (id, change) in changes.newest() {
            since_interval.insert(*id);
            match change {
                Change::Deleted(_) => c.deletes += 1,
                Change::Saved(record) => match record.kind() {
                    Kind::Ship => c.ships += 1,
                    Kind::Order => c.orders += 1,
                    Kind::Colony => c.colonies += 1,
                    Kind::Fleet => c.fleets += 1,
                    Kind::Empire => c.empires += 1,
                },
            }
        }
        c.history += p.history.len() as u64;
        p.history.clear();
        if u64::from(t + 1) % interval == 0 {
            distinct += since_interval.len();
            intervals += 1;
            since_interval.clear();
        }
    }
    c.distinct_per_interval = distinct as f64 / intervals.max(1) as f64;
    c.world_ships = ship_ticks / (ticks as usize).max(1);
    c
}

/// Wall time of the persistence systems in the tick (note + collect + flush), per tick.
#[derive(Resource, Default)]
struct PersistTimer {
    start: Option<Instant>,
    samples: Vec<Duration>,
}

fn persist_start(mut t: ResMut<PersistTimer>) {
    t.start = Some(Instant::now());
}

fn persist_end(mut t: ResMut<PersistTimer>) {
    if let Some(s) = t.start.take() {
        t.samples.push(s.elapsed());
    }
}

/// One timed run.
struct RunResult {
    persist: bool,
    samples: Vec<Duration>,
    cpu: Option<Duration>,
    /// ON: whether the tick collected a batch (handed to the writer, or kept pending because
    /// the writer was busy), per tick.
    flushed: Vec<bool>,
    /// ON: time in the persistence systems, per tick.
    persist_times: Vec<Duration>,
    /// ON: the writer's confirmations of the batches sent during the measured ticks.
    confirmations: Vec<Confirmation>,
    /// ON: batches the busy writer handed back during the measured ticks.
    deferred: u64,
    /// Ships in the world at the end of the run.
    ships_end: usize,
}

impl RunResult {
    fn mean_ms(&self) -> f64 {
        Summary::of(&self.samples).mean_ms
    }

    fn flush_count(&self) -> usize {
        self.flushed.iter().filter(|f| **f).count()
    }

    /// `per_tick` (one per measured tick) in ms, split into the ticks that flushed and the
    /// others.
    fn split(&self, per_tick: &[Duration]) -> (Vec<f64>, Vec<f64>) {
        let (mut flush, mut other) = (Vec::new(), Vec::new());
        for (d, f) in per_tick.iter().zip(&self.flushed) {
            if *f { &mut flush } else { &mut other }.push(d.as_secs_f64() * 1e3);
        }
        (flush, other)
    }

    /// Mean tick that flushed minus mean tick that did not (ms).
    fn flush_extra_ms(&self) -> f64 {
        let (flush, other) = self.split(&self.samples);
        mean(&flush) - mean(&other)
    }

    /// Rows per second of transaction time.
    fn rows_per_s(&self) -> f64 {
        let rows: usize = self.confirmations.iter().map(|c| c.rows).sum();
        let s: f64 = self.confirmations.iter().map(|c| c.transaction.as_secs_f64()).sum();
        rows as f64 / s.max(f64::MIN_POSITIVE)
    }

    /// CSV lines `run,mode,tick,tick_ms,persist_ms,flushed` (persist_ms empty when off).
    fn csv(&self, run: usize) -> String {
        let mut out = String::new();
        for (i, d) in self.samples.iter().enumerate() {
            let persist = self.persist_times.get(i).map_or(String::new(), |p| format!("{:.3}", p.as_secs_f64() * 1e3));
            let flushed = u8::from(self.flushed.get(i).copied().unwrap_or(false));
            let mode = if self.persist { "on" } else { "off" };
            out += &format!("{run},{mode},{i},{:.3},{persist},{flushed}\n", d.as_secs_f64() * 1e3);
        }
        out
    }

    fn print(&self, pair: usize) {
        let s = Summary::of(&self.samples);
        let wall: f64 = self.samples.iter().map(Duration::as_secs_f64).sum();
        let cpu = self.cpu.map_or(String::new(), |c| {
            let per_tick = c.as_secs_f64() * 1e3 / self.samples.len().max(1) as f64;
            format!(", CPU {per_tick:.3} ms/tick, wall/CPU {:.2}", wall / c.as_secs_f64().max(1e-9))
        });
        eprintln!(
            "run {} of pair #{pair}: {} ticks: mean {:.3} ms, p50 {:.3}, p99 {:.3}, max {:.3}{cpu}; {} ships at the end",
            if self.persist { "ON " } else { "OFF" },
            s.count,
            s.mean_ms,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            self.ships_end
        );
        if self.persist {
            let (flush, other) = self.split(&self.samples);
            let (pflush, pother) = self.split(&self.persist_times);
            let tx: Vec<Duration> = self.confirmations.iter().map(|c| c.transaction).collect();
            let t = Summary::of(&tx);
            eprintln!(
                "    {} flush ticks mean {:.3} ms (persistence {:.3}), other ticks mean {:.3} ms (persistence {:.3}): \
                 extra {:.3} ms; {} batches, transaction p50 {:.1} ms max {:.1}, {:.0} rows/s; deferred {}",
                flush.len(),
                mean(&flush),
                mean(&pflush),
                mean(&other),
                mean(&pother),
                self.flush_extra_ms(),
                t.count,
                t.p50_ms,
                t.max_ms,
                self.rows_per_s(),
                self.deferred,
            );
        }
    }
}

fn truncate(rt: &tokio::runtime::Runtime, db: &Db) -> anyhow::Result<()> {
    let Db::Postgres(pool) = db else { bail!("persistbench needs Postgres") };
    rt.block_on(sqlx::query(AssertSqlSafe(format!("TRUNCATE {TABLES} CASCADE"))).execute(pool)).context("TRUNCATE")?;
    Ok(())
}

/// Sends everything pending as one batch and waits until the database holds it; returns its id.
fn flush_and_wait(app: &mut App, what: &str) -> anyhow::Result<u64> {
    let b = flush_now(app.world_mut(), CONFIRM).with_context(|| format!("the writer did not take the {what} batch"))?;
    wait_confirmed(app.world(), b, CONFIRM).map_err(|s| anyhow!("{what} batch {b} not confirmed: {s:?}"))?;
    Ok(b)
}

/// Phase 2: one run, persistence off or on.
fn timed_run(args: &Args, persist: bool, rt: &Arc<tokio::runtime::Runtime>, db: &Db) -> anyhow::Result<RunResult> {
    let (mut app, _) = world_app(args, persist);
    if persist {
        truncate(rt, db)?;
        app.insert_resource(Persister::start(rt.clone(), db.clone(), WriterOptions::default(), 0, 0));
        app.init_resource::<PersistTimer>();
        app.add_systems(
            FixedUpdate,
            (
                persist_start.after(PersistAfter).before(PersistSystems::Collect),
                persist_end.after(PersistSystems::Collect),
            ),
        );
    }
    run_ticks(&mut app, args.warmup);
    let mut first_batch = 0;
    if persist {
        // The first batch holds the whole world (every entity is new at the first collection):
        // written now, and Postgres works it off during the second warm-up.
        let t = Instant::now();
        flush_and_wait(&mut app, "warm-up")?;
        eprintln!("  whole world written and confirmed in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    run_ticks(&mut app, args.warmup);
    if persist {
        // The measured window starts on an empty queue and a fresh flush interval's changes.
        first_batch = flush_and_wait(&mut app, "second warm-up")?;
        let _ = app.world().resource::<Persister>().confirmations();
        app.world_mut().resource_mut::<PersistTimer>().samples.clear();
    }
    let deferred0 = app.world().get_resource::<Persister>().map_or(0, |p| p.deferred);
    let mut deferred_before = deferred0;
    let mut samples = Vec::with_capacity(args.ticks as usize);
    let mut flushed = Vec::with_capacity(args.ticks as usize);
    let cpu0 = thread_cpu_time();
    let period = (args.tick_hz > 0.0).then(|| Duration::from_secs_f64(1.0 / args.tick_hz));
    let first = Instant::now();
    for i in 0..args.ticks {
        if let Some(period) = period {
            let due = first + period * i;
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let start = Instant::now();
        tick(&mut app);
        samples.push(start.elapsed());
        let tick_now = app.world().resource::<SimTick>().0;
        let collected = app.world().get_resource::<Persister>().is_some_and(|p| {
            // Sent (the batch's tick is this tick), or collected and handed back by a busy writer.
            let sent = p.last_flush_tick() == tick_now;
            let handed_back = p.deferred > deferred_before;
            deferred_before = p.deferred;
            sent || handed_back
        });
        flushed.push(collected);
    }
    let cpu = thread_cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let mut result = RunResult {
        persist,
        samples,
        cpu,
        flushed,
        persist_times: Vec::new(),
        confirmations: Vec::new(),
        deferred: 0,
        ships_end: app.world_mut().query_filtered::<(), With<Ship>>().iter(app.world()).count(),
    };
    if persist {
        result.deferred = app.world().resource::<Persister>().deferred - deferred0;
        // The last partial interval is written but not counted.
        let last = flush_and_wait(&mut app, "last")?;
        let persister = app.world().resource::<Persister>();
        let status = persister.status().snapshot();
        if status.failures > 0 {
            eprintln!("warning: the writer had {} failed attempts in this run", status.failures);
        }
        result.confirmations =
            persister.confirmations().into_iter().filter(|c| c.batch > first_batch && c.batch < last).collect();
        result.persist_times = std::mem::take(&mut app.world_mut().resource_mut::<PersistTimer>().samples);
    }
    drop(app);
    Ok(result)
}

/// Phase 3's figures.
struct Bulk {
    rows: usize,
    insert_ms: f64,
    tx_ms: Vec<f64>,
    encode_ms: Vec<f64>,
}

impl Bulk {
    fn rows_per_s(&self) -> f64 {
        let s: f64 = self.tx_ms.iter().sum::<f64>() / 1e3;
        (self.rows * self.tx_ms.len()) as f64 / s.max(f64::MIN_POSITIVE)
    }

    fn rows_per_s_with_encoding(&self) -> f64 {
        let s: f64 = (self.tx_ms.iter().sum::<f64>() + self.encode_ms.iter().sum::<f64>()) / 1e3;
        (self.rows * self.tx_ms.len()) as f64 / s.max(f64::MIN_POSITIVE)
    }
}

/// Phase 3: batches of every entity, through the writer's `encode` and `apply`.
fn bulk(args: &Args, rt: &tokio::runtime::Runtime, db: &Db) -> anyhow::Result<Bulk> {
    truncate(rt, db)?;
    let (mut app, _) = world_app(args, true);
    tick(&mut app);
    collect_now(app.world_mut());
    let entities = std::mem::take(&mut app.world_mut().resource_mut::<PendingChanges>().entities);
    let meta = WorldMeta::capture(app.world());
    drop(app);
    let saved = entities.iter().filter(|(_, c)| matches!(c, Change::Saved(Record::Ship(_)))).count();
    if saved == 0 {
        bail!("the bulk batch holds no ship");
    }
    let mut batch = Batch { id: 0, meta, galaxy: None, entities, history: Vec::new() };
    let mut out = Bulk { rows: 0, insert_ms: 0.0, tx_ms: Vec::new(), encode_ms: Vec::new() };
    for i in 0..=args.bulk_batches {
        batch.id = u64::from(i) + 1;
        let t = Instant::now();
        let rows = map::encode(&batch, SHARD);
        let encode_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let applied = rt.block_on(apply(db, &rows)).context("applying a bulk batch")?;
        let tx_ms = t.elapsed().as_secs_f64() * 1e3;
        if applied != Applied::Written {
            bail!("bulk batch {} was skipped as already applied", batch.id);
        }
        out.rows = rows.len();
        if i == 0 {
            out.insert_ms = tx_ms;
        } else {
            out.tx_ms.push(tx_ms);
            out.encode_ms.push(encode_ms);
        }
    }
    Ok(out)
}

/// Phase 4's samples (ms).
struct Login {
    hit_ms: Option<Vec<f64>>,
    miss_ms: Vec<f64>,
}

/// Phase 4: `accounts` accounts in the database, looked up through `Profiles`.
async fn login(accounts: u32, db: Db, scratch: Scratch) -> anyhow::Result<Login> {
    const WARM: u32 = 50;
    let hash =
        |i: u32| format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ{i:08}$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA");
    let name = |i: u32| format!("pb_user_{i:06}");
    for i in 0..accounts + WARM {
        db.insert_account(1_000_000 + u64::from(i), &name(i), &hash(i)).await.context("inserting an account")?;
    }
    // A fixed shuffle (LCG), so lookups do not follow insertion order.
    let mut order: Vec<u32> = (0..accounts).collect();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for i in (1..order.len()).rev() {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    let cache = match (&scratch.redis_url, &scratch.redis_prefix) {
        (Some(url), Some(prefix)) => {
            let cache = RedisCache::connect(url, prefix).await.context("connecting to Redis")?;
            wipe_prefix(url, prefix).await?;
            Some(cache)
        }
        _ => None,
    };
    let with_redis = cache.is_some();
    let profiles = Profiles::new(db.clone(), cache);
    // Warm the pool's connections and prepared statements on accounts not measured.
    for i in accounts..accounts + WARM {
        profiles.lookup(&name(i)).await?;
    }
    let before = profiles.stats().snapshot();
    let lookups = |expect_redis: &'static str| {
        let profiles = &profiles;
        let order = &order;
        async move {
            let mut ms = Vec::with_capacity(order.len());
            for &i in order {
                let t = Instant::now();
                let found = profiles.lookup(&name(i)).await?;
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                match found {
                    Some(p) if p.player_id == 1_000_000 + u64::from(i) => {}
                    other => bail!("{expect_redis} lookup of {} returned {other:?}", name(i)),
                }
            }
            anyhow::Ok(ms)
        }
    };
    let miss_ms = lookups("miss").await?;
    let hit_ms = if with_redis { Some(lookups("hit").await?) } else { None };
    let after = profiles.stats().snapshot();
    if with_redis {
        let n = u64::from(accounts);
        let (hits, misses, errors) =
            (after.hits - before.hits, after.misses - before.misses, after.errors - before.errors);
        eprintln!("login: {hits} Redis hits, {misses} misses, {errors} Redis errors (expected {n}, {n}, 0)");
        if hits != n || misses != n || errors != 0 {
            bail!("the cache did not behave as measured: {hits} hits, {misses} misses, {errors} errors");
        }
    }
    Ok(Login { hit_ms, miss_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_urls_keep_server_and_query() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/test?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x").unwrap(), "postgres://h/x");
        assert_eq!(with_database("postgres://h/", "x").unwrap(), "postgres://h/x");
        assert!(with_database("nope", "x").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        assert_eq!((percentile(&v, 50.0), percentile(&v, 95.0), percentile(&v, 100.0)), (50.0, 95.0, 100.0));
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn medians_take_the_middle_two_of_an_even_count() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
