//! Percentiles, the per-thread accumulators and the per-second timeline of a loadbot run.

use std::collections::BTreeMap;

/// Nearest-rank percentile of `sorted` (ascending): the smallest value with at least `q`·n
/// values at or below it. `None` when empty.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// Sorts `v` (NaNs last) and returns it.
pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// Mean of `v`, `None` when empty.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Outcomes of one kind of command.
#[derive(Debug, Default, Clone)]
pub struct CommandTally {
    /// Sent.
    pub sent: u64,
    /// Answered `Ok`.
    pub ok: u64,
    /// Answered `Err`, by reason.
    pub errors: BTreeMap<String, u64>,
}

impl CommandTally {
    fn merge(&mut self, o: CommandTally) {
        self.sent += o.sent;
        self.ok += o.ok;
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }

    /// Counts one error answer (numbers in the reason are replaced by `N`, so reasons that
    /// name ids fall together).
    pub fn error(&mut self, reason: String) {
        let mut out = String::with_capacity(reason.len());
        for c in reason.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('N') {
                out.push('N');
            }
        }
        let reason = out;
        // Bound the map: reasons carrying ids would otherwise grow it without limit.
        if self.errors.len() < 16 || self.errors.contains_key(&reason) {
            *self.errors.entry(reason).or_default() += 1;
        } else {
            *self.errors.entry("(other reasons)".into()).or_default() += 1;
        }
    }
}

/// What the bots of one update thread measured inside the measurement window.
#[derive(Debug, Default)]
pub struct Accum {
    /// `rtt_ms()`, once per second per bot.
    pub rtt_ms: Vec<f64>,
    /// Milliseconds between successive advances of a bot's newest snapshot tick.
    pub interval_ms: Vec<f64>,
    /// renet's `bytes_received_per_sec()`, once per second per bot.
    pub down_bps: Vec<f64>,
    /// Snapshot bytes per second per bot (from `stats().snapshot_bytes` deltas).
    pub snapshot_bps: Vec<f64>,
    /// Snapshots that became a bot's newest.
    pub snapshots: u64,
    /// Snapshots ignored as stale.
    pub stale: u64,
    /// Snapshots that could not be decoded.
    pub undecodable: u64,
    /// Snapshot payload bytes received (every snapshot, including stale and undecodable ones).
    pub snapshot_bytes: u64,
    /// Snapshots examined record by record (the ones still in a mirror's history).
    pub examined: u64,
    /// Records updated by their snapshot (`record.tick == snapshot tick`).
    pub updated_records: u64,
    /// Updated ship records that moved (see `EntityState::moved_from`) against the previous snapshot.
    pub moving_updates: u64,
    /// Bytes of the same moving updates as naive JSON (`[{"id":..,"x":..,"y":..},..]`), per snapshot.
    pub json_bytes: u64,
    /// Sum of the entities visible in each examined snapshot.
    pub visible_sum: u64,
    /// Pilot inputs sent.
    pub pilot_inputs: u64,
    /// Pilot inputs the server refused.
    pub inputs_rejected: u64,
    /// Game events received.
    pub events: u64,
    /// Orders placed (whole run, not only the window).
    pub place: CommandTally,
    /// Orders cancelled (whole run).
    pub cancel: CommandTally,
    /// Ships queued (whole run).
    pub queue: CommandTally,
}

impl Accum {
    /// Adds `o` to `self`.
    pub fn merge(&mut self, o: Accum) {
        self.rtt_ms.extend(o.rtt_ms);
        self.interval_ms.extend(o.interval_ms);
        self.down_bps.extend(o.down_bps);
        self.snapshot_bps.extend(o.snapshot_bps);
        self.snapshots += o.snapshots;
        self.stale += o.stale;
        self.undecodable += o.undecodable;
        self.snapshot_bytes += o.snapshot_bytes;
        self.examined += o.examined;
        self.updated_records += o.updated_records;
        self.moving_updates += o.moving_updates;
        self.json_bytes += o.json_bytes;
        self.visible_sum += o.visible_sum;
        self.pilot_inputs += o.pilot_inputs;
        self.inputs_rejected += o.inputs_rejected;
        self.events += o.events;
        self.place.merge(o.place);
        self.cancel.merge(o.cancel);
        self.queue.merge(o.queue);
    }
}

