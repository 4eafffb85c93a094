//! Snapshots: what a client can see, as a bit-packed delta against a snapshot it has
//! acknowledged (the Quake 3 model). `docs/PROTOCOL.md` ("Snapshots") documents the format.
//!
//! A snapshot is a list of [`Record`]s sorted by entity id. Each record carries the tick at
//! which its state was last sent. The encoder walks the baseline in id order and writes one
//! bit per baseline entity ("changed?"), then the changed fields of changed ones, then the
//! entities that entered. Positions of updated ships are not sent whole: both ends predict the
//! position from the baseline and the new velocity (dead reckoning with a steady
//! acceleration, see `predict`), and only the difference from that prediction (usually a few
//! units) is written. Both ends compute the prediction in integers, so they agree exactly.
//!
//! Decoding never panics: malformed input is a [`SnapshotError`].

use crate::bits::{BitError, BitReader, BitWriter};
use crate::quant::{HEADING, HULL_FRACTION};

/// Metres per position unit (positions and velocities are integers in these units).
pub const POS_STEP: f32 = 0.125;
/// Largest encoded snapshot (bytes): one renet slice (1,200 bytes) with room for its framing,
/// so a snapshot is never fragmented.
pub const MAX_SNAPSHOT_BYTES: usize = 1150;
/// Most entities that may enter in one snapshot (a decoder refuses more).
pub const MAX_ENTERING: u64 = 16_384;
/// Longest prediction span (ticks); a record older than this predicts with this many ticks.
pub const MAX_PREDICT_TICKS: u32 = 255;

const HEADING_BITS: u32 = 10;
const HULL_BITS: u32 = 8;
const CLASS_BITS: u32 = 3;
const KIND_BITS: u32 = 2;
/// Widths of the four size classes of [`write_small`] (64-bit values: ids, amounts).
const SMALL_WIDTHS: [u32; 4] = [3, 7, 14, 64];
/// Widths of the four size classes of 32-bit fields (system, planet, tick age, input sequence).
const SMALL32_WIDTHS: [u32; 4] = [3, 7, 14, 32];

/// A ship as a client sees it (quantized).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShipState {
    /// Class index (`protocol::ShipClass::ALL` order).
    pub class: u8,
    /// Owning empire id.
    pub owner: u64,
    /// Fleet id (the target of fleet commands).
    pub fleet: u64,
    /// System the ship is in (or left, while in hyperspace).
    pub system: u32,
    /// Destination system while in hyperspace.
    pub transit_to: Option<u32>,
    /// Position, [`POS_STEP`] units, system-local.
    pub x: i64,
    /// Position, [`POS_STEP`] units.
    pub y: i64,
    /// Velocity, [`POS_STEP`] units per tick.
    pub vx: i64,
    /// Velocity, [`POS_STEP`] units per tick.
    pub vy: i64,
    /// Heading, [`crate::quant::HEADING`] code (10 bits).
    pub heading: u16,
    /// Hull as a fraction of the class maximum, [`crate::quant::HULL_FRACTION`] code.
    pub hull: u8,
}

impl ShipState {
    /// Quantizes a ship. `tick_hz` converts the velocity (metres per second) to units per tick.
    #[expect(clippy::too_many_arguments, reason = "one argument per field of the wire state")]
    pub fn quantize(
        class: u8,
        owner: u64,
        fleet: u64,
        system: u32,
        transit_to: Option<u32>,
        pos: [f32; 2],
        vel: [f32; 2],
        heading: f32,
        hull_fraction: f32,
        tick_hz: u32,
    ) -> Self {
        let per_tick = 1.0 / (tick_hz.max(1) as f32 * POS_STEP);
        Self {
            class,
            owner,
            fleet,
            system,
            transit_to,
            x: to_units(pos[0] / POS_STEP),
            y: to_units(pos[1] / POS_STEP),
            vx: to_units(vel[0] * per_tick),
            vy: to_units(vel[1] * per_tick),
            heading: HEADING.encode(heading) as u16,
            hull: HULL_FRACTION.encode(hull_fraction) as u8,
        }
    }

