//! One bot (a logged-in, connected player that flies, fights and trades) and the update threads
//! that drive a slice of the bots each.

use std::collections::HashMap;
use std::f32::consts::PI;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::Receiver;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use starforge_shared::client::{GameClient, LoginReply};
use starforge_shared::protocol::{CommandKind, GameEvent, Resource, ServerMessage, ShipClass, Side};
use starforge_shared::snapshot::{EntityState, Record};

use super::stats::{Accum, Sample, Timeline};

/// How long a bot may take from `GameClient::connect` to a connected session.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Range at which a bot fires at another empire's ship (metres).
pub const FIRE_RANGE_M: f32 = 1500.0;
/// Shortest sleep between passes, so the threads never spin.
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// Most snapshot ticks examined after one update (a bot that fell further behind skips ahead).
const MAX_TICK_GAP: u32 = 64;
/// Failure and disconnect reasons kept for the summary.
const KEPT_REASONS: usize = 8;

/// Run phases, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Bots log in and connect; nothing is measured yet.
    Ramp = 0,
    /// The measurement window.
    Running = 1,
    /// The run is over: bots disconnect and threads return.
    Done = 2,
}

/// State shared by the login threads, the update threads and the main thread.
#[derive(Debug)]
pub struct Shared {
    /// When the program started (timeline origin).
    pub t0: Instant,
    phase: AtomicU8,
    /// Successful logins.
    pub logged_in: AtomicUsize,
    /// Bots whose login failed.
    pub login_failed: AtomicUsize,
    /// Bots connected right now.
    pub connected_now: AtomicUsize,
    /// Bots that were connected at some point.
    pub ever_connected: AtomicUsize,
    /// Logged-in bots that never connected (connect error or timeout).
    pub connect_failed: AtomicUsize,
    /// Connected bots that lost their connection before the end.
    pub disconnects: AtomicUsize,
    /// The first failure reasons (login, connect).
    pub failures: Mutex<Vec<String>>,
    /// The first disconnect reasons.
    pub disconnect_reasons: Mutex<Vec<String>>,
    /// Per-second samples of every bot.
    pub timeline: Mutex<Timeline>,
}

impl Shared {
    /// A fresh state in [`Phase::Ramp`].
    pub fn new() -> Self {
        Self {
            t0: Instant::now(),
            phase: AtomicU8::new(Phase::Ramp as u8),
            logged_in: AtomicUsize::new(0),
            login_failed: AtomicUsize::new(0),
            connected_now: AtomicUsize::new(0),
            ever_connected: AtomicUsize::new(0),
            connect_failed: AtomicUsize::new(0),
            disconnects: AtomicUsize::new(0),
            failures: Mutex::new(Vec::new()),
            disconnect_reasons: Mutex::new(Vec::new()),
            timeline: Mutex::new(Timeline::default()),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Relaxed) {
            0 => Phase::Ramp,
            1 => Phase::Running,
            _ => Phase::Done,
        }
    }

    /// Moves to `p`.
    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p as u8, Relaxed);
    }

    /// Records a bot that failed to log in.
    pub fn login_failure(&self, name: &str, reason: String) {
        self.login_failed.fetch_add(1, Relaxed);
        keep(&self.failures, format!("{name}: login: {reason}"));
    }

    fn connect_failure(&self, name: &str, reason: String) {
        self.connect_failed.fetch_add(1, Relaxed);
        keep(&self.failures, format!("{name}: connect: {reason}"));
    }

    fn disconnected(&self, name: &str, reason: String) {
        self.connected_now.fetch_sub(1, Relaxed);
        self.disconnects.fetch_add(1, Relaxed);
        keep(&self.disconnect_reasons, format!("{name}: {reason}"));
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

fn keep(list: &Mutex<Vec<String>>, reason: String) {
    let mut l = list.lock().unwrap_or_else(PoisonError::into_inner);
    if l.len() < KEPT_REASONS {
        l.push(reason);
    }
}

/// A logged-in bot on its way to an update thread.
#[derive(Debug)]
pub struct Arrival {
    /// Bot index.
    pub idx: usize,
    /// Username.
    pub name: String,
    /// The login answer.
    pub reply: LoginReply,
}

/// A small seeded generator (SplitMix64): one per bot, so a run is repeatable bot by bot.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for bot `idx` of a run seeded with `seed`.
    pub fn for_bot(seed: u64, idx: usize) -> Self {
        let mut r = Rng(seed ^ (idx as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in [lo, hi] (integers).
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1).max(1) as u64) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }

    /// A duration uniform in [lo, hi) seconds.
    pub fn secs(&mut self, lo: f32, hi: f32) -> Duration {
        Duration::from_secs_f32(self.range(lo, hi))
    }
}