/// One per-second sample of one bot.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the start of the program.
    pub at_s: f64,
    /// `rtt_ms()`.
    pub rtt_ms: f32,
    /// renet's `bytes_received_per_sec()`.
    pub down_bps: f32,
    /// Snapshot bytes per second since the bot's previous sample.
    pub snapshot_bps: f32,
}

/// The samples of one second of the run (every bot, whatever the phase).
#[derive(Debug, Default, Clone)]
pub struct Bucket {
    /// RTT samples (ms).
    pub rtt_ms: Vec<f32>,
    /// renet down rate samples (bytes/s).
    pub down_bps: Vec<f32>,
    /// Snapshot byte rate samples (bytes/s).
    pub snapshot_bps: Vec<f32>,
}

/// Per-second buckets of samples, indexed by whole seconds since the program started.
#[derive(Debug, Default)]
pub struct Timeline {
    /// Bucket `i` holds the samples taken in `[i, i+1)` seconds.
    pub buckets: Vec<Bucket>,
}

impl Timeline {
    /// Files `samples`.
    pub fn add(&mut self, samples: &[Sample]) {
        for s in samples {
            let i = s.at_s.max(0.0) as usize;
            if self.buckets.len() <= i {
                self.buckets.resize_with(i + 1, Bucket::default);
            }
            let b = &mut self.buckets[i];
            b.rtt_ms.push(s.rtt_ms);
            b.down_bps.push(s.down_bps);
            b.snapshot_bps.push(s.snapshot_bps);
        }
    }

    /// RTT p99 (ms) and mean down rate (bytes/s) of bucket `i`, if it has samples.
    pub fn live(&self, i: usize) -> Option<(f64, f64)> {
        let b = self.buckets.get(i)?;
        let rtt = sorted(b.rtt_ms.iter().map(|&v| f64::from(v)).collect());
        let down: Vec<f64> = b.down_bps.iter().map(|&v| f64::from(v)).collect();
        Some((percentile(&rtt, 0.99)?, mean(&down)?))
    }
}

/// One point of the report chart: a second of the measurement window.
#[derive(Debug, Clone, Copy)]
pub struct SecondSummary {
    /// Start of the second, relative to the start of the window.
    pub t_s: f64,
    /// RTT p50 (ms).
    pub rtt_p50: f64,
    /// RTT p99 (ms).
    pub rtt_p99: f64,
    /// Mean renet down rate per client (kbit/s).
    pub down_kbps: f64,
    /// Mean snapshot rate per client (kbit/s).
    pub snapshot_kbps: f64,
}

/// Summaries of the buckets from `start_s` (seconds since program start) for `len_s` seconds.
pub fn window_series(t: &Timeline, start_s: f64, len_s: f64) -> Vec<SecondSummary> {
    let first = start_s.floor().max(0.0) as usize;
    let last = (start_s + len_s).ceil() as usize;
    (first..last.min(t.buckets.len()))
        .filter_map(|i| {
            let b = &t.buckets[i];
            let rtt = sorted(b.rtt_ms.iter().map(|&v| f64::from(v)).collect());
            let down: Vec<f64> = b.down_bps.iter().map(|&v| f64::from(v)).collect();
            let snap: Vec<f64> = b.snapshot_bps.iter().map(|&v| f64::from(v)).collect();
            Some(SecondSummary {
                t_s: i as f64 - start_s,
                rtt_p50: percentile(&rtt, 0.5)?,
                rtt_p99: percentile(&rtt, 0.99)?,
                down_kbps: mean(&down)? * 8.0 / 1000.0,
                snapshot_kbps: mean(&snap)? * 8.0 / 1000.0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v = sorted(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.99), Some(5.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
    }

    #[test]
    fn timeline_buckets_by_second() {
        let mut t = Timeline::default();
        let s = |at_s, rtt_ms| Sample { at_s, rtt_ms, down_bps: 1000.0, snapshot_bps: 500.0 };
        t.add(&[s(0.2, 1.0), s(0.9, 3.0), s(2.5, 2.0)]);
        assert_eq!(t.buckets.len(), 3);
        assert_eq!(t.live(0), Some((3.0, 1000.0)));
        assert_eq!(t.live(1), None);
        let w = window_series(&t, 0.5, 3.0);
        assert_eq!(w.len(), 2);
        assert!((w[0].t_s + 0.5).abs() < 1e-9 && (w[0].down_kbps - 8.0).abs() < 1e-9);
    }
}
