//! `loadbot`: N simulated players in one process against a running Starforge server.
//!
//! Each bot logs in over HTTP (`{prefix}{i}`; the first login creates the player and its
//! starting empire), connects over UDP and plays: it pilots its ships every tick with smooth
//! random thrust/turn (firing when another empire's ship is within 1,500 m), places small
//! buy/sell orders every 5–10 s (sometimes cancelling one), and queues a fighter now and then.
//! Logins run on a pool of `--ramp-threads`; the bots are driven by `--update-threads` threads
//! that each own a slice of them.
//!
//! Nothing is measured during the ramp (logins and connects). The measurement window starts
//! once every bot is connected or has failed (or after `--ramp-timeout`), and lasts
//! `--seconds`. Human-readable lines go to stderr (with a progress bar when stderr is a
//! terminal); the last stdout line is one JSON object:
//!
//! ```text
//! {"clients":N,"connected":n,"failed":n,"disconnects":n,"rtt_ms":{"p50":..,"p95":..,"p99":..},
//!  "snapshot_interval_ms":{"p50":..,"p99":..},"down_bytes_per_s_per_client":{"mean":..,"p99":..},
//!  "bytes_per_entity_update":..,"bytes_per_moving_update":..,"json_bytes_per_moving_update":..,
//!  "json_ratio":..,"visible_entities_mean":..,"server_tick_ms":{"p50":..,"p99":..},
//!  "snapshot_bytes_per_s_per_client":{"mean":..,"p99":..},"ramp_s":..,"window_s":..,"loadbot_cpu_percent":..}
//! ```
//!
//! - `connected`: bots that were connected at some point; `failed` = `clients - connected`
//!   (login refused or failed, connect error, or not connected within 20 s); `disconnects`:
//!   connected bots that lost their connection before the end.
//! - `rtt_ms`: renet's smoothed RTT of every bot, sampled once per second per bot.
//! - `snapshot_interval_ms`: time between successive advances of a bot's newest snapshot tick,
//!   as seen by its update thread (so it includes up to one pass of the thread, `--period-ms`).
//! - `down_bytes_per_s_per_client`: renet's `bytes_received_per_sec()` sampled once per second
//!   per bot; `snapshot_bytes_per_s_per_client` is the same from the SDK's snapshot byte
//!   counter (snapshot payloads only).
//! - `bytes_per_entity_update` = snapshot payload bytes received ÷ records updated by their
//!   snapshot (`record.tick == snapshot tick`). `bytes_per_moving_update` = the same bytes ÷
//!   moving updates only (updated ships whose position or velocity differs from the previous
//!   snapshot the bot holds, or that entered moving): it charges every byte, including
//!   colonies, empires and headers, to the moving ships. The server's own figures (counted
//!   against each snapshot's baseline) are printed to stderr for comparison.
//! - `json_bytes_per_moving_update`: the same moving updates encoded naively per snapshot as
//!   `[{"id":123,"x":1.5,"y":-3.25},...]` with serde_json; `json_ratio` = that ÷
//!   `bytes_per_moving_update`.
//! - `visible_entities_mean`: entities in a bot's snapshot, averaged over examined snapshots.
//! - `server_tick_ms`: the server's tick-time quantiles over its last 1,200 ticks, read from
//!   `/metrics` at the end (`null` if unavailable).
//! - Any figure without samples is `null`.
//!
//! Exit status: 0 when the run completed (even if bots failed: the JSON says so), 2 on bad
//! arguments, 1 if the server is unreachable at the start.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use starforge_shared::client::{SdkError, login};

#[path = "../loadbot/bot.rs"]
mod bot;
#[path = "../loadbot/report.rs"]
mod report;
#[path = "../loadbot/server_metrics.rs"]
mod server_metrics;
#[path = "../loadbot/stats.rs"]
mod stats;

use bot::{Arrival, Phase, Shared};
use server_metrics::Scrape;
use stats::{Accum, mean, percentile, sorted};

