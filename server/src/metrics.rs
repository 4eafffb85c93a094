//! A per-instance metrics registry rendered as Prometheus text (exposition format 0.0.4).
//!
//! No global recorder: every server owns an `Arc<Metrics>`, so several servers can run in one
//! test process. The game loop records (atomics and short `Mutex` sections, no allocation on the
//! hot paths after the first sample of a label); `GET /metrics` calls [`Metrics::render`].
//!
//! Every name starts with `starforge_`. Durations are in seconds; histograms use the fixed
//! buckets [`BUCKETS`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Histogram bucket upper bounds in seconds (`+Inf` is implied).
pub const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25];

/// How many of the latest ticks [`Metrics::tick_quantile_ms`] looks at (one minute at 20 Hz).
pub const TICK_WINDOW: usize = 1200;

/// The quantiles exported as `starforge_tick_seconds_window{quantile=..}`.
pub const WINDOW_QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The system sets reported with zeros before their first sample.
pub const SETS: [&str; 7] = ["input", "movement", "combat", "production", "market", "bookkeeping", "replication"];
/// The entity kinds reported with zeros before their first sample.
pub const ENTITY_KINDS: [&str; 5] = ["ships", "colonies", "fleets", "empires", "orders"];
/// The invalid packet reasons reported with zeros before their first sample: every
/// [`Reason`](starforge_shared::ingress::Reason).
pub fn invalid_reasons() -> Vec<&'static str> {
    starforge_shared::ingress::Reason::ALL.iter().map(|r| r.label()).collect()
}
/// The login outcomes reported with zeros before their first sample.
pub const LOGIN_OUTCOMES: [&str; 7] =
    ["created", "ok", "wrong_password", "bad_request", "version", "unavailable", "rate_limited"];

/// A histogram with the fixed [`BUCKETS`]; lock-free.
#[derive(Debug, Default)]
struct Histogram {
    /// Per-bucket (non-cumulative) counts; the last one is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Relaxed);
        }
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Relaxed);
            let le = BUCKETS.get(i).map_or_else(|| "+Inf".to_string(), |b| fmt_f64(*b));
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let sum = self.sum_nanos.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum{braces} {}", fmt_f64(sum));
        // The count is the +Inf bucket by definition, from the same reads, so they always agree.
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// The last [`TICK_WINDOW`] tick durations, in seconds.
#[derive(Debug, Default)]
struct Window {
    ticks: VecDeque<f64>,
}

/// The per-instance metrics registry. Share it as `Arc<Metrics>`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    tick: Histogram,
    replication: Histogram,
    sets: Mutex<BTreeMap<&'static str, Histogram>>,
    window: Mutex<Window>,
    overruns: AtomicU64,
    entities: Mutex<BTreeMap<&'static str, u64>>,
    clients: AtomicU64,
    current_tick: AtomicU64,
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    invalid_packets: Mutex<BTreeMap<&'static str, u64>>,
    dropped_clients: Mutex<BTreeMap<&'static str, u64>>,
    logins: Mutex<BTreeMap<&'static str, u64>>,
    snapshot_bytes: AtomicU64,
    snapshot_entity_updates: AtomicU64,
    snapshot_moving_updates: AtomicU64,
    /// Gauges and counters set from outside (persistence, login cache): name → (kind, help, value).
    extra: Mutex<BTreeMap<&'static str, (&'static str, &'static str, f64)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single insert or add: a poisoned lock holds consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn zeros(keys: &[&'static str]) -> Mutex<BTreeMap<&'static str, u64>> {
    Mutex::new(keys.iter().map(|k| (*k, 0)).collect())
}

