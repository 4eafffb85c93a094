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
    spawn_empire_as(world, id, name, kind, credits, stockpile)
}

/// Spawns an empire under a given id (which must be unused and below the allocator's next id).
pub fn spawn_empire_as(
    world: &mut World,
    id: EntityId,
    name: impl Into<String>,
    kind: EmpireKind,
    credits: i64,
    stockpile: ResourceAmounts,
) -> EntityId {
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
            Colony { name: std::sync::Arc::from(name.into()), system, planet, population },
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

/// What a new player starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlayerStart {
    /// The empire (its id is the player id).
    pub empire: EntityId,
    /// Home colony.
    pub colony: EntityId,
    /// Starting fleet.
    pub fleet: EntityId,
    /// Starting ships, by id.
    pub ships: Vec<EntityId>,
}

/// Creates a new player's empire: credits and stock from `network.ron`, a home colony (mine,
/// power plant, shipyard) and a starting fleet beside it. The home system is picked from the
/// number of player empires so far, spreading players over the galaxy deterministically.
pub fn spawn_player_empire(world: &mut World, name: &str) -> Result<PlayerStart, String> {
    player_empire(world, name, None)
}

/// Recreates the starting empire of a player whose account exists but whose empire was never
/// saved (the server stopped between the account's creation and the next flush): the same as
/// [`spawn_player_empire`], with the empire under its old id `empire` so the account still
/// names it. `empire` must be unused and below the allocator's next id.
pub fn respawn_player_empire(world: &mut World, name: &str, empire: EntityId) -> Result<PlayerStart, String> {
    if world.resource::<EntityIndex>().get(empire).is_some() {
        return Err(format!("entity {} exists already", empire.0));
    }
    if empire.0 == 0 || empire.0 >= world.resource::<IdAllocator>().next {
        return Err(format!("id {} was never allocated", empire.0));
    }
    player_empire(world, name, Some(empire))
}

fn player_empire(world: &mut World, name: &str, id: Option<EntityId>) -> Result<PlayerStart, String> {
    let players = world.query::<&Empire>().iter(world).filter(|e| e.kind == EmpireKind::Player).count() as u64;
    let galaxy = world.get_resource::<Galaxy>().ok_or("no galaxy")?;
    let n = galaxy.systems.len() as u64;
    if n == 0 {
        return Err("the galaxy has no systems".into());
    }
    // A stride co-prime with most galaxy sizes visits every system before repeating one.
    let system = &galaxy.systems[((players * 7919 + 13) % n) as usize];
    let (system_id, radius) = (system.id, system.radius);
    let (planet, centre) = system
        .planets
        .iter()
        .enumerate()
        .next()
        .map(|(i, p)| (i as u32, p.pos + Vec2::new(p.radius + 150.0, 0.0)))
        .unwrap_or((0, Vec2::ZERO));
    let centre = centre.clamp_length_max(radius * 0.9);
    let net = world.resource::<Tuning>().network;
    let mut stock = ResourceAmounts::default();
    for r in ResourceKind::TRADED {
        *stock.get_mut(r) = (net.start_stock * MILLI as f64) as i64;
    }
    let credits = (net.start_credits * MILLI as f64) as i64;
    let empire = match id {
        Some(id) => spawn_empire_as(world, id, name, EmpireKind::Player, credits, stock),
        None => spawn_empire(world, name, EmpireKind::Player, credits, stock),
    };
    let mut b = Buildings::default();
    for k in [BuildingKind::Mine, BuildingKind::PowerPlant, BuildingKind::Shipyard] {
        b.0[k.index()] = 1;
    }
    let colony = spawn_colony(world, empire, format!("{name} Prime"), system_id, planet, 1000 * MILLI, b);
    let fleet = spawn_fleet(world, empire, None);
    let classes = std::iter::repeat_n(ShipClass::Corvette, net.start_corvettes as usize)
        .chain(std::iter::repeat_n(ShipClass::Freighter, net.start_freighters as usize));
    let ships = classes
        .enumerate()
        .map(|(i, class)| {
            let pos = Position { system: system_id, local: centre + Vec2::new(0.0, i as f32 * 40.0) };
            spawn_ship(world, class, empire, fleet, pos, 0.0)
        })
        .collect();
    Ok(PlayerStart { empire, colony, fleet, ships })
}