/// Drives N simulated players against a running Starforge server and measures what they see.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The server's HTTP base URL (login, /metrics, /health).
    #[arg(long, default_value = "http://127.0.0.1:7000")]
    server: String,
    /// Bots to run (the server accepts at most 1024 connections).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    clients: u32,
    /// Length of the measurement window, after the ramp (seconds).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    seconds: u32,
    /// Threads logging bots in concurrently (first logins are slow: argon2 on the server).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    ramp_threads: u32,
    /// Threads driving the bots (each owns a slice of them).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    update_threads: u32,
    /// Usernames are `{prefix}{i}` (letters, digits, `_`, `-`).
    #[arg(long, default_value = "bot", value_parser = parse_prefix)]
    prefix: String,
    /// Every bot's password (8–128 bytes).
    #[arg(long, default_value = "loadbot-password", value_parser = parse_password)]
    password: String,
    /// Write a chart of RTT and down rate over the window (`.svg` or `.png`).
    #[arg(long, value_name = "FILE", value_parser = parse_report)]
    report: Option<PathBuf>,
    /// Seed of the bots' random behaviour.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Period of an update thread's pass over its bots (ms): shorter is finer RTT and
    /// snapshot-interval resolution, longer costs less CPU.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=100))]
    period_ms: u64,
    /// Seconds between the end of the ramp and the start of the window (renet averages its
    /// byte rates over 6 s, and each bot's first seconds carry the large welcome message).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=600))]
    warmup: u32,
    /// Longest ramp (logins and connects) before the window starts anyway (seconds).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=3600))]
    ramp_timeout: u32,
}

fn parse_prefix(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 24 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err("1 to 24 characters of A-Z a-z 0-9 _ -".into());
    }
    Ok(s.to_owned())
}

fn parse_password(s: &str) -> Result<String, String> {
    if !(8..=128).contains(&s.len()) {
        return Err("8 to 128 bytes".into());
    }
    Ok(s.to_owned())
}

fn parse_report(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg" | "png") => Ok(p),
        _ => Err("the report must end in .svg or .png".into()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let longest = format!("{}{}", args.prefix, args.clients - 1);
    if longest.len() < 3 || longest.len() > 32 {
        Args::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!("usernames must be 3 to 32 characters; `{longest}` is not (change --prefix)"),
            )
            .exit();
    }
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadbot: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// CPU time (user + system) of this process so far, in seconds (Linux; `None` elsewhere).
fn process_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), in clock ticks (USER_HZ, 100 on Linux).
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// What a login thread needs.
struct LoginPlan {
    server: String,
    prefix: String,
    password: String,
    clients: usize,
    /// The next bot index to log in.
    next: AtomicUsize,
}