    /// Position in metres.
    pub fn pos(&self) -> [f32; 2] {
        [self.x as f32 * POS_STEP, self.y as f32 * POS_STEP]
    }

    /// Velocity in metres per second.
    pub fn vel(&self, tick_hz: u32) -> [f32; 2] {
        let k = POS_STEP * tick_hz as f32;
        [self.vx as f32 * k, self.vy as f32 * k]
    }

    /// Heading in radians.
    pub fn heading_rad(&self) -> f32 {
        HEADING.decode(u64::from(self.heading))
    }

    /// Hull fraction in [0, 1].
    pub fn hull_fraction(&self) -> f32 {
        HULL_FRACTION.decode(u64::from(self.hull))
    }
}

fn to_units(v: f32) -> i64 {
    if v.is_finite() { (v.round() as i64).clamp(-(1 << 40), 1 << 40) } else { 0 }
}

/// A colony as a client sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColonyState {
    /// Owning empire id.
    pub owner: u64,
    /// System.
    pub system: u32,
    /// Planet index in the system (the galaxy summary in `Welcome` has its position).
    pub planet: u32,
    /// Population, whole units.
    pub population: u64,
}

/// The player's own empire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmpireState {
    /// Credits, milli-credits.
    pub credits: i64,
    /// Stockpile, milli-units: energy, minerals, rare elements, population.
    pub stock: [i64; 4],
}

/// Any replicated entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityState {
    /// Kind 0.
    Ship(ShipState),
    /// Kind 1.
    Colony(ColonyState),
    /// Kind 2.
    Empire(EmpireState),
}

impl EntityState {
    fn kind(&self) -> u64 {
        match self {
            EntityState::Ship(_) => 0,
            EntityState::Colony(_) => 1,
            EntityState::Empire(_) => 2,
        }
    }

    /// True for a ship whose position or velocity differs from `base` (a "moving entity
    /// update" in the figures).
    pub fn moved_from(&self, base: Option<&EntityState>) -> bool {
        match (self, base) {
            (EntityState::Ship(s), Some(EntityState::Ship(b))) => (s.x, s.y, s.vx, s.vy) != (b.x, b.y, b.vx, b.vy),
            (EntityState::Ship(s), None) => s.vx != 0 || s.vy != 0,
            _ => false,
        }
    }
}

/// One entity in a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Entity id.
    pub id: u64,
    /// Tick at which this state was sent (the snapshot that last changed it).
    pub tick: u32,
    /// Its state.
    pub state: EntityState,
}

/// Snapshot header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Server tick of this snapshot.
    pub tick: u32,
    /// Tick of the snapshot this one is a delta against; `None` = from nothing (full state).
    pub baseline: Option<u32>,
    /// Newest pilot-input sequence number the server has applied for this client.
    pub last_input_seq: u32,
}