impl Metrics {
    /// An empty registry; the known label values ([`SETS`], [`ENTITY_KINDS`],
    /// [`invalid_reasons`], [`LOGIN_OUTCOMES`]) are reported as zeros from the start.
    pub fn new() -> Self {
        Self {
            tick: Histogram::default(),
            replication: Histogram::default(),
            sets: Mutex::new(SETS.iter().map(|s| (*s, Histogram::default())).collect()),
            window: Mutex::new(Window { ticks: VecDeque::with_capacity(TICK_WINDOW) }),
            overruns: AtomicU64::new(0),
            entities: zeros(&ENTITY_KINDS),
            clients: AtomicU64::new(0),
            current_tick: AtomicU64::new(0),
            packets_in: AtomicU64::new(0),
            packets_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            invalid_packets: zeros(&invalid_reasons()),
            dropped_clients: Mutex::new(BTreeMap::new()),
            logins: zeros(&LOGIN_OUTCOMES),
            snapshot_bytes: AtomicU64::new(0),
            snapshot_entity_updates: AtomicU64::new(0),
            snapshot_moving_updates: AtomicU64::new(0),
            extra: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sets a metric owned elsewhere (e.g. persistence) to `value`; `kind` is `gauge` or
    /// `counter` (then `value` is the running total).
    pub fn set_gauge(&self, name: &'static str, kind: &'static str, help: &'static str, value: f64) {
        lock(&self.extra).insert(name, (kind, help, value));
    }

    /// Whole-tick wall time; also kept in a window of the last [`TICK_WINDOW`] ticks for
    /// quantiles.
    pub fn observe_tick(&self, d: Duration) {
        self.tick.observe(d);
        let mut w = lock(&self.window);
        if w.ticks.len() >= TICK_WINDOW {
            w.ticks.pop_front();
        }
        w.ticks.push_back(d.as_secs_f64());
    }

    /// Wall time of one system set within a tick; `set` is one of [`SETS`] (others are accepted
    /// and reported too). `"replication"` also feeds `starforge_replication_seconds`.
    pub fn observe_set(&self, set: &'static str, d: Duration) {
        if set == "replication" {
            self.replication.observe(d);
        }
        lock(&self.sets).entry(set).or_default().observe(d);
    }

    /// Adds `n` ticks that overran their period.
    pub fn add_overruns(&self, n: u64) {
        self.overruns.fetch_add(n, Relaxed);
    }

    /// The current number of entities of a kind (one of [`ENTITY_KINDS`]).
    pub fn set_entities(&self, kind: &'static str, n: u64) {
        lock(&self.entities).insert(kind, n);
    }

    /// The current number of connected clients.
    pub fn set_clients(&self, n: u64) {
        self.clients.store(n, Relaxed);
    }

    /// The current simulation tick.
    pub fn set_tick(&self, tick: u64) {
        self.current_tick.store(tick, Relaxed);
    }

    /// Counts received UDP packets and their bytes.
    pub fn add_packets_in(&self, packets: u64, bytes: u64) {
        self.packets_in.fetch_add(packets, Relaxed);
        self.bytes_in.fetch_add(bytes, Relaxed);
    }

    /// Counts sent UDP packets and their bytes.
    pub fn add_packets_out(&self, packets: u64, bytes: u64) {
        self.packets_out.fetch_add(packets, Relaxed);
        self.bytes_out.fetch_add(bytes, Relaxed);
    }

    /// Counts one rejected client message by reason (one of [`invalid_reasons`]).
    pub fn add_invalid_packet(&self, reason: &'static str) {
        *lock(&self.invalid_packets).entry(reason).or_insert(0) += 1;
    }

    /// Counts one client dropped by the server, by reason (e.g. "timeout", "kicked", "invalid").
    pub fn add_dropped_client(&self, reason: &'static str) {
        *lock(&self.dropped_clients).entry(reason).or_insert(0) += 1;
    }

    /// Counts one login by outcome (one of [`LOGIN_OUTCOMES`]).
    pub fn add_login(&self, outcome: &'static str) {
        *lock(&self.logins).entry(outcome).or_insert(0) += 1;
    }

    /// Counts one snapshot sent: its size and how many entity updates (of which moving-entity
    /// updates) it carried.
    pub fn add_snapshot(&self, bytes: u64, entity_updates: u64, moving_updates: u64) {
        self.snapshot_bytes.fetch_add(bytes, Relaxed);
        self.snapshot_entity_updates.fetch_add(entity_updates, Relaxed);
        self.snapshot_moving_updates.fetch_add(moving_updates, Relaxed);
    }

    /// The `q` quantile (0 to 1, clamped) of the last [`TICK_WINDOW`] tick durations, in
    /// milliseconds, by nearest rank; `None` before the first tick or for a NaN `q`.
    pub fn tick_quantile_ms(&self, q: f64) -> Option<f64> {
        self.window_quantiles_s(&[q]).first().copied().flatten().map(|s| s * 1000.0)
    }

    /// Quantiles of the window in seconds, sorting one copy for all of them.
    fn window_quantiles_s(&self, qs: &[f64]) -> Vec<Option<f64>> {
        let mut sorted: Vec<f64> = lock(&self.window).ticks.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        qs.iter()
            .map(|q| {
                if q.is_nan() || sorted.is_empty() {
                    return None;
                }
                let n = sorted.len();
                // Nearest rank: the smallest value with at least q·n values at or below it.
                let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
                sorted.get(rank.clamp(1, n) - 1).copied()
            })
            .collect()
    }

    /// Everything in the Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);

        header(&mut out, "starforge_tick_seconds", "histogram", "Wall time of one simulation tick.");
        self.tick.render(&mut out, "starforge_tick_seconds", "");

        header(
            &mut out,
            "starforge_tick_seconds_window",
            "gauge",
            "Tick wall time quantiles over the last 1200 ticks (nearest rank).",
        );
        for (q, v) in WINDOW_QUANTILES.iter().zip(self.window_quantiles_s(&WINDOW_QUANTILES)) {
            if let Some(v) = v {
                let _ = writeln!(out, "starforge_tick_seconds_window{{quantile=\"{}\"}} {}", fmt_f64(*q), fmt_f64(v));
            }
        }

        header(&mut out, "starforge_set_seconds", "histogram", "Wall time of one system set within a tick.");
        for (set, h) in lock(&self.sets).iter() {
            h.render(&mut out, "starforge_set_seconds", &format!("set=\"{}\"", escape(set)));
        }

        header(&mut out, "starforge_replication_seconds", "histogram", "Wall time of replication within a tick.");
        self.replication.render(&mut out, "starforge_replication_seconds", "");

        scalar(&mut out, "starforge_overruns_total", "counter", "Ticks that overran their period.", &self.overruns);
        labelled(&mut out, "starforge_entities", "gauge", "Entities by kind.", "kind", &self.entities);
        scalar(&mut out, "starforge_clients", "gauge", "Connected clients.", &self.clients);
        scalar(&mut out, "starforge_tick", "gauge", "The current simulation tick.", &self.current_tick);

        header(&mut out, "starforge_packets_total", "counter", "UDP packets by direction.");
        let _ = writeln!(out, "starforge_packets_total{{direction=\"in\"}} {}", self.packets_in.load(Relaxed));
        let _ = writeln!(out, "starforge_packets_total{{direction=\"out\"}} {}", self.packets_out.load(Relaxed));
        header(&mut out, "starforge_bytes_total", "counter", "UDP payload bytes by direction.");
        let _ = writeln!(out, "starforge_bytes_total{{direction=\"in\"}} {}", self.bytes_in.load(Relaxed));
        let _ = writeln!(out, "starforge_bytes_total{{direction=\"out\"}} {}", self.bytes_out.load(Relaxed));

        labelled(
            &mut out,
            "starforge_invalid_packets_total",
            "counter",
            "Rejected client messages by reason.",
            "reason",
            &self.invalid_packets,
        );
        labelled(
            &mut out,
            "starforge_dropped_clients_total",
            "counter",
            "Clients dropped by the server, by reason.",
            "reason",
            &self.dropped_clients,
        );
        labelled(&mut out, "starforge_logins_total", "counter", "Logins by outcome.", "outcome", &self.logins);

        scalar(&mut out, "starforge_snapshot_bytes_total", "counter", "Bytes of snapshots sent.", &self.snapshot_bytes);
        scalar(
            &mut out,
            "starforge_snapshot_entity_updates_total",
            "counter",
            "Entity updates in snapshots sent.",
            &self.snapshot_entity_updates,
        );
        scalar(
            &mut out,
            "starforge_snapshot_moving_updates_total",
            "counter",
            "Moving-entity updates in snapshots sent.",
            &self.snapshot_moving_updates,
        );
        for (name, (kind, help, value)) in lock(&self.extra).iter() {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {}", fmt_f64(*value));
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: &AtomicU64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "{name} {}", value.load(Relaxed));
}

fn labelled(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    label: &str,
    values: &Mutex<BTreeMap<&'static str, u64>>,
) {
    header(out, name, kind, help);
    for (value, n) in lock(values).iter() {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value));
    }
}

