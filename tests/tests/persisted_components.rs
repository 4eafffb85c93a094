//! Every component of a saved entity is either persisted — then changing it changes
//! `world_hash`, is collected for the next flush, and survives the rows it is written to — or
//! listed here as derived (rebuilt, never saved). A component added to ships, fleets, empires or
//! colonies fails this test until it is classified: so nothing is saved but not hashed, hashed
//! but not saved, or silently neither.

use bevy_app::App;
use bevy_ecs::component::{Component, ComponentId};
use bevy_ecs::entity::Entity;
use bevy_ecs::query::With;
use bevy_ecs::world::World;
use glam::Vec2;
use starforge_components::prelude::*;
use starforge_persistence::tables::map;
use starforge_persistence::{Change, PendingChanges, collect_now, restore, whole_world_batch};
use starforge_systems::prelude::*;
use starforge_tests::persist::{generated, sim_app, tick};

/// The entity's id: the key of its row (its change is no change of state).
const KEY: &str = "id (key)";

/// A change to one component of `e` that gives it a value it did not have.
type Mutator = fn(&mut World, Entity);

fn id<T: Component>(world: &mut World) -> ComponentId {
    world.register_component::<T>()
}

/// Changes `T` on `e` with `f`.
fn edit<T: Component<Mutability = bevy_ecs::component::Mutable>>(world: &mut World, e: Entity, f: impl FnOnce(&mut T)) {
    f(&mut world.get_mut::<T>(e).expect("the component is there"));
}

/// Checks each mutator of `kind` on `e`: hashed, collected, round-trips through the rows.
fn check(app: &mut App, kind: &str, e: Entity, persisted: &[(ComponentId, &str, Mutator)], derived: &[ComponentId]) {
    let world = app.world_mut();
    let known: Vec<ComponentId> = persisted.iter().map(|p| p.0).chain(derived.iter().copied()).collect();
    let on_entity: Vec<ComponentId> = world.inspect_entity(e).expect("spawned").map(|(c, _)| c).collect();
    for c in &on_entity {
        let name = world.components().get_info(*c).map(|i| format!("{:?}", i.name())).unwrap_or_default();
        assert!(known.contains(c), "{kind}: component {c:?} {name} is neither persisted nor listed as derived here");
    }
    let entity_id = *world.get::<EntityId>(e).expect("an id");
    for (_, name, mutate) in persisted.iter().filter(|p| p.1 != KEY) {
        let world = app.world_mut();
        collect_now(world);
        world.resource_mut::<PendingChanges>().entities = Default::default();
        let before = world_hash(world);
        mutate(world, e);
        assert_ne!(world_hash(world), before, "{kind}.{name} changed but world_hash did not: it is not hashed");
        collect_now(world);
        let pending = world.resource::<PendingChanges>();
        assert!(
            matches!(pending.entities.get(&entity_id), Some(Change::Saved(_))),
            "{kind}.{name} changed but the entity was not collected for the next flush"
        );
        let rows = map::encode(&whole_world_batch(world, 1), "main");
        let loaded = map::decode(rows).expect("decodes");
        let mut back = sim_app();
        restore::apply(back.world_mut(), loaded).expect("restores");
        assert_eq!(
            world_hash(back.world_mut()),
            world_hash(app.world_mut()),
            "{kind}.{name} does not survive the rows it is written to"
        );
    }
}

fn first<F: bevy_ecs::query::QueryFilter>(world: &mut World) -> Entity {
    world.query_filtered::<Entity, F>().iter(world).next().expect("an entity")
}

