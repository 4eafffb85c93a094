//! Replication: each snapshot interval, every client gets what it can see as a delta against
//! the newest snapshot it acknowledged, within its bandwidth budget.
//!
//! Visible set: the grid cells within `network.view_cells` of each of the client's ships (not
//! in hyperspace) and colonies, plus everything the client owns (ships anywhere, colonies, its
//! empire), capped at `network.max_visible` (the nearest kept). Updates that do not fit the
//! budget wait; priority is staleness (ticks since the client's copy was sent; for an entity
//! not yet sent, 8 + ticks it has waited) × 4 for the client's own entities ÷ (1 + distance in
//! cells), so the nearest and the longest-unsent go first.

use bevy_ecs::prelude::*;
use glam::Vec2;
use starforge_components::ids::FastMap;
use starforge_components::prelude::*;
use starforge_shared::protocol::channel;
use starforge_shared::snapshot::{
    self, ColonyState, EmpireState, EntityState, Header, MAX_SNAPSHOT_BYTES, Record, ShipState,
};
use starforge_systems::spatial::{SpatialGrid, cell_key, neighbour_key};

use super::{NetServer, Session};

/// Bytes of renet + netcode framing per snapshot packet, charged to the budget with it.
const PACKET_OVERHEAD: usize = 40;
/// Staleness given to an entity not yet on the client.
const ENTER_STALENESS: f32 = 8.0;

/// The ship query replication reads.
pub(super) type ShipQuery<'w, 's> = Query<
    'w,
    's,
    (
        &'static EntityId,
        &'static Ship,
        &'static Owner,
        &'static FleetMember,
        &'static Position,
        &'static Motion,
        &'static Hull,
        Option<&'static Transit>,
    ),
>;

/// One candidate for a client's visible set.
#[derive(Clone, Copy)]
struct Seen {
    id: u64,
    what: Source,
    /// Distance to the client's nearest viewpoint, in cells (0 for its own entities).
    dist: f32,
    own: bool,
}

#[derive(Clone, Copy)]
enum Source {
    Ship(Entity),
    Colony(EntityState),
    Empire(Entity),
}

/// A colony, prepared once per pass.
#[derive(Clone, Copy)]
struct ColonyInfo {
    id: u64,
    system: SystemId,
    pos: Vec2,
    owner: u64,
    state: EntityState,
}

/// Colonies by grid cell key.
type Colonies = FastMap<u64, Vec<ColonyInfo>>;