/// A label value escaped for the text format (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A float in the text format: `+Inf`, `-Inf`, `NaN` or Rust's shortest round-trip decimal.
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

/// Reads one sample back from Prometheus text: the value of the first line whose name and labels
/// are exactly `name_with_labels` as rendered (e.g. `starforge_logins_total{outcome="ok"}`, or
/// `starforge_clients`). `None` if there is no such line or its value does not parse.
pub fn parse_metric(text: &str, name_with_labels: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let rest = line.strip_prefix(name_with_labels)?;
        // The sample name must end here: a space (or tab) separates it from the value.
        let rest = rest.strip_prefix([' ', '\t'])?;
        let value = rest.split_whitespace().next()?;
        match value {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            v => v.parse().ok(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn histograms_render_cumulative_buckets() {
        let m = Metrics::new();
        m.observe_tick(Duration::from_micros(400)); // ≤ 0.0005
        m.observe_tick(ms(3)); // ≤ 0.005
        m.observe_tick(ms(5)); // ≤ 0.005 (bounds are inclusive)
        m.observe_tick(ms(400)); // +Inf
        let text = m.render();
        let get = |k: &str| parse_metric(&text, k).unwrap_or_else(|| panic!("{k} missing in\n{text}"));
        assert_eq!(get("starforge_tick_seconds_bucket{le=\"0.0005\"}"), 1.0);
        assert_eq!(get("starforge_tick_seconds_bucket{le=\"0.002\"}"), 1.0);
        assert_eq!(get("starforge_tick_seconds_bucket{le=\"0.005\"}"), 3.0);
        assert_eq!(get("starforge_tick_seconds_bucket{le=\"0.25\"}"), 3.0);
        assert_eq!(get("starforge_tick_seconds_bucket{le=\"+Inf\"}"), 4.0);
        assert_eq!(get("starforge_tick_seconds_count"), 4.0);
        assert!((get("starforge_tick_seconds_sum") - 0.4084).abs() < 1e-9);
        assert!(text.contains("# TYPE starforge_tick_seconds histogram\n"));
        assert!(text.contains("# HELP starforge_tick_seconds "));

        m.observe_set("combat", ms(2));
        m.observe_set("replication", ms(1));
        let text = m.render();
        let get = |k: &str| parse_metric(&text, k);
        assert_eq!(get("starforge_set_seconds_bucket{set=\"combat\",le=\"0.002\"}"), Some(1.0));
        assert_eq!(get("starforge_set_seconds_bucket{set=\"combat\",le=\"0.001\"}"), Some(0.0));
        assert_eq!(get("starforge_set_seconds_count{set=\"combat\"}"), Some(1.0));
        assert_eq!(get("starforge_set_seconds_count{set=\"market\"}"), Some(0.0), "known sets start at zero");
        assert_eq!(get("starforge_set_seconds_count{set=\"replication\"}"), Some(1.0));
        assert_eq!(get("starforge_replication_seconds_bucket{le=\"0.001\"}"), Some(1.0));
        assert_eq!(get("starforge_replication_seconds_count"), Some(1.0));
    }

    #[test]
    fn counters_and_gauges_render() {
        let m = Metrics::new();
        m.add_overruns(2);
        m.add_overruns(1);
        m.set_entities("ships", 12);
        m.set_entities("ships", 10);
        m.set_clients(3);
        m.set_tick(99);
        m.add_packets_in(5, 500);
        m.add_packets_out(7, 900);
        m.add_packets_out(1, 100);
        m.add_invalid_packet("oversized");
        m.add_dropped_client("timeout");
        m.add_dropped_client("timeout");
        m.add_login("created");
        m.add_login("ok");
        m.add_login("ok");
        m.add_snapshot(1000, 20, 15);
        m.add_snapshot(500, 5, 1);
        let text = m.render();
        let expect = [
            ("starforge_overruns_total", 3.0),
            ("starforge_entities{kind=\"ships\"}", 10.0),
            ("starforge_entities{kind=\"orders\"}", 0.0),
            ("starforge_clients", 3.0),
            ("starforge_tick", 99.0),
            ("starforge_packets_total{direction=\"in\"}", 5.0),
            ("starforge_packets_total{direction=\"out\"}", 8.0),
            ("starforge_bytes_total{direction=\"in\"}", 500.0),
            ("starforge_bytes_total{direction=\"out\"}", 1000.0),
            ("starforge_invalid_packets_total{reason=\"oversized\"}", 1.0),
            ("starforge_invalid_packets_total{reason=\"malformed\"}", 0.0),
            ("starforge_dropped_clients_total{reason=\"timeout\"}", 2.0),
            ("starforge_logins_total{outcome=\"ok\"}", 2.0),
            ("starforge_logins_total{outcome=\"created\"}", 1.0),
            ("starforge_logins_total{outcome=\"version\"}", 0.0),
            ("starforge_snapshot_bytes_total", 1500.0),
            ("starforge_snapshot_entity_updates_total", 25.0),
            ("starforge_snapshot_moving_updates_total", 16.0),
        ];
        for (key, value) in expect {
            assert_eq!(parse_metric(&text, key), Some(value), "{key} in\n{text}");
        }
        // `starforge_tick` must not be confused with `starforge_tick_seconds...`.
        assert_eq!(parse_metric(&text, "starforge_tick_seconds_count"), Some(0.0));
    }

    #[test]
    fn every_line_is_well_formed() {
        let m = Metrics::new();
        m.observe_tick(ms(4));
        m.add_dropped_client("we\"ird\\label\n");
        let text = m.render();
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let name = parts.next().unwrap_or_default();
                assert!(name.starts_with("starforge_"), "{line}");
                assert!(typed.insert(name.to_string()), "duplicate TYPE for {name}");
                let kind = parts.next().unwrap_or_default();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                continue;
            }
            if line.starts_with("# HELP ") {
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
            assert!(value == "+Inf" || value == "NaN" || value.parse::<f64>().is_ok(), "bad value: {line}");
            assert!(series.starts_with("starforge_"), "{line}");
            let family = typed.iter().any(|t| series.starts_with(t.as_str()));
            assert!(family, "sample before its TYPE line: {line}");
        }
        assert!(text.contains(r#"starforge_dropped_clients_total{reason="we\"ird\\label\n"} 1"#), "{text}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn window_quantiles() {
        let m = Metrics::new();
        assert_eq!(m.tick_quantile_ms(0.5), None);
        assert!(!m.render().contains("starforge_tick_seconds_window{"), "no samples before the first tick");
        for i in 1..=100 {
            m.observe_tick(ms(i));
        }
        assert_eq!(m.tick_quantile_ms(0.5), Some(50.0));
        assert_eq!(m.tick_quantile_ms(0.99), Some(99.0));
        assert_eq!(m.tick_quantile_ms(1.0), Some(100.0));
        assert_eq!(m.tick_quantile_ms(0.0), Some(1.0));
        assert_eq!(m.tick_quantile_ms(7.0), Some(100.0), "clamped");
        assert_eq!(m.tick_quantile_ms(f64::NAN), None);
        let text = m.render();
        assert_eq!(parse_metric(&text, "starforge_tick_seconds_window{quantile=\"0.5\"}"), Some(0.05));
        assert_eq!(parse_metric(&text, "starforge_tick_seconds_window{quantile=\"0.99\"}"), Some(0.099));

        // The window keeps only the latest TICK_WINDOW ticks: 1200 more ticks of 1 s push all
        // of the above out.
        for _ in 0..TICK_WINDOW {
            m.observe_tick(Duration::from_secs(1));
        }
        assert_eq!(m.tick_quantile_ms(0.0), Some(1000.0));
        assert_eq!(parse_metric(&m.render(), "starforge_tick_seconds_count"), Some(1300.0));
    }

    #[test]
    fn parse_metric_edge_cases() {
        let text = "# HELP a_total x\n# TYPE a_total counter\na_total 3\na_total_b 4\nb{x=\"1\"} +Inf\nc NaN\nd 1.5 1700000000\ne oops\n";
        assert_eq!(parse_metric(text, "a_total"), Some(3.0));
        assert_eq!(parse_metric(text, "a_total_b"), Some(4.0));
        assert_eq!(parse_metric(text, "b{x=\"1\"}"), Some(f64::INFINITY));
        assert!(parse_metric(text, "c").is_some_and(f64::is_nan));
        assert_eq!(parse_metric(text, "d"), Some(1.5), "timestamps are ignored");
        assert_eq!(parse_metric(text, "e"), None);
        assert_eq!(parse_metric(text, "a"), None);
        assert_eq!(parse_metric(text, "# HELP"), None);
        assert_eq!(parse_metric("", "a"), None);
    }
}
