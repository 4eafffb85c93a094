//! Bundles and spawn helpers for empires, fleets, ships and colonies.
//!
//! Every spawn allocates an [`EntityId`] and records it in the [`EntityIndex`]; use these
//! helpers rather than spawning by hand so neither is forgotten.

use bevy_ecs::prelude::*;
use glam::Vec2;
use starforge_components::prelude::*;

/// A new ship's components.
#[expect(clippy::too_many_arguments, reason = "one argument per thing a new ship needs to know")]
pub fn ship_bundle(
    id: EntityId,
    class: ShipClass,
    owner: EntityId,
    allegiance: EmpireKind,
    fleet: EntityId,
    pos: Position,
    heading: f32,
    tuning: &Tuning,
) -> impl Bundle {
    (
        (id, Ship { class }, Owner(owner), Allegiance(allegiance), FleetMember(fleet)),
        (pos, Motion { vel: Vec2::ZERO, heading }, Hull(tuning.class(class).hull)),
        (Weapon::default(), Cargo::default(), ShipOrder::Idle, Target::default(), GridCell::default()),
    )
}

/// Spawns an empire with starting credits and stockpile (milli-units); returns its id.
pub fn spawn_empire(
    world: &mut World,
    name: impl Into<String>,
    kind: EmpireKind,
    credits: i64,
    stockpile: ResourceAmounts,
) -> EntityId {
    let id = world.resource_mut::<IdAllocator>().allocate();
    let e = world
        .spawn((id, Empire { name: name.into(), kind }, Credits(credits), Stockpile(stockpile), ShipCensus::default()))
        .id();
    world.resource_mut::<EntityIndex>().insert(id, e);
    id
}

/// Spawns an empty fleet owned by `owner`; returns its id.
pub fn spawn_fleet(world: &mut World, owner: EntityId, brain: Option<NpcBrain>) -> EntityId {
    let id = world.resource_mut::<IdAllocator>().allocate();
    let mut e = world.spawn((id, Owner(owner), Fleet::default()));
    if let Some(brain) = brain {
        e.insert(brain);
    }
    let e = e.id();
    world.resource_mut::<EntityIndex>().insert(id, e);
    id
}

/// Spawns a ship into `fleet` (which must exist) and counts it in its owner's census.
pub fn spawn_ship(
    world: &mut World,
    class: ShipClass,
    owner: EntityId,
    fleet: EntityId,
    pos: Position,
    heading: f32,
) -> EntityId {
    let id = world.resource_mut::<IdAllocator>().allocate();
    let index = world.resource::<EntityIndex>();
    let (owner_e, fleet_e) = (index.get(owner), index.get(fleet));
    let allegiance = owner_e.and_then(|e| world.get::<Empire>(e)).map(|emp| emp.kind).unwrap_or(EmpireKind::Player);
    let bundle = ship_bundle(id, class, owner, allegiance, fleet, pos, heading, world.resource::<Tuning>());
    let e = world.spawn(bundle).id();
    world.resource_mut::<EntityIndex>().insert(id, e);
    if let Some(mut f) = fleet_e.and_then(|f| world.get_mut::<Fleet>(f)) {
        insert_sorted(&mut f.ships, id);
    }
    if let Some(mut census) = owner_e.and_then(|o| world.get_mut::<ShipCensus>(o)) {
        census.0[class.index()] += 1;
    }
    id
}

/// Spawns a colony; returns its id.
pub fn spawn_colony(
    world: &mut World,
    owner: EntityId,
    name: impl Into<String>,
    system: SystemId,
    planet: u32,
    population: i64,
    buildings: Buildings,
) -> EntityId {
    let id = world.resource_mut::<IdAllocator>().allocate();
    let e = world
        .spawn((
            id,
            Owner(owner),
            Colony { name: name.into(), system, planet, population },
            buildings,
            ConstructionQueue::default(),
            ShipyardQueue::default(),
        ))
        .id();
    world.resource_mut::<EntityIndex>().insert(id, e);
    id
}

/// Inserts `id` into a sorted list of ids (no duplicates).
pub fn insert_sorted(list: &mut Vec<EntityId>, id: EntityId) {
    if let Err(i) = list.binary_search(&id) {
        list.insert(i, id);
    }
}

/// Removes `id` from a sorted list of ids.
pub fn remove_sorted(list: &mut Vec<EntityId>, id: EntityId) {
    if let Ok(i) = list.binary_search(&id) {
        list.remove(i);
    }
}