/// Smoothly wandering controls of one ship.
#[derive(Debug, Clone, Copy)]
struct Steer {
    thrust: f32,
    turn: f32,
    target_thrust: f32,
    target_turn: f32,
    retarget_in: u32,
}

/// What a sent command was, to file its answer.
#[derive(Debug, Clone, Copy)]
enum Sent {
    Place(i64),
    Cancel,
    Queue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    Connecting(Instant),
    Connected,
    Gone,
}

/// One naive JSON entity update (the comparison encoding).
#[derive(Serialize)]
struct JsonUpdate {
    id: u64,
    x: f32,
    y: f32,
}

/// Scratch buffers of an update thread.
#[derive(Default)]
struct Scratch {
    json: Vec<JsonUpdate>,
    bytes: Vec<u8>,
    mine: Vec<(u64, [f32; 2], f32, u32)>,
    inputs: Vec<(u64, f32, f32, bool)>,
}

/// One bot.
struct Bot {
    idx: usize,
    name: String,
    empire: u64,
    client: GameClient,
    conn: Conn,
    rng: Rng,
    /// Flyable radius of each system (metres), from the welcome.
    radii: Vec<f32>,
    steer: HashMap<u64, Steer>,
    last_tick: Option<u32>,
    last_tick_at: Option<Instant>,
    next_trade: Instant,
    next_queue: Instant,
    sent: HashMap<u32, Sent>,
    /// Orders placed and not known to be filled: (order id, units left).
    open_orders: Vec<(u64, i64)>,
    /// Client counters at the previous step (snapshots, stale, undecodable, bytes).
    seen: [u64; 4],
    next_sample: Instant,
    sample_bytes: u64,
    sample_at: Instant,
}

impl Bot {
    fn new(a: Arrival, client: GameClient, seed: u64, now: Instant) -> Self {
        let mut rng = Rng::for_bot(seed, a.idx);
        let next_trade = now + rng.secs(2.0, 10.0);
        let next_queue = now + rng.secs(20.0, 60.0);
        Self {
            idx: a.idx,
            name: a.name,
            empire: a.reply.empire_id,
            client,
            conn: Conn::Connecting(now),
            rng,
            radii: Vec::new(),
            steer: HashMap::new(),
            last_tick: None,
            last_tick_at: None,
            next_trade,
            next_queue,
            sent: HashMap::new(),
            open_orders: Vec::new(),
            seen: [0; 4],
            next_sample: now,
            sample_bytes: 0,
            sample_at: now,
        }
    }

    /// Ends the bot; `reason` is `Some` for an unexpected end.
    fn end(&mut self, shared: &Shared, reason: String) {
        match self.conn {
            Conn::Connecting(_) => shared.connect_failure(&self.name, reason),
            Conn::Connected => shared.disconnected(&self.name, reason),
            Conn::Gone => {}
        }
        self.conn = Conn::Gone;
        self.client.disconnect();
    }