/// Sends this tick's snapshots.
#[expect(clippy::too_many_arguments, reason = "a system reads what it reads")]
pub(super) fn replicate(
    mut net: ResMut<NetServer>,
    tick: Res<SimTick>,
    tuning: Res<Tuning>,
    grid: Res<SpatialGrid>,
    index: Res<EntityIndex>,
    galaxy: Res<Galaxy>,
    ships: ShipQuery,
    colonies: Query<(&EntityId, &Owner, &Colony)>,
    empires: Query<(&Credits, &Stockpile)>,
) {
    let started = std::time::Instant::now();
    let net = &mut *net;
    let nt = tuning.network;
    if net.sessions.is_empty() || !tick.0.is_multiple_of(u64::from(nt.snapshot_interval_ticks.max(1))) {
        return;
    }
    let tick32 = tick.0 as u32;
    let hz = tuning.world.tick_hz;
    let cell = grid.cell_size.max(1.0);

    // Per pass: each connected player's ships, and colonies by system.
    let mut owned_ships: FastMap<u64, Vec<Entity>> = FastMap::default();
    for id in net.sessions.keys() {
        owned_ships.insert(*id, Vec::new());
    }
    let mut colonies_by_cell: Colonies = FastMap::default();
    let mut owned_colonies: FastMap<u64, Vec<ColonyInfo>> = net.sessions.keys().map(|id| (*id, Vec::new())).collect();
    for (id, owner, c) in &colonies {
        let pos = planet_pos(&galaxy, c.system, c.planet);
        let info = ColonyInfo { id: id.0, system: c.system, pos, owner: owner.0.0, state: colony_state(owner.0.0, c) };
        if let Some(list) = owned_colonies.get_mut(&owner.0.0) {
            list.push(info);
        }
        colonies_by_cell.entry(cell_key(c.system, pos, cell)).or_default().push(info);
    }
    for list in colonies_by_cell.values_mut() {
        list.sort_unstable_by_key(|c| c.id);
    }
    for (id, _, owner, ..) in &ships {
        if let Some(list) = owned_ships.get_mut(&owner.0.0)
            && let Some(e) = index.get(*id)
        {
            list.push(e);
        }
    }

    let refill = f64::from(nt.bandwidth_bytes_per_s) / f64::from(hz.max(1)) * f64::from(nt.snapshot_interval_ticks);
    let cap = refill.max(2.0 * MAX_SNAPSHOT_BYTES as f64);
    let mut scratch = Scratch::default();
    let clients: Vec<u64> = net.sessions.keys().copied().collect();
    for client in clients {
        let Some(session) = net.sessions.get_mut(&client) else { continue };
        session.tokens = (session.tokens + refill).min(cap);
        let allowed = (session.tokens as usize).saturating_sub(PACKET_OVERHEAD).min(MAX_SNAPSHOT_BYTES);
        let ctx = Ctx { tick: tick32, hz, cell, view: nt.view_cells as i16, max_visible: nt.max_visible as usize };
        let mine = Mine {
            ships: owned_ships.get(&client).map(Vec::as_slice).unwrap_or(&[]),
            colonies: owned_colonies.get(&client).map(Vec::as_slice).unwrap_or(&[]),
        };
        let Some(out) = build_snapshot(
            &ctx,
            session,
            allowed,
            mine,
            &colonies_by_cell,
            &grid,
            &index,
            &ships,
            &empires,
            &tuning,
            &mut scratch,
        ) else {
            continue;
        };
        session.tokens -= (out.bytes.len() + PACKET_OVERHEAD) as f64;
        net.metrics.add_snapshot(out.bytes.len() as u64, out.updates, out.moving);
        net.metrics.add_packets_out(1, out.bytes.len() as u64);
        net.renet.send_message(client, channel::SNAPSHOTS, out.bytes);
    }
    net.metrics.observe_set("replication", started.elapsed());
}

struct Ctx {
    tick: u32,
    hz: u32,
    cell: f32,
    view: i16,
    max_visible: usize,
}

/// Buffers reused from client to client and kept for the pass (no allocation per client).
#[derive(Default)]
struct Scratch {
    viewpoints: Vec<(SystemId, Vec2)>,
    cells: Vec<u64>,
    seen: Vec<Seen>,
    ships: ShipCache,
    /// (id, state, distance, own), sorted by id.
    states: Vec<(u64, EntityState, f32, bool)>,
    /// (priority, cost, index into `states`).
    options: Vec<(f32, u32, usize)>,
    chosen: Vec<bool>,
    next: Vec<(u64, EntityState)>,
}

/// A ship as every client sees it this tick (quantized once per pass, not once per viewer).
#[derive(Clone, Copy)]
struct CachedShip {
    id: u64,
    system: SystemId,
    pos: Vec2,
    in_transit: bool,
    state: EntityState,
}

/// Ships quantized so far in this pass.
type ShipCache = FastMap<Entity, Option<CachedShip>>;

/// The ship `e` as clients see it this tick (computed on first use in the pass).
fn cached_ship(cache: &mut ShipCache, ships: &ShipQuery, tuning: &Tuning, hz: u32, e: Entity) -> Option<CachedShip> {
    *cache.entry(e).or_insert_with(|| {
        let (id, ship, owner, fleet, pos, motion, hull, transit) = ships.get(e).ok()?;
        let max = tuning.class(ship.class).hull.max(1.0);
        let state = ShipState::quantize(
            ship.class.index() as u8,
            owner.0.0,
            fleet.0.0,
            pos.system.0,
            transit.map(|t| t.to.0),
            pos.local.into(),
            motion.vel.into(),
            motion.heading,
            hull.0 / max,
            hz,
        );
        Some(CachedShip {
            id: id.0,
            system: pos.system,
            pos: pos.local,
            in_transit: transit.is_some(),
            state: EntityState::Ship(state),
        })
    })
}

/// What one client owns.
#[derive(Clone, Copy)]
struct Mine<'a> {
    ships: &'a [Entity],
    colonies: &'a [ColonyInfo],
}