/// Logs bots in, one at a time, until every index is taken or the run is over.
fn login_thread(shared: &Shared, plan: &LoginPlan, senders: &[Sender<Arrival>]) {
    loop {
        let idx = plan.next.fetch_add(1, Relaxed);
        if idx >= plan.clients || shared.phase() == Phase::Done {
            return;
        }
        let name = format!("{}{idx}", plan.prefix);
        let mut attempt = 0;
        let reply = loop {
            attempt += 1;
            match login(&plan.server, &name, &plan.password) {
                // Overloaded or a concurrent login elsewhere: worth another try.
                Err(SdkError::Refused { status: 503 | 409, .. }) if attempt < 3 => {
                    std::thread::sleep(Duration::from_secs(1));
                }
                r => break r,
            }
        };
        match reply {
            Ok(reply) => {
                shared.logged_in.fetch_add(1, Relaxed);
                let t = idx % senders.len();
                if senders[t].send(Arrival { idx, name, reply }).is_err() {
                    return; // the update threads are gone: the run is over
                }
            }
            Err(e) => shared.login_failure(&name, e.to_string()),
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let n = args.clients as usize;
    match server_metrics::health(&args.server) {
        Err(e) => bail!("server {} is unreachable: {e}", args.server),
        Ok((200, _)) => {}
        Ok((status, body)) => eprintln!("loadbot: warning: GET /health answered {status}: {}", body.trim()),
    }
    if n > 1024 {
        eprintln!("loadbot: warning: {n} clients, but the server accepts at most 1024 connections");
    }
    if args.report.is_some() && report::find_font().is_none() {
        eprintln!("loadbot: warning: no font found for the report (tried {})", report::FONT_PATHS.join(", "));
    }
    eprintln!(
        "loadbot: {n} bots against {}, {} s window, {} login threads, {} update threads, seed {}",
        args.server, args.seconds, args.ramp_threads, args.update_threads, args.seed
    );

    let shared = Arc::new(Shared::new());
    let mut senders = Vec::new();
    let mut updaters = Vec::new();
    for t in 0..args.update_threads.min(args.clients) {
        let (tx, rx) = channel();
        senders.push(tx);
        let shared = Arc::clone(&shared);
        let (seed, period) = (args.seed, Duration::from_millis(args.period_ms));
        updaters.push(
            std::thread::Builder::new()
                .name(format!("bots-{t}"))
                .spawn(move || bot::update_thread(rx, &shared, seed, period))?,
        );
    }
    let plan = Arc::new(LoginPlan {
        server: args.server.clone(),
        prefix: args.prefix.clone(),
        password: args.password.clone(),
        clients: n,
        next: AtomicUsize::new(0),
    });
    for t in 0..args.ramp_threads.min(args.clients) {
        let (shared, plan, senders) = (Arc::clone(&shared), Arc::clone(&plan), senders.clone());
        // Detached: a login still in flight at the end is abandoned.
        std::thread::Builder::new().name(format!("login-{t}")).spawn(move || login_thread(&shared, &plan, &senders))?;
    }
    drop(senders);

    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr_with_hz(4))
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>11.bold} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} {msg}")?
            .progress_chars("=> "),
    );
    pb.set_prefix("logging in");

    let ramp_timeout = Duration::from_secs(u64::from(args.ramp_timeout));
    let window_len = Duration::from_secs(u64::from(args.seconds));
    let mut window: Option<(Instant, Option<Scrape>, Option<f64>)> = None;
    let mut warmup_until: Option<Instant> = None;
    let mut ramp_end = shared.t0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = Instant::now();
        let logged = shared.logged_in.load(Relaxed);
        let login_done = logged + shared.login_failed.load(Relaxed);
        let settled = shared.ever_connected.load(Relaxed) + shared.connect_failed.load(Relaxed);
        let connected_now = shared.connected_now.load(Relaxed);
        let sec = (now - shared.t0).as_secs() as usize;
        let live = shared.timeline.lock().unwrap_or_else(PoisonError::into_inner).live(sec.saturating_sub(1));
        let live = live.map_or(String::new(), |(p99, down)| {
            format!(" | rtt p99 {p99:.1} ms | down {:.1} kbit/s", down * 8.0 / 1000.0)
        });
        pb.set_message(format!("connected {connected_now}/{n}{live}"));
        match window {
            None => {
                if warmup_until.is_none() {
                    if login_done < n {
                        pb.set_position(login_done as u64);
                    } else {
                        pb.set_prefix("connecting");
                        pb.set_position(settled as u64);
                    }
                }
                let ramp_over = login_done == n && settled >= logged;
                let timed_out = now - shared.t0 >= ramp_timeout;
                if warmup_until.is_none() && (ramp_over || timed_out) {
                    let ramp = (now - shared.t0).as_secs_f64();
                    let ever = shared.ever_connected.load(Relaxed);
                    pb.suspend(|| {
                        eprintln!(
                            "loadbot: ramp {} after {ramp:.1} s: {ever} connected, {} login failures, {} connect failures",
                            if ramp_over { "done" } else { "timed out" },
                            shared.login_failed.load(Relaxed),
                            shared.connect_failed.load(Relaxed),
                        )
                    });
                    if ever == 0 {
                        pb.suspend(|| eprintln!("loadbot: no bot connected; skipping the measurement window"));
                        shared.set_phase(Phase::Done);
                        window = Some((now, None, process_cpu_s()));
                        break;
                    }
                    ramp_end = now;
                    warmup_until = Some(now + Duration::from_secs(u64::from(args.warmup)));
                    if args.warmup > 0 {
                        pb.set_prefix("warming up");
                    }
                }
                if warmup_until.is_some_and(|t| now >= t) {
                    let before = server_metrics::scrape(&args.server).ok();
                    shared.set_phase(Phase::Running);
                    window = Some((Instant::now(), before, process_cpu_s()));
                    pb.set_prefix("running");
                    pb.set_length(u64::from(args.seconds));
                    pb.set_position(0);
                }
            }
            Some((start, ..)) => {
                let elapsed = now - start;
                pb.set_position(elapsed.as_secs().min(u64::from(args.seconds)));
                if elapsed >= window_len {
                    shared.set_phase(Phase::Done);
                    break;
                }
            }
        }
    }
    let Some((start, before, cpu0)) = window else { bail!("internal error: the run ended without a window") };
    let end = Instant::now();
    let cpu1 = process_cpu_s();
    let after = server_metrics::scrape(&args.server);
    let mut acc = Accum::default();
    for h in updaters {
        match h.join() {
            Ok(a) => acc.merge(a),
            Err(_) => eprintln!("loadbot: warning: an update thread panicked; its bots' figures are lost"),
        }
    }
    pb.finish_and_clear();

    let summary = Summary {
        clients: n,
        ramp_s: (ramp_end - shared.t0).as_secs_f64(),
        window_start_s: (start - shared.t0).as_secs_f64(),
        window_s: (end - start).as_secs_f64(),
        cpu_percent: cpu0.zip(cpu1).map(|(a, b)| (b - a) / (end - start).as_secs_f64().max(1e-9) * 100.0),
    };
    let after = match after {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("loadbot: warning: cannot read the server's /metrics: {e}");
            None
        }
    };
    let json = summarize(&shared, &acc, &summary, before.as_ref(), after.as_ref());

    if let Some(path) = &args.report {
        let series = {
            let t = shared.timeline.lock().unwrap_or_else(PoisonError::into_inner);
            stats::window_series(&t, summary.window_start_s, summary.window_s)
        };
        let title = format!(
            "Starforge loadbot: {} bots, {} connected, {:.0} s window (after a {:.1} s ramp)",
            n,
            shared.ever_connected.load(Relaxed),
            summary.window_s,
            summary.ramp_s
        );
        match report::write(path, &report::ReportData { title, series }) {
            Ok(()) => eprintln!("loadbot: report written to {}", path.display()),
            Err(e) => eprintln!("loadbot: error: report not written: {e:#}"),
        }
    }
    println!("{json}");
    Ok(())
}

