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
//! 2. **Tick runs**, alternating OFF/ON (`off, on, on, off, ...`): the same generated world (same
//!    seed) each time; OFF is the simulation alone, ON adds `PersistencePlugin` and a
//!    `Persister` writing to the scratch database at the shipped flush interval. Each run
//!    warms up, then times every tick (`FixedMain`) individually, back to back or, with
//!    `--tick-hz`, started at the server's rate. In ON runs the writer's
//!    confirmations give rows per second of transaction time (the transactions that fold the
//!    journal into `entities` included: `--journal-fold-rows`, as the server's flag), rows per
//!    batch and flush (transaction) durations.
//! 3. **Bulk**: batches holding every entity of the world, encoded and applied with the
//!    writer's own `encode_batch`/`apply_with`, written into `entities` (as the server writes a
//!    batch of `--journal-fold-rows` rows or more): the writer's ceiling on whole-world batches.
//! 4. **Login**: accounts looked up through `Profiles` after wiping the Redis prefix (misses:
//!    Redis, database, write-back), then again (hits). Without `--redis-url` the database path
//!    alone is measured as the miss.
//!
//! A human summary goes to stderr; the last stdout line is one JSON object:
//! `{rows_per_s, batch_rows, flush_ms:{p50,p99}, tick_p99_ms_off, tick_p99_ms_on,
//! login_ms:{redis_hit_p95, miss_p95}, ...}` plus extra keys (per-run figures, the ON/OFF ratio of
//! each pair of runs made one after the other, census, bulk).
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
use starforge_bench::{
    Parked, Summary, build_world_with, park_fleets, run_ticks, systems_for, thread_cpu_time, tick, time_ticks,
};
use starforge_components::prelude::*;
use starforge_persistence::rows::{Kind, WorldMeta};
use starforge_persistence::writer::{self, Batch, Confirmation, WriterOptions};
use starforge_persistence::{
    Changes, Db, DbTarget, Hot, PendingChanges, PersistAfter, PersistSystems, PersistencePlugin, Persister, Profiles,
    RedisCache, collect_now, flush_now, wait_confirmed,
};
use starforge_systems::prelude::*;

/// Generous bound for the database to take or confirm a batch (a hang guard, not a bar).
const CONFIRM: Duration = Duration::from_secs(120);

