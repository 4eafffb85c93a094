//! The Input set: validate and apply queued intents at the start of the tick.
//!
//! Every intent is checked for existence, ownership, reachability and affordability; a
//! rejected one changes nothing and becomes an [`IntentRejected`] with a reason a client can
//! show. Intents apply in queue order.

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;
use glam::Vec2;
use starforge_components::prelude::*;

use crate::SimSystems;
use crate::economy::{check_affordable, cost_milli, record_destroyed};
use crate::market::{cancel_order, place_order};
use crate::navigation::route;

/// Applies queued intents in [`SimSystems::Input`].
pub struct InputPlugin;

impl Plugin for InputPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<IntentQueue>()
            .add_message::<IntentRejected>()
            .add_message::<IntentAccepted>()
            .add_systems(FixedUpdate, apply_intents.in_set(SimSystems::Input));
    }
}

/// Ticks a pilot intent keeps steering its ship without a newer one (1 s at 20 Hz): covers
/// lost packets, then the ship holds position.
pub const PILOT_INPUT_TICKS: u64 = 20;

/// Formation slots keep this far (metres) inside a system's rim.
const RIM_MARGIN: f32 = 50.0;

/// Largest distance between formation slots of one fleet (metres).
const FORMATION_SPACING: f32 = 60.0;