    /// One turn: network update, messages, measurement, flying, trading.
    fn step(
        &mut self,
        now: Instant,
        measuring: bool,
        shared: &Shared,
        acc: &mut Accum,
        samples: &mut Vec<Sample>,
        s: &mut Scratch,
    ) {
        if let Err(e) = self.client.update() {
            let reason = self.client.disconnect_reason().unwrap_or_else(|| e.to_string());
            self.end(shared, reason);
            return;
        }
        match self.conn {
            Conn::Connecting(since) => {
                if self.client.is_connected() {
                    self.conn = Conn::Connected;
                    shared.connected_now.fetch_add(1, Relaxed);
                    shared.ever_connected.fetch_add(1, Relaxed);
                    // Stagger the per-second samples over the second.
                    self.next_sample = now + Duration::from_millis((self.idx % 1000) as u64);
                    self.sample_at = now;
                } else if now - since > CONNECT_TIMEOUT {
                    let why = self.client.disconnect_reason().unwrap_or_else(|| "no answer".into());
                    self.end(shared, format!("not connected after {} s ({why})", CONNECT_TIMEOUT.as_secs()));
                }
                return;
            }
            Conn::Connected => {
                if !self.client.is_connected() {
                    let reason = self.client.disconnect_reason().unwrap_or_else(|| "connection lost".into());
                    self.end(shared, reason);
                    return;
                }
            }
            Conn::Gone => return,
        }
        self.read_messages(acc);
        self.count_snapshots(measuring, acc);
        if self.client.mirror().tick() != self.last_tick {
            self.on_new_snapshots(now, measuring, acc, s);
            self.fly(measuring, acc, s);
        }
        self.trade(now, acc);
        if now >= self.next_sample {
            self.sample(now, measuring, shared, acc, samples);
        }
    }