/// Measures persistence: writer throughput, flush time, tick time off/on, login hydration.
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
    /// Unmeasured ticks at the start of every run, twice: the first flush writes the whole
    /// world, which is written before the second warm-up; the second lets the storage layout
    /// settle (ships moving into the hot tables) and lets Postgres finish with the whole-world
    /// write. Both count as warm-up in OFF runs too. The second warm-up's ticks are summarised
    /// on stderr (the one-time cost after a start).
    #[arg(long, default_value_t = 40)]
    warmup: u32,
    /// Measured ticks per run.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    ticks: u32,
    /// OFF/ON pairs of runs (alternating off, on, on, off, ...).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Ticks counted by the census (phase 1; default: `--ticks`, so it spans the same ticks of
    /// the world's history as the measured ones).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    census_ticks: Option<u32>,
    /// Whole-world batches applied in the bulk phase (after one inserting into empty tables).
    #[arg(long, default_value_t = 5)]
    bulk_batches: u32,
    /// Accounts looked up in the login phase.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..))]
    accounts: u32,
    /// Write every measured tick to this CSV file (`run,mode,tick,tick_ms,persist_ms,flushed`).
    #[arg(long)]
    tick_log: Option<std::path::PathBuf>,
    /// Start measured ticks at this rate, as the server does (e.g. 20, the default tuning's
    /// `tick_hz`), sleeping between them; 0 runs them back to back. Paced, the writer and
    /// Postgres overlap a few ticks per flush instead of every tick of the transaction.
    #[arg(long, default_value_t = 0.0)]
    tick_hz: f64,
    /// Keep the scratch database and Redis keys (their names are printed).
    #[arg(long)]
    keep: bool,
    /// Journal rows at which the writer folds the journal into `entities`, as the server's
    /// `--journal-fold-rows` (0: every batch straight into `entities`, no journal).
    #[arg(long, default_value_t = writer::JOURNAL_FOLD_ROWS)]
    journal_fold_rows: u64,
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
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("persist")
            .enable_all()
            .build()
            .context("tokio runtime")?,
    );
    let scratch = rt.block_on(Scratch::create(&args.database_url, args.redis_url.as_deref()))?;
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
    async fn create(database_url: &str, redis_url: Option<&str>) -> anyhow::Result<Scratch> {
        let suffix = random_suffix();
        let name = format!("persistbench_{suffix}");
        let url = with_database(database_url, &name)?;
        let mut conn = admin_connect(database_url).await?;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
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

fn run(args: &Args, rt: &Arc<tokio::runtime::Runtime>, scratch: &Scratch) -> anyhow::Result<serde_json::Value> {
    let db = rt.block_on(async {
        let db = Db::connect(&scratch.db_target()).await?;
        db.migrate().await?;
        anyhow::Ok(db)
    })?;
    eprintln!(
        "world: {} ships, {} colonies, {} orders, {} systems, seed {}, {:.0} % of NPC fleets active",
        args.ships,
        args.colonies(),
        args.orders(),
        args.systems(),
        args.seed,
        args.active * 100.0
    );

    // 1. Census.
    let census = census(args);
    eprintln!(
        "census over {} ticks: {:.0} entity records changed per tick ({:.0} ships = {:.1} % of {} ships (mean), {:.0} orders, \
         {:.0} colonies, {:.0} fleets, {:.0} empires, {:.1} despawns), {:.1} history entries per tick",
        census.ticks,
        census.per_tick(census.total()),
        census.per_tick(census.ships),
        100.0 * census.per_tick(census.ships) / census.world_ships.max(1) as f64,
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

    // 2. Tick runs, off/on alternating (ABBA).
    let mut off: Vec<RunResult> = Vec::new();
    let mut on: Vec<RunResult> = Vec::new();
    let mut log = String::from("run,mode,tick,tick_ms,persist_ms,flushed\n");
    for pair in 0..args.runs {
        let order = if pair % 2 == 0 { [false, true] } else { [true, false] };
        for persist in order {
            let r = timed_run(args, persist, rt, &db)?;
            r.print(if persist { on.len() } else { off.len() });
            log += &r.csv(off.len() + on.len());
            if persist { on.push(r) } else { off.push(r) }
        }
    }
    if let Some(path) = &args.tick_log {
        std::fs::write(path, log).with_context(|| format!("writing {}", path.display()))?;
    }
    let pooled = |runs: &[RunResult]| -> Vec<f64> { runs.iter().flat_map(|r| to_ms(&r.samples)).collect() };
    let (off_ms, on_ms) = (pooled(&off), pooled(&on));
    let (p99_off, p99_on) = (percentile(&off_ms, 99.0), percentile(&on_ms, 99.0));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let confirmations: Vec<Confirmation> = on.iter().flat_map(|r| r.confirmations.iter().copied()).collect();
    let rows: usize = confirmations.iter().map(|c| c.rows).sum();
    let fold_debt_s: f64 = on.iter().map(|r| r.fold_debt.as_secs_f64()).sum();
    let tx_s: f64 = confirmations.iter().map(|c| c.transaction.as_secs_f64()).sum::<f64>() + fold_debt_s;
    let rows_per_s = rows as f64 / tx_s.max(f64::MIN_POSITIVE);
    let batch_rows = rows as f64 / confirmations.len().max(1) as f64;
    let flush_ms: Vec<f64> = confirmations.iter().map(|c| c.transaction.as_secs_f64() * 1e3).collect();
    let flush_total_ms: Vec<f64> = confirmations.iter().map(|c| c.elapsed.as_secs_f64() * 1e3).collect();
    // Batches whose transaction folded the journal into `entities` (their time is in `tx_s`).
    let fold_ms: Vec<f64> =
        confirmations.iter().filter(|c| c.folded > 0).map(|c| c.transaction.as_secs_f64() * 1e3).collect();
    let plain_ms: Vec<f64> =
        confirmations.iter().filter(|c| c.folded == 0).map(|c| c.transaction.as_secs_f64() * 1e3).collect();
    let rows_folded: u64 = confirmations.iter().map(|c| c.folded).sum();
    let persist_ms: Vec<f64> = on.iter().flat_map(|r| to_ms(&r.persist_times)).collect();
    let flush_tick_ms: Vec<f64> = on.iter().flat_map(|r| to_ms(&r.flush_ticks())).collect();
    let deferred: u64 = on.iter().map(|r| r.deferred).sum();
    eprintln!(
        "ticks pooled: OFF p99 {p99_off:.3} ms (mean {:.3}), ON p99 {p99_on:.3} ms (mean {:.3}); ON/OFF p99 = {:.3} \
         (bar <= 1.1)",
        mean(&off_ms),
        mean(&on_ms),
        p99_on / p99_off.max(f64::MIN_POSITIVE)
    );
    // The machine's speed drifts between runs; each pair ran one after the other, so its ratio
    // shows what the pooled one can hide (a slow OFF run lifts the pooled OFF p99).
    let runs_p99 =
        |runs: &[RunResult]| -> Vec<f64> { runs.iter().map(|r| percentile(&to_ms(&r.samples), 99.0)).collect() };
    let (off_p99s, on_p99s) = (runs_p99(&off), runs_p99(&on));
    let pair_ratios: Vec<f64> = on_p99s.iter().zip(&off_p99s).map(|(a, b)| a / b.max(f64::MIN_POSITIVE)).collect();
    eprintln!(
        "  ON/OFF p99 per pair of runs made one after the other: {}",
        pair_ratios.iter().map(|r| format!("{r:.3}")).collect::<Vec<_>>().join(", ")
    );
    eprintln!(
        "  ON: persistence systems (collect + flush) per tick: mean {:.3} ms, p99 {:.3} ms; ticks that flushed: \
         p50 {:.3} ms, max {:.3} ms; batches deferred (writer busy): {deferred}",
        mean(&persist_ms),
        percentile(&persist_ms, 99.0),
        percentile(&flush_tick_ms, 50.0),
        percentile(&flush_tick_ms, 100.0),
    );
    eprintln!(
        "writer in ON runs: {} batches, {batch_rows:.0} rows per batch, transaction p50 {:.1} ms p99 {:.1} ms \
         (with encoding p50 {:.1} ms), {rows_per_s:.0} rows/s of transaction time (bar >= 200000)",
        confirmations.len(),
        percentile(&flush_ms, 50.0),
        percentile(&flush_ms, 99.0),
        percentile(&flush_total_ms, 50.0),
    );
    eprintln!(
        "  of which {} folded the journal into entities ({rows_folded} journal rows; transaction p50 {:.1} ms, max \
         {:.1}); the others p50 {:.1} ms (--journal-fold-rows {}); folding what was left in the journal at the \
         end of the runs: {:.1} ms in all (counted in rows/s)",
        fold_ms.len(),
        percentile(&fold_ms, 50.0),
        percentile(&fold_ms, 100.0),
        percentile(&plain_ms, 50.0),
        args.journal_fold_rows,
        fold_debt_s * 1e3,
    );

    // 3. Bulk.
    let bulk = bulk(args, rt, &db)?;
    eprintln!(
        "bulk: {} rows per batch; into empty tables {:.1} ms; upserts: transaction p50 {:.1} ms, encoding p50 {:.1} ms \
         -> {:.0} rows/s of transaction time ({:.0} rows/s encoding included)",
        bulk.rows,
        bulk.insert_ms,
        percentile(&bulk.tx_ms, 50.0),
        percentile(&bulk.encode_ms, 50.0),
        bulk.rows_per_s(),
        bulk.rows_per_s_with_encoding(),
    );

    // 4. Login.
    // On a runtime worker, as the server's login handler runs (no hand-off to a thread outside
    // the runtime per await).
    let login = rt.block_on(rt.spawn(login(args.accounts, db.clone(), scratch.clone()))).context("login task")??;
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
    rt.block_on(db.close());

    let ratio = p99_on / p99_off.max(f64::MIN_POSITIVE);
    let hit_p95 = login.hit_ms.as_deref().map(|h| round3(percentile(h, 95.0)));
    let miss_p95 = round3(percentile(&login.miss_ms, 95.0));
    eprintln!("bars:");
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    eprintln!("  rows/s >= 200000 (ON run): {rows_per_s:.0} -> {}", verdict(rows_per_s >= 200_000.0));
    eprintln!("  tick p99 ON <= 1.1 x OFF: {p99_on:.3} / {p99_off:.3} = {ratio:.3} -> {}", verdict(ratio <= 1.1));
    if let Some(h) = hit_p95 {
        eprintln!("  login Redis hit p95 <= 2 ms: {h:.3} -> {}", verdict(h <= 2.0));
    }
    eprintln!("  login miss p95 <= 10 ms: {miss_p95:.3} -> {}", verdict(miss_p95 <= 10.0));

    let round_all = |v: &[f64]| -> Vec<f64> { v.iter().copied().map(round3).collect() };
    let world_ships = census.world_ships;
    Ok(json!({
        "rows_per_s": rows_per_s.round(),
        "batch_rows": batch_rows.round(),
        "flush_ms": { "p50": round3(percentile(&flush_ms, 50.0)), "p99": round3(percentile(&flush_ms, 99.0)) },
        "tick_p99_ms_off": round3(p99_off),
        "tick_p99_ms_on": round3(p99_on),
        "login_ms": { "redis_hit_p95": hit_p95, "miss_p95": miss_p95 },
        "tick_p99_ratio": round3(ratio),
        "tick_p99_ms_off_runs": round_all(&off_p99s),
        "tick_p99_ms_on_runs": round_all(&on_p99s),
        "tick_p99_ratio_pairs": round_all(&pair_ratios),
        "tick_mean_ms_off": round3(mean(&off_ms)),
        "tick_mean_ms_on": round3(mean(&on_ms)),
        "persist_systems_ms": { "mean": round3(mean(&persist_ms)), "p99": round3(percentile(&persist_ms, 99.0)) },
        "batches": confirmations.len(),
        "journal_fold_rows": args.journal_fold_rows,
        "folds": fold_ms.len(),
        "fold_ms": { "p50": round3(percentile(&fold_ms, 50.0)), "max": round3(percentile(&fold_ms, 100.0)) },
        "flush_ms_without_fold_p50": round3(percentile(&plain_ms, 50.0)),
        "fold_left_ms": round3(fold_debt_s * 1e3),
        "batches_deferred": deferred,
        "changed_per_tick": census.per_tick(census.total()).round(),
        "changed_ships_per_tick": census.per_tick(census.ships).round(),
        "changed_ships_pct": round3(100.0 * census.per_tick(census.ships) / world_ships.max(1) as f64),
        "changed_per_flush_interval": census.distinct_per_interval.round(),
        "rows_per_s_bulk": bulk.rows_per_s().round(),
        "rows_per_s_bulk_with_encoding": bulk.rows_per_s_with_encoding().round(),
        "bulk_batch_rows": bulk.rows,
        "bulk_flush_ms": { "p50": round3(percentile(&bulk.tx_ms, 50.0)), "max": round3(percentile(&bulk.tx_ms, 100.0)) },
        "bulk_encode_ms_p50": round3(percentile(&bulk.encode_ms, 50.0)),
        "login_ms_p50": {
            "redis_hit": login.hit_ms.as_deref().map(|h| round3(percentile(h, 50.0))),
            "miss": round3(percentile(&login.miss_ms, 50.0)),
        },
        "ships": args.ships,
        "world_ships": world_ships,
        "colonies": args.colonies(),
        "orders": args.orders(),
        "systems": args.systems(),
        "active_fleets": census.parked.active_fleets,
        "parked_fleets": census.parked.parked_fleets,
        "parked_ships": census.parked.parked_ships,
        "flush_interval_ticks": census.interval,
        "ticks_per_run": args.ticks,
        "tick_hz": args.tick_hz,
        "runs": args.runs,
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
}

/// Phase 1: the records persistence collects each tick (no `Persister`, so nothing is flushed:
/// the pending map is read and emptied after every tick).
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
        for (id, record) in changes.newest() {
            since_interval.insert(*id);
            match record.as_ref().map(|r| r.kind()) {
                None => c.deletes += 1,
                Some(Kind::Ship) => c.ships += 1,
                Some(Kind::Order) => c.orders += 1,
                Some(Kind::Colony) => c.colonies += 1,
                Some(Kind::Fleet) => c.fleets += 1,
                Some(Kind::Empire) => c.empires += 1,
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

/// Wall time of the persistence systems in the tick (collect + flush), per tick.
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
    /// ON: whether the tick handed the pending changes to the writer, per tick.
    flushed: Vec<bool>,
    /// ON: time in the persistence systems, per tick.
    persist_times: Vec<Duration>,
    confirmations: Vec<Confirmation>,
    /// Time to fold into `entities` the journal rows the counted batches left there.
    fold_debt: Duration,
    deferred: u64,
    /// ON: ships marked and unmarked `Hot` during the run (layout churn), and hot at the end.
    layout: (u64, u64, usize),
    /// Ships in the world at the end of the run.
    ships_end: usize,
}

impl RunResult {
    /// Durations of the ticks that flushed.
    fn flush_ticks(&self) -> Vec<Duration> {
        self.samples.iter().zip(&self.flushed).filter(|(_, f)| **f).map(|(d, _)| *d).collect()
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

    fn print(&self, n: usize) {
        let s = Summary::of(&self.samples);
        let wall: f64 = self.samples.iter().map(Duration::as_secs_f64).sum();
        let cpu = self.cpu.map_or(String::new(), |c| {
            let per_tick = c.as_secs_f64() * 1e3 / self.samples.len().max(1) as f64;
            format!(", CPU {per_tick:.3} ms/tick, wall/CPU {:.2}", wall / c.as_secs_f64().max(1e-9))
        });
        eprintln!(
            "run {} #{n}: {} ticks: mean {:.3} ms, p50 {:.3}, p99 {:.3}, max {:.3}{cpu}; {} ships at the end",
            if self.persist { "ON " } else { "OFF" },
            s.count,
            s.mean_ms,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            self.ships_end
        );
        if self.persist {
            let f = Summary::of(&self.flush_ticks());
            let p = Summary::of(&self.persist_times);
            let tx: Vec<Duration> = self.confirmations.iter().map(|c| c.transaction).collect();
            let t = Summary::of(&tx);
            eprintln!(
                "    persistence systems mean {:.3} ms p99 {:.3}; {} flush ticks mean {:.3} ms max {:.3}; {} batches, \
                 transaction p50 {:.1} ms max {:.1}; deferred {}; layout: {} ships marked hot, {} unmarked, {} hot \
                 at the end",
                p.mean_ms,
                p.p99_ms,
                f.count,
                f.mean_ms,
                f.max_ms,
                t.count,
                t.p50_ms,
                t.max_ms,
                self.deferred,
                self.layout.0,
                self.layout.1,
                self.layout.2
            );
        }
    }
}

fn truncate(rt: &tokio::runtime::Runtime, db: &Db) -> anyhow::Result<()> {
    let Db::Postgres(pool) = db else { bail!("persistbench needs Postgres") };
    rt.block_on(sqlx::query("TRUNCATE entities, journal, history, world").execute(pool)).context("TRUNCATE")?;
    Ok(())
}

/// Phase 2: one run, persistence off or on.
fn timed_run(args: &Args, persist: bool, rt: &Arc<tokio::runtime::Runtime>, db: &Db) -> anyhow::Result<RunResult> {
    let (mut app, _) = world_app(args, persist);
    let mut first_batch = 0;
    if persist {
        truncate(rt, db)?;
        let options = WriterOptions { journal_fold_rows: args.journal_fold_rows, ..WriterOptions::default() };
        app.insert_resource(Persister::start(rt.clone(), db.clone(), options, 0, 0));
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
    if persist {
        // The warm-up's batches hold the whole world (every entity is new at the first
        // collection): write them and start measuring on a fresh flush interval.
        let b = flush_now(app.world_mut(), CONFIRM).context("the writer did not take the warm-up batch")?;
        wait_confirmed(app.world(), b, CONFIRM).map_err(|s| anyhow!("warm-up batch {b} not confirmed: {s:?}"))?;
        let persister = app.world().resource::<Persister>();
        let _ = persister.confirmations();
        // Settle: the layout moves ships into the hot tables over the next ticks (a one-time
        // cost after every start, reported here), and Postgres works off the whole-world write.
        let settle = time_ticks(&mut app, args.warmup);
        let s = Summary::of(&settle);
        eprintln!(
            "  settling after the whole-world write ({} ticks): p50 {:.3} ms, max {:.3} ms",
            args.warmup, s.p50_ms, s.max_ms
        );
        let b = flush_now(app.world_mut(), CONFIRM).context("the writer did not take the settling batch")?;
        wait_confirmed(app.world(), b, CONFIRM).map_err(|s| anyhow!("settling batch {b} not confirmed: {s:?}"))?;
        let persister = app.world().resource::<Persister>();
        let _ = persister.confirmations();
        first_batch = b;
        // The measured window starts with an empty journal (the warm-up's rows folded, untimed)...
        rt.block_on(writer::fold(db)).context("folding the warm-up's journal")?;
        app.world_mut().resource_mut::<PersistTimer>().samples.clear();
    } else {
        run_ticks(&mut app, args.warmup);
    }
    let deferred0 = app.world().get_resource::<Persister>().map_or(0, |p| p.deferred);
    let layout0 = app.world().get_resource::<PendingChanges>().map_or((0, 0), |p| (p.woken, p.cooled));
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
        let d = start.elapsed();
        samples.push(d);
        let tick_now = app.world().resource::<SimTick>().0;
        flushed.push(app.world().get_resource::<Persister>().is_some_and(|p| p.last_flush_tick() == tick_now));
    }
    let cpu = thread_cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    let mut result = RunResult {
        persist,
        samples,
        cpu,
        flushed,
        persist_times: Vec::new(),
        confirmations: Vec::new(),
        fold_debt: Duration::ZERO,
        deferred: 0,
        layout: (0, 0, 0),
        ships_end: app.world_mut().query_filtered::<(), With<Ship>>().iter(app.world()).count(),
    };
    if persist {
        result.deferred = app.world().resource::<Persister>().deferred - deferred0;
        let hot = app.world_mut().query_filtered::<(), With<Hot>>().iter(app.world()).count();
        let p = app.world().resource::<PendingChanges>();
        result.layout = (p.woken - layout0.0, p.cooled - layout0.1, hot);
        // The last partial interval is written but not counted.
        let last = flush_now(app.world_mut(), CONFIRM).context("the writer did not take the last batch")?;
        wait_confirmed(app.world(), last, CONFIRM).map_err(|s| anyhow!("last batch {last} not confirmed: {s:?}"))?;
        let persister = app.world().resource::<Persister>();
        let status = persister.status().snapshot();
        if status.failures > 0 {
            eprintln!("warning: the writer had {} failed attempts in this run", status.failures);
        }
        let confirmations = persister.confirmations();
        // ... and ends with one: what the window's batches appended and no fold of theirs wrote
        // into `entities` yet is folded now, timed, and charged to the window (with the last,
        // uncounted batch's rows: slightly more than owed). So is the last batch's transaction
        // if it folded.
        let t = Instant::now();
        rt.block_on(writer::fold(db)).context("folding the journal left at the end of the run")?;
        result.fold_debt = t.elapsed()
            + confirmations.iter().filter(|c| c.batch == last && c.folded > 0).map(|c| c.transaction).sum::<Duration>();
        result.confirmations = confirmations.into_iter().filter(|c| c.batch > first_batch && c.batch < last).collect();
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

/// Phase 3: batches of every entity, through the writer's `encode_batch` and `apply`.
fn bulk(args: &Args, rt: &tokio::runtime::Runtime, db: &Db) -> anyhow::Result<Bulk> {
    truncate(rt, db)?;
    let (mut app, _) = world_app(args, true);
    tick(&mut app);
    collect_now(app.world_mut());
    let entities = std::mem::take(&mut app.world_mut().resource_mut::<PendingChanges>().entities);
    let meta = WorldMeta::capture(app.world());
    drop(app);
    let mut batch = Batch { id: 0, meta, galaxy: None, entities, history: Vec::new() };
    let mut out = Bulk { rows: 0, insert_ms: 0.0, tx_ms: Vec::new(), encode_ms: Vec::new() };
    // As the writer task keeps it: after the first batch every row is one the table holds.
    let mut written = writer::Written::default();
    for i in 0..=args.bulk_batches {
        batch.id = u64::from(i) + 1;
        let t = Instant::now();
        let encoded = writer::encode_batch(&batch, &written).map_err(|e| anyhow!("encoding: {e}"))?;
        let encode_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        // Into `entities` (fold limit 0), as the server writes a batch of a fold's size or more.
        let applied = rt.block_on(writer::apply_with(db, &encoded, 0)).context("applying a bulk batch")?;
        let tx_ms = t.elapsed().as_secs_f64() * 1e3;
        if !applied.written() {
            bail!("bulk batch {} was skipped as already applied", batch.id);
        }
        written.note(&encoded);
        out.rows = encoded.rows();
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
}