struct Built {
    bytes: Vec<u8>,
    updates: u64,
    moving: u64,
}

fn planet_pos(galaxy: &Galaxy, system: SystemId, planet: u32) -> Vec2 {
    galaxy.system(system).and_then(|s| s.planets.get(planet as usize)).map_or(Vec2::ZERO, |p| p.pos)
}

/// Distance in cells from `pos` to the nearest viewpoint in `system` (∞ if none there).
fn nearest(viewpoints: &[(SystemId, Vec2)], system: SystemId, pos: Vec2, cell: f32) -> f32 {
    viewpoints.iter().filter(|(s, _)| *s == system).map(|(_, p)| p.distance(pos) / cell).fold(f32::INFINITY, f32::min)
}

#[expect(clippy::too_many_arguments, reason = "the pass's shared inputs")]
fn build_snapshot(
    ctx: &Ctx,
    session: &mut Session,
    allowed: usize,
    mine: Mine,
    colonies_by_cell: &Colonies,
    grid: &SpatialGrid,
    index: &EntityIndex,
    ships: &ShipQuery,
    empires: &Query<(&Credits, &Stockpile)>,
    tuning: &Tuning,
    s: &mut Scratch,
) -> Option<Built> {
    let player = session.player.0;
    s.viewpoints.clear();
    s.cells.clear();
    s.seen.clear();
    for &e in mine.ships {
        if let Some(c) = cached_ship(&mut s.ships, ships, tuning, ctx.hz, e) {
            s.seen.push(Seen { id: c.id, what: Source::Ship(e), dist: 0.0, own: true });
            if !c.in_transit {
                s.viewpoints.push((c.system, c.pos));
            }
        }
    }
    for c in mine.colonies {
        s.seen.push(Seen { id: c.id, what: Source::Colony(c.state), dist: 0.0, own: true });
        s.viewpoints.push((c.system, c.pos));
    }
    if let Some(e) = index.get(session.player) {
        s.seen.push(Seen { id: player, what: Source::Empire(e), dist: 0.0, own: true });
    }
    for &(system, pos) in &s.viewpoints {
        let centre = cell_key(system, pos, ctx.cell);
        for dx in -ctx.view..=ctx.view {
            for dy in -ctx.view..=ctx.view {
                s.cells.push(neighbour_key(centre, dx, dy));
            }
        }
    }
    s.cells.sort_unstable();
    s.cells.dedup();
    for &key in &s.cells {
        for entry in grid.cell(key) {
            if entry.owner.0 == player {
                continue; // already in, at distance 0
            }
            if let Some(c) = cached_ship(&mut s.ships, ships, tuning, ctx.hz, entry.entity) {
                let dist = nearest(&s.viewpoints, c.system, c.pos, ctx.cell);
                s.seen.push(Seen { id: entry.id.0, what: Source::Ship(entry.entity), dist, own: false });
            }
        }
        if let Some(list) = colonies_by_cell.get(&key) {
            for c in list {
                if c.owner != player {
                    let dist = nearest(&s.viewpoints, c.system, c.pos, ctx.cell);
                    s.seen.push(Seen { id: c.id, what: Source::Colony(c.state), dist, own: false });
                }
            }
        }
    }
    s.seen.sort_unstable_by(|a, b| a.id.cmp(&b.id).then(a.dist.total_cmp(&b.dist)));
    s.seen.dedup_by_key(|x| x.id);
    if s.seen.len() > ctx.max_visible {
        s.seen.sort_unstable_by(|a, b| b.own.cmp(&a.own).then(a.dist.total_cmp(&b.dist)).then(a.id.cmp(&b.id)));
        s.seen.truncate(ctx.max_visible);
        s.seen.sort_unstable_by_key(|x| x.id);
    }

    // Current states, and what changed against the baseline.
    let mut states = std::mem::take(&mut s.states);
    states.clear();
    for x in &s.seen {
        let state = match x.what {
            Source::Ship(e) => cached_ship(&mut s.ships, ships, tuning, ctx.hz, e).map(|c| c.state),
            Source::Colony(state) => Some(state),
            Source::Empire(e) => empires
                .get(e)
                .ok()
                .map(|(credits, stock)| EntityState::Empire(EmpireState { credits: credits.0, stock: stock.0.0 })),
        };
        if let Some(state) = state {
            states.push((x.id, state, x.dist, x.own));
        }
    }
    let base_idx = session.ring.iter().position(|(t, _)| *t == session.ack && session.ack != 0);
    let base: &[Record] = base_idx.map_or(&[], |i| session.ring[i].1.as_slice());
    let header = Header { tick: ctx.tick, baseline: base_idx.map(|_| session.ack), last_input_seq: session.last_seq };
    let mut options = std::mem::take(&mut s.options);
    options.clear();
    let mut removals = 0usize;
    let mut waiting = std::mem::take(&mut session.waiting);
    let mut still_waiting = starforge_components::ids::FastMap::default();
    {
        let mut j = 0;
        for (i, (id, st, dist, own)) in states.iter().enumerate() {
            while j < base.len() && base[j].id < *id {
                removals += 1;
                j += 1;
            }
            let weight = if *own { 4.0 } else { 1.0 } / (1.0 + dist);
            if j < base.len() && base[j].id == *id {
                if base[j].state != *st {
                    let staleness = ctx.tick.wrapping_sub(base[j].tick).max(1) as f32;
                    options.push((staleness * weight, snapshot::update_bits(&base[j], st, ctx.tick), i));
                }
                j += 1;
            } else {
                // Waiting to enter: its priority grows with the wait, so none starves.
                let since = waiting.remove(id).unwrap_or(ctx.tick);
                still_waiting.insert(*id, since);
                let staleness = ENTER_STALENESS + ctx.tick.wrapping_sub(since) as f32;
                options.push((staleness * weight, snapshot::enter_bits(*id, st), i));
            }
        }
        removals += base.len() - j;
    }
    // Always sent: the header, one bit per baseline record, a second bit per removal, the
    // entering count (≤ 16 bits) and padding.
    let mandatory = snapshot::header_bits(&header) as usize + base.len() + removals + 16 + 7;
    let Some(budget_bits) = (allowed * 8).checked_sub(mandatory) else {
        session.waiting = still_waiting;
        (s.states, s.options) = (states, options);
        return None;
    };
    let mut left = budget_bits as i64;
    options.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.2.cmp(&b.2)));
    let mut chosen = std::mem::take(&mut s.chosen);
    chosen.clear();
    chosen.resize(states.len(), false);
    for (_, cost, i) in &options {
        if i64::from(*cost) <= left {
            left -= i64::from(*cost);
            chosen[*i] = true;
        }
    }
    for (i, (id, ..)) in states.iter().enumerate() {
        if chosen[i] {
            still_waiting.remove(id);
        }
    }
    session.waiting = still_waiting;
    // The snapshot the client will hold: chosen states; the baseline's for the rest it has.
    let mut next = std::mem::take(&mut s.next);
    next.clear();
    let mut j = 0;
    for (i, (id, st, ..)) in states.iter().enumerate() {
        while j < base.len() && base[j].id < *id {
            j += 1;
        }
        let in_base = j < base.len() && base[j].id == *id;
        if chosen[i] {
            next.push((*id, *st));
        } else if in_base {
            next.push((*id, base[j].state));
        }
    }
    let (bytes, view) = snapshot::encode(&header, base, &next);
    let mut updates = 0;
    let mut moving = 0;
    {
        let mut j = 0;
        for r in view.iter().filter(|r| r.tick == ctx.tick) {
            while j < base.len() && base[j].id < r.id {
                j += 1;
            }
            let prev = (j < base.len() && base[j].id == r.id).then(|| &base[j].state);
            updates += 1;
            if r.state.moved_from(prev) {
                moving += 1;
            }
        }
    }
    session.ring.push_back((ctx.tick, view));
    while session.ring.len() > session.history {
        session.ring.pop_front();
    }
    (s.states, s.options, s.chosen, s.next) = (states, options, chosen, next);
    Some(Built { bytes, updates, moving })
}

/// A colony as the client sees it.
fn colony_state(owner: u64, c: &Colony) -> EntityState {
    EntityState::Colony(ColonyState {
        owner,
        system: c.system.0,
        planet: c.planet,
        population: (c.population / MILLI).max(0) as u64,
    })
}