/// The world access intents need.
#[derive(SystemParam)]
pub struct IntentTargets<'w, 's> {
    tick: Res<'w, SimTick>,
    tuning: Res<'w, Tuning>,
    galaxy: Res<'w, Galaxy>,
    index: Res<'w, EntityIndex>,
    ids: ResMut<'w, IdAllocator>,
    market: ResMut<'w, Market>,
    ledger: ResMut<'w, Ledger>,
    empires: Query<'w, 's, (&'static mut Credits, &'static mut Stockpile), With<Empire>>,
    fleets: Query<'w, 's, (&'static Owner, &'static Fleet)>,
    ships: Query<'w, 's, (&'static Owner, &'static Position, &'static mut ShipOrder, Has<Transit>), With<Ship>>,
    colonies: Query<
        'w,
        's,
        (&'static Owner, &'static Buildings, &'static mut ConstructionQueue, &'static mut ShipyardQueue),
        With<Colony>,
    >,
}

/// Drains the [`IntentQueue`] and applies each intent or rejects it.
pub fn apply_intents(
    mut queue: ResMut<IntentQueue>,
    mut t: IntentTargets,
    mut stats: ResMut<SimStats>,
    mut rejected: MessageWriter<IntentRejected>,
    mut accepted: MessageWriter<IntentAccepted>,
) {
    for q in queue.0.drain(..) {
        match apply_one(&mut t, &q) {
            Ok(created) => {
                stats.intents_accepted += 1;
                accepted.write(IntentAccepted { empire: q.empire, client_ref: q.client_ref, created });
            }
            Err(reason) => {
                stats.intents_rejected += 1;
                rejected.write(IntentRejected { empire: q.empire, client_ref: q.client_ref, reason });
            }
        }
    }
}

fn apply_one(t: &mut IntentTargets, q: &QueuedIntent) -> Result<Option<EntityId>, RejectReason> {
    let empire_e = t.index.get(q.empire).filter(|&e| t.empires.contains(e)).ok_or(RejectReason::UnknownEmpire)?;
    match &q.intent {
        Intent::Pilot { ship, thrust, turn, fire } => {
            unit_range(*thrust, "thrust")?;
            unit_range(*turn, "turn")?;
            let e = t.index.get(*ship).ok_or(RejectReason::NotFound { what: "ship", id: ship.0 })?;
            let (owner, _, mut order, in_transit) =
                t.ships.get_mut(e).map_err(|_| RejectReason::NotFound { what: "ship", id: ship.0 })?;
            if owner.0 != q.empire {
                return Err(RejectReason::NotOwner { what: "ship" });
            }
            if in_transit {
                return Err(RejectReason::InTransit);
            }
            let until = t.tick.0 + PILOT_INPUT_TICKS;
            *order = ShipOrder::Manual { thrust: *thrust, turn: *turn, fire: *fire, until };
            Ok(None)
        }
        Intent::Fleet { fleet, order } => fleet_order(t, q.empire, *fleet, order).map(|_| None),
        Intent::Build { colony, building } => build(t, empire_e, q.empire, *colony, *building, false).map(|_| None),
        Intent::Upgrade { colony, building } => build(t, empire_e, q.empire, *colony, *building, true).map(|_| None),
        Intent::QueueShip { colony, class, fleet } => {
            queue_ship(t, empire_e, q.empire, *colony, *class, *fleet).map(|_| None)
        }
        Intent::PlaceOrder { resource, side, price, quantity, expires_in } => {
            let (mut credits, mut stock) = t.empires.get_mut(empire_e).map_err(|_| RejectReason::UnknownEmpire)?;
            let tick = t.tick.0;
            let id = place_order(
                &mut t.market,
                &t.tuning.market,
                tick,
                &mut t.ids,
                q.empire,
                &mut credits,
                &mut stock,
                *resource,
                *side,
                *price,
                *quantity,
                *expires_in,
            )?;
            Ok(Some(id))
        }
        Intent::CancelOrder { order } => {
            let (mut credits, mut stock) = t.empires.get_mut(empire_e).map_err(|_| RejectReason::UnknownEmpire)?;
            // The Market set reports the closed order (OrderClosed) when it runs this tick.
            cancel_order(&mut t.market, q.empire, *order, &mut credits, &mut stock)?;
            Ok(None)
        }
    }
}

fn unit_range(v: f32, field: &'static str) -> Result<(), RejectReason> {
    if v.is_finite() && (-1.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(RejectReason::InvalidValue { field, expected: "a number from -1 to 1" })
    }
}

fn in_system(p: Vec2, galaxy: &Galaxy, system: SystemId, field: &'static str) -> Result<(), RejectReason> {
    let radius = galaxy.system(system).map_or(0.0, |s| s.radius);
    if p.is_finite() && p.length() <= radius {
        Ok(())
    } else {
        Err(RejectReason::InvalidValue { field, expected: "a point inside the system" })
    }
}

/// Slot `i` of a fleet formation around a point: a spiral, so slots never coincide.
fn formation_offset(i: usize) -> Vec2 {
    if i == 0 {
        return Vec2::ZERO;
    }
    let angle = i as f32 * 2.399_963; // golden angle
    let r = FORMATION_SPACING * (i as f32).sqrt();
    Vec2::new(angle.cos(), angle.sin()) * r
}

fn fleet_order(
    t: &mut IntentTargets,
    empire: EntityId,
    fleet: EntityId,
    order: &FleetOrder,
) -> Result<(), RejectReason> {
    let fe = t.index.get(fleet).ok_or(RejectReason::NotFound { what: "fleet", id: fleet.0 })?;
    let (owner, members) = t.fleets.get(fe).map_err(|_| RejectReason::NotFound { what: "fleet", id: fleet.0 })?;
    if owner.0 != empire {
        return Err(RejectReason::NotOwner { what: "fleet" });
    }
    // Ships that can take orders now: those not in hyperspace and in the fleet's system (the
    // system of its first such member; a fleet split by a jump obeys where its lead is).
    let mut ready = Vec::with_capacity(members.ships.len());
    let mut system = None;
    for &sid in &members.ships {
        let Some(e) = t.index.get(sid) else { continue };
        let Ok((_, pos, _, in_transit)) = t.ships.get(e) else { continue };
        if !in_transit && *system.get_or_insert(pos.system) == pos.system {
            ready.push(e);
        }
    }
    let Some(system) = system else {
        return Err(if members.ships.is_empty() {
            RejectReason::InvalidValue { field: "fleet", expected: "a fleet with ships" }
        } else {
            RejectReason::InTransit
        });
    };
    // Formation slots stay inside the system's space (a slot past the rim could never be reached).
    let room = t.galaxy.system(system).map_or(0.0, |s| s.radius - RIM_MARGIN).max(0.0);
    let new_order = |i: usize| -> ShipOrder {
        match order {
            FleetOrder::MoveTo { point } => ShipOrder::MoveTo((*point + formation_offset(i)).clamp_length_max(room)),
            FleetOrder::Attack { target } => ShipOrder::Attack(*target),
            FleetOrder::Patrol { points } => ShipOrder::patrol(points.clone()),
            FleetOrder::Stop => ShipOrder::Idle,
            FleetOrder::Jump { .. } => ShipOrder::Idle, // replaced below with the route
        }
    };
    let mut route_order = None;
    match order {
        FleetOrder::MoveTo { point } => in_system(*point, &t.galaxy, system, "point")?,
        FleetOrder::Patrol { points } => {
            if !(2..=8).contains(&points.len()) {
                return Err(RejectReason::InvalidValue { field: "points", expected: "2 to 8 waypoints" });
            }
            for p in points {
                in_system(*p, &t.galaxy, system, "points")?;
            }
        }
        FleetOrder::Attack { target } => {
            let te = t.index.get(*target).ok_or(RejectReason::NotFound { what: "target", id: target.0 })?;
            let (towner, tpos, _, tt) =
                t.ships.get(te).map_err(|_| RejectReason::NotFound { what: "target", id: target.0 })?;
            if towner.0 == empire {
                return Err(RejectReason::InvalidValue { field: "target", expected: "a ship that is not yours" });
            }
            if tt || tpos.system != system {
                return Err(RejectReason::TargetNotInSystem);
            }
        }
        FleetOrder::Jump { destination } => {
            if t.galaxy.system(*destination).is_none() {
                return Err(RejectReason::NotFound { what: "system", id: destination.0 as u64 });
            }
            let path = route(&t.galaxy, system, *destination).ok_or(RejectReason::Unreachable)?;
            if path.is_empty() {
                return Err(RejectReason::InvalidValue { field: "destination", expected: "another system" });
            }
            route_order = Some(ShipOrder::jump(path));
        }
        FleetOrder::Stop => {}
    }
    for (i, e) in ready.into_iter().enumerate() {
        if let Ok((_, _, mut o, _)) = t.ships.get_mut(e) {
            *o = route_order.clone().unwrap_or_else(|| new_order(i));
        }
    }
    Ok(())
}

fn pay(t: &mut IntentTargets, empire_e: Entity, credits: i64, res: &ResourceAmounts) -> Result<(), RejectReason> {
    let (mut c, mut s) = t.empires.get_mut(empire_e).map_err(|_| RejectReason::UnknownEmpire)?;
    check_affordable(c.0, &s.0, credits, res)?;
    c.0 -= credits;
    s.0.subtract(res);
    record_destroyed(&mut t.ledger, credits, res);
    Ok(())
}

fn build(
    t: &mut IntentTargets,
    empire_e: Entity,
    empire: EntityId,
    colony: EntityId,
    building: BuildingKind,
    upgrade: bool,
) -> Result<(), RejectReason> {
    let ce = t.index.get(colony).ok_or(RejectReason::NotFound { what: "colony", id: colony.0 })?;
    let (owner, levels, queue, _) =
        t.colonies.get(ce).map_err(|_| RejectReason::NotFound { what: "colony", id: colony.0 })?;
    if owner.0 != empire {
        return Err(RejectReason::NotOwner { what: "colony" });
    }
    let queued = queue.0.iter().filter(|j| j.building == building).count() as u8;
    let current = levels.level(building).saturating_add(queued);
    if !upgrade && current > 0 {
        return Err(RejectReason::AlreadyBuilt);
    }
    if upgrade && current == 0 {
        return Err(RejectReason::NotBuilt);
    }
    let bt = *t.tuning.economy.buildings.get(building);
    if current >= bt.max_level {
        return Err(RejectReason::MaxLevel);
    }
    let limit = t.tuning.economy.max_construction_queue;
    if queue.0.len() as u32 >= limit {
        return Err(RejectReason::LimitReached { what: "construction queue", limit });
    }
    let target_level = current + 1;
    let (credits, res) = cost_milli(&bt.cost, target_level as f64);
    pay(t, empire_e, credits, &res)?;
    if let Ok((_, _, mut queue, _)) = t.colonies.get_mut(ce) {
        queue.0.push_back(ConstructionJob {
            building,
            target_level,
            ticks_left: bt.build_ticks.saturating_mul(target_level as u32).max(1),
        });
    }
    Ok(())
}

fn queue_ship(
    t: &mut IntentTargets,
    empire_e: Entity,
    empire: EntityId,
    colony: EntityId,
    class: ShipClass,
    fleet: Option<EntityId>,
) -> Result<(), RejectReason> {
    let ce = t.index.get(colony).ok_or(RejectReason::NotFound { what: "colony", id: colony.0 })?;
    let (owner, levels, _, yard) =
        t.colonies.get(ce).map_err(|_| RejectReason::NotFound { what: "colony", id: colony.0 })?;
    if owner.0 != empire {
        return Err(RejectReason::NotOwner { what: "colony" });
    }
    if levels.level(BuildingKind::Shipyard) == 0 {
        return Err(RejectReason::NoShipyard);
    }
    let limit = t.tuning.economy.max_shipyard_queue;
    if yard.0.len() as u32 >= limit {
        return Err(RejectReason::LimitReached { what: "shipyard queue", limit });
    }
    if let Some(f) = fleet {
        let fe = t.index.get(f).ok_or(RejectReason::NotFound { what: "fleet", id: f.0 })?;
        let (fowner, _) = t.fleets.get(fe).map_err(|_| RejectReason::NotFound { what: "fleet", id: f.0 })?;
        if fowner.0 != empire {
            return Err(RejectReason::NotOwner { what: "fleet" });
        }
    }
    let stats = *t.tuning.class(class);
    let (credits, res) = cost_milli(&stats.cost, 1.0);
    pay(t, empire_e, credits, &res)?;
    if let Ok((_, _, _, mut yard)) = t.colonies.get_mut(ce) {
        yard.0.push_back(ShipJob { class, ticks_left: stats.build_ticks.max(1), fleet });
    }
    Ok(())
}