/// Run facts that are not measurements.
struct Summary {
    clients: usize,
    ramp_s: f64,
    window_start_s: f64,
    window_s: f64,
    cpu_percent: Option<f64>,
}

/// Rounds to 3 decimals; non-finite values become `None` (`null`).
fn r3(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| (v * 1000.0).round() / 1000.0)
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Prints the human summary to stderr and returns the JSON line.
fn summarize(shared: &Shared, acc: &Accum, s: &Summary, before: Option<&Scrape>, after: Option<&Scrape>) -> String {
    let connected = shared.ever_connected.load(Relaxed);
    let failed = s.clients - connected;
    let disconnects = shared.disconnects.load(Relaxed);
    let rtt = sorted(acc.rtt_ms.clone());
    let interval = sorted(acc.interval_ms.clone());
    let down = sorted(acc.down_bps.clone());
    let snap = sorted(acc.snapshot_bps.clone());
    let per_update = ratio(acc.snapshot_bytes, acc.updated_records);
    let per_moving = ratio(acc.snapshot_bytes, acc.moving_updates);
    let json_per_moving = ratio(acc.json_bytes, acc.moving_updates);
    let json_ratio = json_per_moving.zip(per_moving).map(|(j, o)| j / o);
    let visible = ratio(acc.visible_sum, acc.examined);
    let tick = |q| after.and_then(|a| a.tick_ms(q));

    let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
    eprintln!(
        "loadbot: {connected}/{} connected, {failed} failed, {disconnects} disconnected; ramp {:.1} s, window {:.1} s",
        s.clients, s.ramp_s, s.window_s
    );
    for (what, list) in [("failure", &shared.failures), ("disconnect", &shared.disconnect_reasons)] {
        for r in list.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            eprintln!("  {what}: {r}");
        }
    }
    eprintln!(
        "  rtt ms p50 {} p95 {} p99 {} ({} samples); snapshot interval ms p50 {} p99 {}",
        f(percentile(&rtt, 0.5)),
        f(percentile(&rtt, 0.95)),
        f(percentile(&rtt, 0.99)),
        rtt.len(),
        f(percentile(&interval, 0.5)),
        f(percentile(&interval, 0.99)),
    );
    eprintln!(
        "  down per client: renet mean {} p99 {} B/s; snapshots mean {} p99 {} B/s",
        f(mean(&down)),
        f(percentile(&down, 0.99)),
        f(mean(&snap)),
        f(percentile(&snap, 0.99)),
    );
    eprintln!(
        "  {} snapshots ({} stale, {} undecodable), {} bytes; {} updated records, {} moving; visible mean {}",
        acc.snapshots,
        acc.stale,
        acc.undecodable,
        acc.snapshot_bytes,
        acc.updated_records,
        acc.moving_updates,
        f(visible)
    );
    eprintln!(
        "  bytes per entity update {}, per moving update {}; naive JSON per moving update {} (x{})",
        f(per_update),
        f(per_moving),
        f(json_per_moving),
        f(json_ratio)
    );
    if let (Some(b), Some(a)) = (before, after) {
        let d = |k: &str| a.get(k).zip(b.get(k)).map(|(a, b)| a - b);
        let bytes = d("starforge_snapshot_bytes_total");
        let server_ratio = |k: &str| bytes.zip(d(k)).and_then(|(b, u)| (u > 0.0).then(|| b / u));
        eprintln!(
            "  server (all its clients, moving counted against each baseline): bytes per entity update {}, per moving update {}",
            f(server_ratio("starforge_snapshot_entity_updates_total")),
            f(server_ratio("starforge_snapshot_moving_updates_total")),
        );
    }
    eprintln!("  server tick ms p50 {} p99 {}; loadbot CPU {}%", f(tick("0.5")), f(tick("0.99")), f(s.cpu_percent));
    eprintln!(
        "  bots sent {} pilot inputs ({} rejected), {} events received",
        acc.pilot_inputs, acc.inputs_rejected, acc.events
    );
    for (what, t) in [("place order", &acc.place), ("cancel order", &acc.cancel), ("queue ship", &acc.queue)] {
        let errors: Vec<String> = t.errors.iter().map(|(k, v)| format!("{v}x {k:?}")).collect();
        eprintln!(
            "  {what}: {} sent, {} ok, errors: {}",
            t.sent,
            t.ok,
            if errors.is_empty() { "none".into() } else { errors.join("; ") }
        );
    }

    let line = JsonLine {
        clients: s.clients,
        connected,
        failed,
        disconnects,
        rtt_ms: Quantiles3 {
            p50: r3(percentile(&rtt, 0.5)),
            p95: r3(percentile(&rtt, 0.95)),
            p99: r3(percentile(&rtt, 0.99)),
        },
        snapshot_interval_ms: Quantiles2 { p50: r3(percentile(&interval, 0.5)), p99: r3(percentile(&interval, 0.99)) },
        down_bytes_per_s_per_client: MeanP99 { mean: r3(mean(&down)), p99: r3(percentile(&down, 0.99)) },
        bytes_per_entity_update: r3(per_update),
        bytes_per_moving_update: r3(per_moving),
        json_bytes_per_moving_update: r3(json_per_moving),
        json_ratio: r3(json_ratio),
        visible_entities_mean: r3(visible),
        server_tick_ms: Quantiles2 { p50: r3(tick("0.5")), p99: r3(tick("0.99")) },
        snapshot_bytes_per_s_per_client: MeanP99 { mean: r3(mean(&snap)), p99: r3(percentile(&snap, 0.99)) },
        ramp_s: r3(Some(s.ramp_s)),
        window_s: r3(Some(s.window_s)),
        loadbot_cpu_percent: r3(s.cpu_percent),
    };
    serde_json::to_string(&line).unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the summary: {e}\"}}"))
}

/// p50/p95/p99.
#[derive(Serialize)]
struct Quantiles3 {
    p50: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
}

/// p50/p99.
#[derive(Serialize)]
struct Quantiles2 {
    p50: Option<f64>,
    p99: Option<f64>,
}

/// Mean and p99.
#[derive(Serialize)]
struct MeanP99 {
    mean: Option<f64>,
    p99: Option<f64>,
}

/// The last stdout line, fields in this order (see the module documentation).
#[derive(Serialize)]
struct JsonLine {
    clients: usize,
    connected: usize,
    failed: usize,
    disconnects: usize,
    rtt_ms: Quantiles3,
    snapshot_interval_ms: Quantiles2,
    down_bytes_per_s_per_client: MeanP99,
    bytes_per_entity_update: Option<f64>,
    bytes_per_moving_update: Option<f64>,
    json_bytes_per_moving_update: Option<f64>,
    json_ratio: Option<f64>,
    visible_entities_mean: Option<f64>,
    server_tick_ms: Quantiles2,
    snapshot_bytes_per_s_per_client: MeanP99,
    ramp_s: Option<f64>,
    window_s: Option<f64>,
    loadbot_cpu_percent: Option<f64>,
}