    fn read_messages(&mut self, acc: &mut Accum) {
        while let Some(msg) = self.client.poll() {
            match msg {
                ServerMessage::Welcome(w) => {
                    self.radii = w.galaxy.systems.iter().map(|s| s.radius).collect();
                    self.last_tick = None;
                    self.last_tick_at = None;
                }
                ServerMessage::CommandResult { id, result } => {
                    let Some(sent) = self.sent.remove(&id) else { continue };
                    let tally = match sent {
                        Sent::Place(_) => &mut acc.place,
                        Sent::Cancel => &mut acc.cancel,
                        Sent::Queue => &mut acc.queue,
                    };
                    match result {
                        Ok(created) => {
                            tally.ok += 1;
                            if let (Sent::Place(quantity), Some(order)) = (sent, created) {
                                self.open_orders.push((order, quantity));
                            }
                        }
                        Err(reason) => tally.error(reason),
                    }
                }
                ServerMessage::InputRejected { .. } => acc.inputs_rejected += 1,
                ServerMessage::Event(e) => {
                    acc.events += 1;
                    match e {
                        GameEvent::ShipLost { ship, .. } => {
                            self.steer.remove(&ship);
                        }
                        // A filled order can no longer be cancelled.
                        GameEvent::TradeFill { order, quantity, .. } => {
                            if let Some(i) = self.open_orders.iter().position(|o| o.0 == order) {
                                self.open_orders[i].1 -= quantity;
                                if self.open_orders[i].1 <= 0 {
                                    self.open_orders.swap_remove(i);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                ServerMessage::Kicked { .. } => {}
            }
        }
    }

    /// Adds the client's counter deltas to `acc` (inside the window).
    fn count_snapshots(&mut self, measuring: bool, acc: &mut Accum) {
        let st = self.client.stats();
        let now = [st.snapshots, st.stale, st.undecodable, st.snapshot_bytes];
        if measuring {
            acc.snapshots += now[0].saturating_sub(self.seen[0]);
            acc.stale += now[1].saturating_sub(self.seen[1]);
            acc.undecodable += now[2].saturating_sub(self.seen[2]);
            acc.snapshot_bytes += now[3].saturating_sub(self.seen[3]);
        }
        self.seen = now;
    }

    /// Examines every snapshot that became the newest since the last step.
    fn on_new_snapshots(&mut self, now: Instant, measuring: bool, acc: &mut Accum, s: &mut Scratch) {
        let m = self.client.mirror();
        let Some(newest) = m.tick() else { return };
        if measuring && let Some(at) = self.last_tick_at {
            acc.interval_ms.push((now - at).as_secs_f64() * 1000.0);
        }
        let first = match self.last_tick {
            Some(t) if t < newest && newest - t <= MAX_TICK_GAP => t + 1,
            _ => newest,
        };
        let mut prev: Option<&[Record]> = self.last_tick.and_then(|t| m.at(t));
        for tick in first..=newest {
            let Some(records) = m.at(tick) else { continue };
            if measuring {
                examine(tick, records, prev, acc, s);
            }
            prev = Some(records);
        }
        self.last_tick = Some(newest);
        self.last_tick_at = Some(now);
    }

    /// One pilot input per own ship for the new tick.
    fn fly(&mut self, measuring: bool, acc: &mut Accum, s: &mut Scratch) {
        s.mine.clear();
        s.inputs.clear();
        let m = self.client.mirror();
        for (id, ship) in m.ships() {
            if ship.owner == self.empire && ship.transit_to.is_none() {
                s.mine.push((id, ship.pos(), ship.heading_rad(), ship.system));
            }
        }
        for &(id, pos, heading, system) in &s.mine {
            let fire = m.ships().any(|(other, o)| {
                other != id && o.owner != self.empire && o.system == system && o.transit_to.is_none() && {
                    let p = o.pos();
                    let (dx, dy) = (p[0] - pos[0], p[1] - pos[1]);
                    dx * dx + dy * dy <= FIRE_RANGE_M * FIRE_RANGE_M
                }
            });
            let radius = self.radii.get(system as usize).copied().unwrap_or(f32::INFINITY);
            let rng = &mut self.rng;
            let st = self.steer.entry(id).or_insert_with(|| Steer {
                thrust: 0.0,
                turn: 0.0,
                target_thrust: 0.5,
                target_turn: 0.0,
                retarget_in: 0,
            });
            if st.retarget_in == 0 {
                st.target_thrust = if rng.chance(0.1) { rng.range(-0.3, 0.0) } else { rng.range(0.2, 1.0) };
                st.target_turn = rng.range(-0.7, 0.7);
                st.retarget_in = rng.int(20, 60) as u32;
            }
            st.retarget_in -= 1;
            st.thrust += (st.target_thrust - st.thrust) * 0.1;
            st.turn += (st.target_turn - st.turn) * 0.1;
            let (mut thrust, mut turn) = (st.thrust, st.turn);
            // Far from the system's centre: head home instead of leaving the flyable space.
            let dist = (pos[0] * pos[0] + pos[1] * pos[1]).sqrt();
            if dist > 0.6 * radius {
                let want = (-pos[1]).atan2(-pos[0]);
                let diff = (want - heading + PI).rem_euclid(2.0 * PI) - PI;
                turn = (diff * 2.0).clamp(-1.0, 1.0);
                thrust = if diff.abs() < 0.5 { 0.6 } else { 0.1 };
            }
            s.inputs.push((id, thrust, turn, fire));
        }
        for &(id, thrust, turn, fire) in &s.inputs {
            self.client.pilot(id, thrust, turn, fire);
        }
        if measuring {
            acc.pilot_inputs += s.inputs.len() as u64;
        }
        self.steer.retain(|id, _| s.mine.iter().any(|m| m.0 == *id));
    }

    /// Trading every 5–10 s (sometimes a cancel), a ship queued every 30–60 s.
    fn trade(&mut self, now: Instant, acc: &mut Accum) {
        if now >= self.next_trade {
            self.next_trade = now + self.rng.secs(5.0, 10.0);
            if !self.open_orders.is_empty() && self.rng.chance(0.25) {
                let i = self.rng.int(0, self.open_orders.len() as i64 - 1) as usize;
                let (order, _) = self.open_orders.swap_remove(i);
                let id = self.client.command(CommandKind::CancelOrder { order });
                self.sent.insert(id, Sent::Cancel);
                acc.cancel.sent += 1;
            } else {
                let resource = if self.rng.chance(0.5) { Resource::Energy } else { Resource::Minerals };
                let side = if self.rng.chance(0.5) { Side::Buy } else { Side::Sell };
                let price = 10_000 + self.rng.int(-15, 15) * 100;
                let quantity = self.rng.int(1, 5);
                let kind = CommandKind::PlaceOrder { resource, side, price, quantity, expires_in: None };
                let id = self.client.command(kind);
                self.sent.insert(id, Sent::Place(quantity));
                acc.place.sent += 1;
            }
        }
        if now >= self.next_queue {
            self.next_queue = now + self.rng.secs(30.0, 60.0);
            let home = self.client.mirror().entities().iter().find_map(|r| match r.state {
                EntityState::Colony(c) if c.owner == self.empire => Some(r.id),
                _ => None,
            });
            if let Some(colony) = home {
                let id = self.client.command(CommandKind::QueueShip { colony, class: ShipClass::Fighter, fleet: None });
                self.sent.insert(id, Sent::Queue);
                acc.queue.sent += 1;
            }
        }
        // Answers that never came (should not happen on a reliable channel) must not pile up.
        if self.sent.len() > 256 {
            self.sent.clear();
        }
    }

    fn sample(&mut self, now: Instant, measuring: bool, shared: &Shared, acc: &mut Accum, samples: &mut Vec<Sample>) {
        self.next_sample += Duration::from_secs(1);
        if self.next_sample < now {
            self.next_sample = now + Duration::from_secs(1);
        }
        let rtt = self.client.rtt_ms();
        let down = self.client.bytes_received_per_sec();
        let bytes = self.client.stats().snapshot_bytes;
        let dt = (now - self.sample_at).as_secs_f64();
        let snap = if dt > 0.0 { (bytes - self.sample_bytes) as f64 / dt } else { 0.0 };
        self.sample_bytes = bytes;
        self.sample_at = now;
        // renet reports 0 until its first RTT measurement.
        if rtt <= 0.0 {
            return;
        }
        samples.push(Sample {
            at_s: (now - shared.t0).as_secs_f64(),
            rtt_ms: rtt as f32,
            down_bps: down as f32,
            snapshot_bps: snap as f32,
        });
        if measuring {
            acc.rtt_ms.push(rtt);
            acc.down_bps.push(down);
            acc.snapshot_bps.push(snap);
        }
    }
}

/// Counts one snapshot: its updated records, the moving ones among them (against the previous
/// snapshot the bot holds) and their naive JSON size.
fn examine(tick: u32, records: &[Record], prev: Option<&[Record]>, acc: &mut Accum, s: &mut Scratch) {
    acc.examined += 1;
    acc.visible_sum += records.len() as u64;
    s.json.clear();
    for r in records.iter().filter(|r| r.tick == tick) {
        acc.updated_records += 1;
        let before = prev.and_then(|p| p.binary_search_by_key(&r.id, |b| b.id).ok().map(|i| &p[i].state));
        if r.state.moved_from(before)
            && let EntityState::Ship(ship) = r.state
        {
            acc.moving_updates += 1;
            let [x, y] = ship.pos();
            s.json.push(JsonUpdate { id: r.id, x, y });
        }
    }
    s.bytes.clear();
    if serde_json::to_writer(&mut s.bytes, &s.json).is_ok() {
        acc.json_bytes += s.bytes.len() as u64;
    }
}

/// An update thread: connects the bots that arrive on `arrivals` and drives them until the
/// run is [`Phase::Done`], one pass over them every `period` (or as fast as it can, with a
/// 1 ms pause, when a pass takes longer); returns what they measured.
pub fn update_thread(arrivals: Receiver<Arrival>, shared: &Shared, seed: u64, period: Duration) -> Accum {
    let mut bots: Vec<Bot> = Vec::new();
    let mut acc = Accum::default();
    let mut samples: Vec<Sample> = Vec::new();
    let mut scratch = Scratch::default();
    loop {
        let pass = Instant::now();
        while let Ok(a) = arrivals.try_recv() {
            match GameClient::connect(&a.reply) {
                Ok(client) => bots.push(Bot::new(a, client, seed, pass)),
                Err(e) => shared.connect_failure(&a.name, e.to_string()),
            }
        }
        let phase = shared.phase();
        if phase == Phase::Done {
            break;
        }
        let measuring = phase == Phase::Running;
        for bot in &mut bots {
            bot.step(Instant::now(), measuring, shared, &mut acc, &mut samples, &mut scratch);
        }
        bots.retain(|b| b.conn != Conn::Gone);
        if !samples.is_empty() {
            shared.timeline.lock().unwrap_or_else(PoisonError::into_inner).add(&samples);
            samples.clear();
        }
        std::thread::sleep(period.saturating_sub(pass.elapsed()).max(MIN_SLEEP));
    }
    for bot in &mut bots {
        if bot.conn == Conn::Connected {
            shared.connected_now.fetch_sub(1, Relaxed);
        }
        bot.client.disconnect();
    }
    acc
}