#[test]
fn every_component_of_a_saved_entity_is_hashed_collected_and_saved_or_derived() {
    let mut app = generated(17);
    for _ in 0..20 {
        tick(&mut app);
    }
    let world = app.world_mut();
    let ship = world.query_filtered::<Entity, With<Ship>>().iter(world).nth(1).expect("a second ship");
    world.entity_mut(ship).insert(FleetMember(EntityId(999_999)));
    let ships: Vec<(ComponentId, &str, Mutator)> = vec![
        (id::<EntityId>(world), KEY, |_, _| {}),
        (id::<Ship>(world), "class", |w, e| edit::<Ship>(w, e, |s| s.class = ShipClass::Battleship)),
        (id::<Owner>(world), "owner", |w, e| edit::<Owner>(w, e, |o| o.0 = EntityId(o.0.0 + 1))),
        (id::<Allegiance>(world), "allegiance", |w, e| {
            edit::<Allegiance>(w, e, |a| {
                a.0 = if a.0 == EmpireKind::Player { EmpireKind::Npc(Faction::Traders) } else { EmpireKind::Player }
            })
        }),
        (id::<FleetMember>(world), "fleet", |w, e| edit::<FleetMember>(w, e, |f| f.0 = EntityId(f.0.0 + 1))),
        (id::<Position>(world), "position", |w, e| edit::<Position>(w, e, |p| p.local += Vec2::new(1.5, -2.0))),
        (id::<Motion>(world), "motion", |w, e| edit::<Motion>(w, e, |m| m.heading += 0.25)),
        (id::<Hull>(world), "hull", |w, e| edit::<Hull>(w, e, |h| h.0 -= 1.0)),
        (id::<Weapon>(world), "weapon", |w, e| edit::<Weapon>(w, e, |x| x.ready_tick += 3)),
        (id::<Cargo>(world), "cargo", |w, e| edit::<Cargo>(w, e, |c| *c.0.get_mut(ResourceKind::Minerals) += 7)),
        (id::<ShipOrder>(world), "order", |w, e| {
            edit::<ShipOrder>(w, e, |o| *o = ShipOrder::MoveTo(Vec2::new(4.0, 5.0)))
        }),
        (id::<Transit>(world), "transit", |w, e| {
            w.entity_mut(e).insert(Transit { to: SystemId(2), ticks_left: 9 });
        }),
        (id::<Target>(world), "target", |w, e| {
            let (t, te) = w
                .query_filtered::<(&EntityId, Entity), With<Ship>>()
                .iter(w)
                .find(|(_, x)| *x != e)
                .map(|(i, x)| (*i, x))
                .expect("a target");
            w.entity_mut(e).insert(Target(Some((t, te))));
        }),
    ];
    let derived = [id::<GridCell>(world)];
    check(&mut app, "ship", ship, &ships, &derived);

    let world = app.world_mut();
    let colony = first::<With<Colony>>(world);
    let colonies: Vec<(ComponentId, &str, Mutator)> = vec![
        (id::<EntityId>(world), KEY, |_, _| {}),
        (id::<Owner>(world), "owner", |w, e| edit::<Owner>(w, e, |o| o.0 = EntityId(o.0.0 + 1))),
        (id::<Colony>(world), "colony", |w, e| edit::<Colony>(w, e, |c| c.population += 1)),
        (id::<Buildings>(world), "buildings", |w, e| edit::<Buildings>(w, e, |b| b.0[5] += 1)),
        (id::<ConstructionQueue>(world), "construction", |w, e| {
            edit::<ConstructionQueue>(w, e, |q| {
                q.0.push_back(ConstructionJob { building: BuildingKind::Mine, target_level: 4, ticks_left: 11 })
            })
        }),
        (id::<ShipyardQueue>(world), "shipyard", |w, e| {
            edit::<ShipyardQueue>(w, e, |q| {
                q.0.push_back(ShipJob { class: ShipClass::Fighter, ticks_left: 5, fleet: None })
            })
        }),
    ];
    check(&mut app, "colony", colony, &colonies, &[]);

    let world = app.world_mut();
    let npc = first::<(With<Empire>, With<NpcBrain>)>(world);
    let brain: Mutator = |w, e| edit::<NpcBrain>(w, e, |b| b.next_think += 13);
    let empires: Vec<(ComponentId, &str, Mutator)> = vec![
        (id::<EntityId>(world), KEY, |_, _| {}),
        (id::<Empire>(world), "empire", |w, e| edit::<Empire>(w, e, |x| x.name.push('!'))),
        (id::<Credits>(world), "credits", |w, e| edit::<Credits>(w, e, |c| c.0 += 1)),
        (id::<Stockpile>(world), "stockpile", |w, e| {
            edit::<Stockpile>(w, e, |s| *s.0.get_mut(ResourceKind::Energy) += 1)
        }),
        (id::<ShipCensus>(world), "census", |w, e| edit::<ShipCensus>(w, e, |c| c.0[4] += 1)),
        (id::<NpcBrain>(world), "brain", brain),
    ];
    check(&mut app, "empire", npc, &empires, &[]);

    let world = app.world_mut();
    let fleet = first::<(With<Fleet>, With<NpcBrain>)>(world);
    let fleets: Vec<(ComponentId, &str, Mutator)> = vec![
        (id::<EntityId>(world), KEY, |_, _| {}),
        (id::<Owner>(world), "owner", |w, e| edit::<Owner>(w, e, |o| o.0 = EntityId(o.0.0 + 1))),
        (id::<Fleet>(world), "members", |w, e| edit::<Fleet>(w, e, |f| f.ships.push(EntityId(888_888)))),
        (id::<NpcBrain>(world), "brain", brain),
    ];
    check(&mut app, "fleet", fleet, &fleets, &[]);
}