/// Why a snapshot could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Ran out of bits, or a field was malformed.
    #[error("malformed snapshot: {0}")]
    Bits(#[from] BitError),
    /// A value outside its range.
    #[error("malformed snapshot: {0}")]
    Invalid(&'static str),
    /// The baseline given does not match the header.
    #[error("snapshot {tick} is a delta against {baseline}, which this client does not have")]
    MissingBaseline {
        /// The snapshot's tick.
        tick: u32,
        /// The baseline it needs.
        baseline: u32,
    },
}

// ---------------------------------------------------------------------------------------------
// Variable-length integers inside the bit stream.

/// Writes `v` as a 2-bit size class then 3, 7, 14 or 64 bits.
pub fn write_small(w: &mut BitWriter, v: u64) {
    let class = SMALL_WIDTHS.iter().position(|&b| b == 64 || v < (1u64 << b)).unwrap_or(3);
    w.write(class as u64, 2);
    w.write(v, SMALL_WIDTHS[class]);
}

/// Bits [`write_small`] uses for `v`.
pub fn small_bits(v: u64) -> u32 {
    let class = SMALL_WIDTHS.iter().position(|&b| b == 64 || v < (1u64 << b)).unwrap_or(3);
    2 + SMALL_WIDTHS[class]
}

/// Writes a 32-bit `v` as a 2-bit size class then 3, 7, 14 or 32 bits.
pub fn write_small32(w: &mut BitWriter, v: u32) {
    let class = SMALL32_WIDTHS.iter().position(|&b| b == 32 || u64::from(v) < (1u64 << b)).unwrap_or(3);
    w.write(class as u64, 2);
    w.write(u64::from(v), SMALL32_WIDTHS[class]);
}

/// Bits [`write_small32`] uses for `v`.
pub fn small32_bits(v: u32) -> u32 {
    let class = SMALL32_WIDTHS.iter().position(|&b| b == 32 || u64::from(v) < (1u64 << b)).unwrap_or(3);
    2 + SMALL32_WIDTHS[class]
}

fn read_small(r: &mut BitReader) -> Result<u64, SnapshotError> {
    let class = r.read(2)? as usize;
    Ok(r.read(SMALL_WIDTHS[class])?)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn write_signed(w: &mut BitWriter, v: i64) {
    write_small(w, zigzag(v));
}

fn signed_bits(v: i64) -> u32 {
    small_bits(zigzag(v))
}

fn read_signed(r: &mut BitReader) -> Result<i64, SnapshotError> {
    Ok(unzigzag(read_small(r)?))
}

fn read_u32(r: &mut BitReader) -> Result<u32, SnapshotError> {
    let class = r.read(2)? as usize;
    Ok(r.read(SMALL32_WIDTHS[class])? as u32)
}

// ---------------------------------------------------------------------------------------------
// Ships.

const SHIP_POS: u64 = 1;
const SHIP_VEL: u64 = 2;
const SHIP_HEADING: u64 = 4;
const SHIP_HULL: u64 = 8;
const SHIP_META: u64 = 16;
const SHIP_MASK_BITS: u32 = 5;

/// The position both ends predict for a ship at `tick` from its baseline and its velocity at
/// `tick` (`vx`, `vy`: the new velocity if the update carries one, else the baseline's).
///
/// The simulation integrates `position += velocity` once per tick with the velocity of that
/// tick, so for a steady acceleration from `b.v` to `v` over `dt` ticks the distance is
/// `dt·b.v + (v − b.v)·(dt + 1)/2`; with no velocity change it is plain dead reckoning.
fn predict(b: &ShipState, base_tick: u32, tick: u32, vx: i64, vy: i64) -> (i64, i64) {
    let dt = i64::from(tick.wrapping_sub(base_tick).min(MAX_PREDICT_TICKS));
    let axis = |p: i64, v0: i64, v1: i64| {
        p.saturating_add(v0.saturating_mul(dt))
            .saturating_add(v1.saturating_sub(v0).saturating_mul(dt + 1).div_euclid(2))
    };
    (axis(b.x, b.vx, vx), axis(b.y, b.vy, vy))
}

fn ship_mask(s: &ShipState, b: &ShipState) -> u64 {
    let mut m = 0;
    if (s.x, s.y) != (b.x, b.y) {
        m |= SHIP_POS;
    }
    if (s.vx, s.vy) != (b.vx, b.vy) {
        m |= SHIP_VEL;
    }
    if s.heading != b.heading {
        m |= SHIP_HEADING;
    }
    if s.hull != b.hull {
        m |= SHIP_HULL;
    }
    if (s.class, s.owner, s.fleet, s.system, s.transit_to) != (b.class, b.owner, b.fleet, b.system, b.transit_to) {
        m |= SHIP_META;
    }
    m
}

fn write_ship_meta(w: &mut BitWriter, s: &ShipState) {
    w.write(u64::from(s.class), CLASS_BITS);
    write_small(w, s.owner);
    write_small(w, s.fleet);
    write_small32(w, s.system);
    w.write_bool(s.transit_to.is_some());
    if let Some(t) = s.transit_to {
        write_small32(w, t);
    }
}

fn ship_meta_bits(s: &ShipState) -> u32 {
    CLASS_BITS
        + small_bits(s.owner)
        + small_bits(s.fleet)
        + small32_bits(s.system)
        + 1
        + s.transit_to.map_or(0, small32_bits)
}

fn read_ship_meta(r: &mut BitReader, s: &mut ShipState) -> Result<(), SnapshotError> {
    let class = r.read(CLASS_BITS)? as u8;
    if class >= 5 {
        return Err(SnapshotError::Invalid("ship class out of range"));
    }
    s.class = class;
    s.owner = read_small(r)?;
    s.fleet = read_small(r)?;
    s.system = read_u32(r)?;
    s.transit_to = if r.read_bool()? { Some(read_u32(r)?) } else { None };
    Ok(())
}

fn write_ship_full(w: &mut BitWriter, s: &ShipState) {
    write_ship_meta(w, s);
    write_signed(w, s.x);
    write_signed(w, s.y);
    write_signed(w, s.vx);
    write_signed(w, s.vy);
    w.write(u64::from(s.heading), HEADING_BITS);
    w.write(u64::from(s.hull), HULL_BITS);
}

fn ship_full_bits(s: &ShipState) -> u32 {
    ship_meta_bits(s)
        + signed_bits(s.x)
        + signed_bits(s.y)
        + signed_bits(s.vx)
        + signed_bits(s.vy)
        + HEADING_BITS
        + HULL_BITS
}

fn read_ship_full(r: &mut BitReader) -> Result<ShipState, SnapshotError> {
    let mut s = ShipState {
        class: 0,
        owner: 0,
        fleet: 0,
        system: 0,
        transit_to: None,
        x: 0,
        y: 0,
        vx: 0,
        vy: 0,
        heading: 0,
        hull: 0,
    };
    read_ship_meta(r, &mut s)?;
    s.x = read_signed(r)?;
    s.y = read_signed(r)?;
    s.vx = read_signed(r)?;
    s.vy = read_signed(r)?;
    s.heading = r.read(HEADING_BITS)? as u16;
    s.hull = r.read(HULL_BITS)? as u8;
    Ok(s)
}

fn write_ship_update(w: &mut BitWriter, s: &ShipState, b: &ShipState, base_tick: u32, tick: u32) {
    let m = ship_mask(s, b);
    w.write(m, SHIP_MASK_BITS);
    if m & SHIP_VEL != 0 {
        write_signed(w, s.vx.wrapping_sub(b.vx));
        write_signed(w, s.vy.wrapping_sub(b.vy));
    }
    if m & SHIP_POS != 0 {
        let (px, py) = predict(b, base_tick, tick, s.vx, s.vy);
        write_signed(w, s.x.wrapping_sub(px));
        write_signed(w, s.y.wrapping_sub(py));
    }
    if m & SHIP_HEADING != 0 {
        w.write(u64::from(s.heading), HEADING_BITS);
    }
    if m & SHIP_HULL != 0 {
        w.write(u64::from(s.hull), HULL_BITS);
    }
    if m & SHIP_META != 0 {
        write_ship_meta(w, s);
    }
}

fn ship_update_bits(s: &ShipState, b: &ShipState, base_tick: u32, tick: u32) -> u32 {
    let m = ship_mask(s, b);
    let mut bits = SHIP_MASK_BITS;
    if m & SHIP_POS != 0 {
        let (px, py) = predict(b, base_tick, tick, s.vx, s.vy);
        bits += signed_bits(s.x.wrapping_sub(px)) + signed_bits(s.y.wrapping_sub(py));
    }
    if m & SHIP_VEL != 0 {
        bits += signed_bits(s.vx.wrapping_sub(b.vx)) + signed_bits(s.vy.wrapping_sub(b.vy));
    }
    if m & SHIP_HEADING != 0 {
        bits += HEADING_BITS;
    }
    if m & SHIP_HULL != 0 {
        bits += HULL_BITS;
    }
    if m & SHIP_META != 0 {
        bits += ship_meta_bits(s);
    }
    bits
}

fn read_ship_update(r: &mut BitReader, b: &ShipState, base_tick: u32, tick: u32) -> Result<ShipState, SnapshotError> {
    let m = r.read(SHIP_MASK_BITS)?;
    let mut s = *b;
    if m & SHIP_VEL != 0 {
        s.vx = b.vx.wrapping_add(read_signed(r)?);
        s.vy = b.vy.wrapping_add(read_signed(r)?);
    }
    if m & SHIP_POS != 0 {
        let (px, py) = predict(b, base_tick, tick, s.vx, s.vy);
        s.x = px.wrapping_add(read_signed(r)?);
        s.y = py.wrapping_add(read_signed(r)?);
    }
    if m & SHIP_HEADING != 0 {
        s.heading = r.read(HEADING_BITS)? as u16;
    }
    if m & SHIP_HULL != 0 {
        s.hull = r.read(HULL_BITS)? as u8;
    }
    if m & SHIP_META != 0 {
        read_ship_meta(r, &mut s)?;
    }
    Ok(s)
}

// ---------------------------------------------------------------------------------------------
// Colonies and empires.

fn write_colony(w: &mut BitWriter, c: &ColonyState, base: Option<&ColonyState>) {
    let meta = base.is_none_or(|b| (b.owner, b.system, b.planet) != (c.owner, c.system, c.planet));
    let pop = base.is_none_or(|b| b.population != c.population);
    if base.is_some() {
        w.write_bool(meta);
        w.write_bool(pop);
    }
    if meta {
        write_small(w, c.owner);
        write_small32(w, c.system);
        write_small32(w, c.planet);
    }
    if pop {
        write_small(w, c.population);
    }
}

fn colony_bits(c: &ColonyState, base: Option<&ColonyState>) -> u32 {
    let meta = base.is_none_or(|b| (b.owner, b.system, b.planet) != (c.owner, c.system, c.planet));
    let pop = base.is_none_or(|b| b.population != c.population);
    let mut bits = if base.is_some() { 2 } else { 0 };
    if meta {
        bits += small_bits(c.owner) + small32_bits(c.system) + small32_bits(c.planet);
    }
    if pop {
        bits += small_bits(c.population);
    }
    bits
}

fn read_colony(r: &mut BitReader, base: Option<&ColonyState>) -> Result<ColonyState, SnapshotError> {
    let (meta, pop) = if base.is_some() { (r.read_bool()?, r.read_bool()?) } else { (true, true) };
    let mut c = base.copied().unwrap_or(ColonyState { owner: 0, system: 0, planet: 0, population: 0 });
    if meta {
        c.owner = read_small(r)?;
        c.system = read_u32(r)?;
        c.planet = read_u32(r)?;
    }
    if pop {
        c.population = read_small(r)?;
    }
    Ok(c)
}

/// The five empire amounts in wire order: credits, then the stock.
fn amounts(e: &EmpireState) -> [i64; 5] {
    [e.credits, e.stock[0], e.stock[1], e.stock[2], e.stock[3]]
}

/// Entering: the five amounts whole. Update: a 5-bit mask of the amounts that changed, then
/// each changed amount as a difference from the baseline (a tick's income is small; the
/// amounts themselves are not).
fn write_empire(w: &mut BitWriter, e: &EmpireState, base: Option<&EmpireState>) {
    let now = amounts(e);
    match base {
        None => now.iter().for_each(|&v| write_signed(w, v)),
        Some(b) => {
            let was = amounts(b);
            let mask = (0..5).filter(|&i| now[i] != was[i]).fold(0u64, |m, i| m | (1 << i));
            w.write(mask, 5);
            for i in (0..5).filter(|i| mask & (1 << i) != 0) {
                write_signed(w, now[i].wrapping_sub(was[i]));
            }
        }
    }
}

fn empire_bits(e: &EmpireState, base: Option<&EmpireState>) -> u32 {
    let now = amounts(e);
    match base {
        None => now.iter().map(|&v| signed_bits(v)).sum(),
        Some(b) => {
            let was = amounts(b);
            5 + (0..5).filter(|&i| now[i] != was[i]).map(|i| signed_bits(now[i].wrapping_sub(was[i]))).sum::<u32>()
        }
    }
}

fn read_empire(r: &mut BitReader, base: Option<&EmpireState>) -> Result<EmpireState, SnapshotError> {
    let mut v = [0i64; 5];
    match base {
        None => {
            for x in &mut v {
                *x = read_signed(r)?;
            }
        }
        Some(b) => {
            v = amounts(b);
            let mask = r.read(5)?;
            for (i, x) in v.iter_mut().enumerate() {
                if mask & (1 << i) != 0 {
                    *x = x.wrapping_add(read_signed(r)?);
                }
            }
        }
    }
    Ok(EmpireState { credits: v[0], stock: [v[1], v[2], v[3], v[4]] })
}

// ---------------------------------------------------------------------------------------------
// Whole snapshots.

/// Bits of the header.
pub fn header_bits(h: &Header) -> u32 {
    32 + small32_bits(h.baseline.map_or(0, |b| h.tick.wrapping_sub(b))) + small32_bits(h.last_input_seq)
}

/// Bits an update of `base` to `state` costs at `tick` (excluding the one "changed?" bit every
/// baseline entity costs). `state` must be of the same kind as `base`.
pub fn update_bits(base: &Record, state: &EntityState, tick: u32) -> u32 {
    1 + match (state, &base.state) {
        (EntityState::Ship(s), EntityState::Ship(b)) => ship_update_bits(s, b, base.tick, tick),
        (EntityState::Colony(c), EntityState::Colony(b)) => colony_bits(c, Some(b)),
        (EntityState::Empire(e), EntityState::Empire(b)) => empire_bits(e, Some(b)),
        // A kind change is sent as removal + entry.
        _ => 1 + enter_bits(base.id, state),
    }
}

/// An upper bound of the bits an entering entity costs (its id gap is at most its id).
pub fn enter_bits(id: u64, state: &EntityState) -> u32 {
    small_bits(id)
        + KIND_BITS
        + match state {
            EntityState::Ship(s) => ship_full_bits(s),
            EntityState::Colony(c) => colony_bits(c, None),
            EntityState::Empire(e) => empire_bits(e, None),
        }
}

/// Encodes `next` (sorted by id, ids unique) as a delta against `base` (sorted by id; empty
/// when `header.baseline` is `None`). Returns the bytes and the snapshot the client will hold
/// after decoding them: records whose state equals the baseline's keep their tick, the others
/// get `header.tick`.
pub fn encode(header: &Header, base: &[Record], next: &[(u64, EntityState)]) -> (Vec<u8>, Vec<Record>) {
    let mut w = BitWriter::new();
    w.write(u64::from(header.tick), 32);
    write_small32(&mut w, header.baseline.map_or(0, |b| header.tick.wrapping_sub(b)));
    write_small32(&mut w, header.last_input_seq);
    let mut out = Vec::with_capacity(next.len());
    let mut entering: Vec<(u64, EntityState)> = Vec::new();
    let mut j = 0;
    for b in base {
        while j < next.len() && next[j].0 < b.id {
            entering.push(next[j]);
            j += 1;
        }
        let same_id = j < next.len() && next[j].0 == b.id;
        let same_kind = same_id && next[j].1.kind() == b.state.kind();
        if !same_kind {
            // Removed (or its kind changed: removed here, entered below).
            w.write_bool(true);
            w.write_bool(true);
            if same_id {
                entering.push(next[j]);
                j += 1;
            }
            continue;
        }
        let state = next[j].1;
        j += 1;
        if state == b.state {
            w.write_bool(false);
            out.push(*b);
            continue;
        }
        w.write_bool(true);
        w.write_bool(false);
        match (&state, &b.state) {
            (EntityState::Ship(s), EntityState::Ship(bs)) => write_ship_update(&mut w, s, bs, b.tick, header.tick),
            (EntityState::Colony(c), EntityState::Colony(bc)) => write_colony(&mut w, c, Some(bc)),
            (EntityState::Empire(e), EntityState::Empire(be)) => write_empire(&mut w, e, Some(be)),
            _ => unreachable!("same kind checked above"),
        }
        out.push(Record { id: b.id, tick: header.tick, state });
    }
    entering.extend_from_slice(&next[j..]);
    entering.sort_unstable_by_key(|e| e.0);
    write_small(&mut w, entering.len() as u64);
    let mut prev = 0u64;
    for (id, state) in &entering {
        write_small(&mut w, id - prev);
        prev = *id;
        w.write(state.kind(), KIND_BITS);
        match state {
            EntityState::Ship(s) => write_ship_full(&mut w, s),
            EntityState::Colony(c) => write_colony(&mut w, c, None),
            EntityState::Empire(e) => write_empire(&mut w, e, None),
        }
        out.push(Record { id: *id, tick: header.tick, state: *state });
    }
    out.sort_unstable_by_key(|r| r.id);
    (w.finish(), out)
}

/// Reads only the header (to find the baseline a snapshot needs).
pub fn read_header(bytes: &[u8]) -> Result<Header, SnapshotError> {
    let mut r = BitReader::new(bytes);
    read_header_from(&mut r)
}

fn read_header_from(r: &mut BitReader) -> Result<Header, SnapshotError> {
    let tick = r.read(32)? as u32;
    let age = read_u32(r)?;
    let last_input_seq = read_u32(r)?;
    let baseline = if age == 0 { None } else { Some(tick.wrapping_sub(age)) };
    Ok(Header { tick, baseline, last_input_seq })
}

/// Decodes a snapshot against `base` (the client's snapshot at `header.baseline`; empty when
/// the header has no baseline). Returns the header and the new snapshot, sorted by id.
pub fn decode(bytes: &[u8], base: &[Record]) -> Result<(Header, Vec<Record>), SnapshotError> {
    let mut r = BitReader::new(bytes);
    let header = read_header_from(&mut r)?;
    if header.baseline.is_none() && !base.is_empty() {
        return Err(SnapshotError::Invalid("a full snapshot decoded against a baseline"));
    }
    let mut out = Vec::with_capacity(base.len() + 8);
    for b in base {
        if !r.read_bool()? {
            out.push(*b);
            continue;
        }
        if r.read_bool()? {
            continue; // removed
        }
        let state = match &b.state {
            EntityState::Ship(bs) => EntityState::Ship(read_ship_update(&mut r, bs, b.tick, header.tick)?),
            EntityState::Colony(bc) => EntityState::Colony(read_colony(&mut r, Some(bc))?),
            EntityState::Empire(be) => EntityState::Empire(read_empire(&mut r, Some(be))?),
        };
        out.push(Record { id: b.id, tick: header.tick, state });
    }
    let count = read_small(&mut r)?;
    if count > MAX_ENTERING {
        return Err(SnapshotError::Invalid("too many entering entities"));
    }
    let mut prev = 0u64;
    for i in 0..count {
        let gap = read_small(&mut r)?;
        if gap == 0 && i > 0 {
            return Err(SnapshotError::Invalid("entering ids not increasing"));
        }
        let id = prev.checked_add(gap).ok_or(SnapshotError::Invalid("entity id overflow"))?;
        prev = id;
        let state = match r.read(KIND_BITS)? {
            0 => EntityState::Ship(read_ship_full(&mut r)?),
            1 => EntityState::Colony(read_colony(&mut r, None)?),
            2 => EntityState::Empire(read_empire(&mut r, None)?),
            _ => return Err(SnapshotError::Invalid("unknown entity kind")),
        };
        out.push(Record { id, tick: header.tick, state });
    }
    if r.remaining() >= 8 {
        return Err(SnapshotError::Invalid("trailing bytes"));
    }
    out.sort_unstable_by_key(|r| r.id);
    if out.windows(2).any(|w| w[0].id == w[1].id) {
        return Err(SnapshotError::Invalid("an entering entity is already present"));
    }
    Ok((header, out))
}

#[cfg(test)]
mod tests;
