//! Unit tests of change collection (no database).

use std::collections::BTreeSet;

use bevy_app::FixedMain;
use starforge_systems::prelude::*;
use starforge_systems::spawn::*;

use starforge_components::ids::FastMap;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;

use crate::rows::{Kind, Record, ShipView, WorldMeta};
use crate::*;

/// The simulation with persistence collecting after it, in a generated world.
fn app(systems: u32, ships: u32, colonies: u32, orders: u32) -> App {
    let mut app = App::new();
    app.insert_resource(Tuning::default());
    app.add_plugins((SimulationPlugin, PersistencePlugin));
    app.configure_sets(FixedUpdate, PersistAfter.after(SimSystems::Bookkeeping));
    app.finish();
    app.cleanup();
    let params = GenParams {
        seed: 2,
        systems: Some(systems),
        ships: Some(ships),
        colonies: Some(colonies),
        resting_orders: orders,
    };
    generate_world(app.world_mut(), &params);
    app
}

/// A pending change as the record it saves (`None`: deleted).
fn saved(c: &Change) -> Option<Record> {
    match c {
        Change::Saved(r) => Some(r.clone()),
        Change::Deleted(_) => None,
    }
}

/// Collects now and takes everything pending, newest state per id.
fn take(app: &mut App) -> FastMap<EntityId, Option<Record>> {
    collect_now(app.world_mut());
    let changes = std::mem::take(&mut app.world_mut().resource_mut::<PendingChanges>().entities);
    changes.newest().into_iter().map(|(id, c)| (*id, saved(c))).collect()
}

#[test]
fn pending_changes_stay_bounded_by_entity_count_and_hold_the_newest_state() {
    let mut app = app(20, 600, 40, 200);
    app.world_mut().run_schedule(FixedMain);
    let first = take(&mut app);
    // Everything generated is new, so the first collection is every entity and order.
    let mut q = app.world_mut().query::<&EntityId>();
    let live: BTreeSet<EntityId> = q.iter(app.world()).copied().collect();
    let orders: BTreeSet<EntityId> = app.world().resource::<Market>().orders_sorted().iter().map(|o| o.id).collect();
    let collected: BTreeSet<EntityId> = first.iter().filter(|(_, r)| r.is_some()).map(|(id, _)| *id).collect();
    assert_eq!(collected, live.union(&orders).copied().collect(), "the first collection is the whole world");

    // Collecting every 7 ticks and never taking (a writer that never takes a batch), with
    // compaction as a handed-back batch gets: each id at most once, the newest state.
    let mut removed = BTreeSet::new();
    for t in 0..1500 {
        app.world_mut().run_schedule(FixedMain);
        if t % 7 == 6 {
            collect_now(app.world_mut());
            let world = app.world_mut();
            let mut pending = world.resource_mut::<PendingChanges>();
            pending.entities.compact();
            let ids: Vec<EntityId> = pending.entities.iter().map(|(id, _)| *id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "compacted: each id once, sorted");
            let live = world.resource::<EntityIndex>().len() + world.resource::<Market>().resting();
            let pending = world.resource::<PendingChanges>();
            let upserts = pending.entities.iter().filter(|(_, c)| matches!(c, Change::Saved(_))).count();
            assert!(upserts <= live, "upserts ({upserts}) exceed live entities and orders ({live})");
            removed.extend(pending.entities.iter().filter(|(_, c)| matches!(c, Change::Deleted(_))).map(|(id, _)| *id));
        }
    }
    let pending = take(&mut app);
    assert!(app.world().resource::<PendingChanges>().is_empty());
    let destroyed = app.world().resource::<SimStats>().ships_destroyed;
    assert!(destroyed > 0, "the run should destroy ships");
    assert!(removed.len() as u64 >= destroyed, "every destroyed ship is pending removal");
    // Every pending record equals the live entity's state now (newest state wins).
    let world = app.world_mut();
    let mut ships = world.query::<ShipView<'static>>();
    let mut checked = 0;
    for v in ships.iter(world) {
        if let Some(Some(Record::Ship(r))) = pending.get(v.0.0) {
            assert_eq!(*r, rows::ship_record(&v), "pending ship {:?} is stale", v.0.0);
            checked += 1;
        }
    }
    assert!(checked > 100, "ships changed in 1500 ticks: {checked}");
    for (id, r) in &pending {
        if r.is_none() {
            assert!(world.resource::<EntityIndex>().get(*id).is_none(), "removed {id:?} is live");
        }
    }
}

#[test]
fn one_collection_spans_every_tick_since_the_previous_one() {
    let mut once = app(20, 600, 40, 200);
    once.world_mut().run_schedule(FixedMain);
    take(&mut once);
    // The same 20 ticks, once collected after every tick (merging, newest wins) and once
    // collected only after the last: the same records.
    let mut every = app(20, 600, 40, 200);
    every.world_mut().run_schedule(FixedMain);
    take(&mut every);
    let mut merged = FastMap::default();
    for _ in 0..20 {
        every.world_mut().run_schedule(FixedMain);
        merged.extend(take(&mut every));
        once.world_mut().run_schedule(FixedMain);
    }
    let twin = &mut once;
    let once = take(twin);
    assert!(merged.len() > 100, "20 ticks change things: {}", merged.len());
    let sorted = |m: &FastMap<EntityId, Option<Record>>| {
        let mut v: Vec<(EntityId, Option<Record>)> = m.iter().map(|(k, v)| (*k, v.clone())).collect();
        v.sort_by_key(|e| e.0);
        v
    };
    assert_eq!(sorted(&once), sorted(&merged));
    // And nothing is collected twice: right after a collection, nothing is pending.
    assert!(take(twin).is_empty());
}

#[test]
fn changes_keep_the_newest_entry_of_each_id() {
    let order = |price| {
        Change::Saved(Record::Order(MarketOrder {
            id: EntityId(7),
            owner: EntityId(1),
            resource: ResourceKind::Minerals,
            side: Side::Sell,
            price,
            quantity: 1,
            placed_tick: 0,
            expires_tick: 100,
        }))
    };
    let mut c = Changes::default();
    let gone = Change::Deleted(Kind::Order);
    c.push(EntityId(9), gone.clone());
    c.push(EntityId(7), order(1));
    c.push(EntityId(3), order(2));
    c.push(EntityId(7), order(3));
    c.push(EntityId(7), gone.clone());
    c.push(EntityId(3), order(4));
    let newest: Vec<(EntityId, Change)> = c.newest().into_iter().map(|(id, r)| (*id, r.clone())).collect();
    assert_eq!(newest, vec![(EntityId(3), order(4)), (EntityId(7), gone.clone()), (EntityId(9), gone.clone())]);
    assert_eq!(c.get(&EntityId(7)), Some(&gone));
    assert_eq!(c.get(&EntityId(3)), Some(&order(4)));
    assert_eq!(c.get(&EntityId(4)), None);
    c.compact();
    assert_eq!(c.iter().map(|(id, r)| (*id, r.clone())).collect::<Vec<_>>(), newest);
}

#[test]
fn a_build_order_at_a_colony_at_its_cap_is_collected() {
    let mut app = app(5, 0, 0, 0);
    let world = app.world_mut();
    let mut stock = ResourceAmounts::default();
    *stock.get_mut(ResourceKind::Minerals) = 1_000_000;
    let empire = spawn_empire(world, "P", EmpireKind::Player, 1_000_000_000, stock);
    // Population exactly at the base cap: the colony itself does not change.
    let cap = (Tuning::default().economy.base_population_cap * 1000.0) as i64;
    let colony = spawn_colony(world, empire, "Capped", SystemId(0), 0, cap, Buildings::default());
    app.world_mut().run_schedule(FixedMain);
    take(&mut app);
    app.world_mut().resource_mut::<IntentQueue>().0.push(QueuedIntent {
        empire,
        client_ref: 1,
        intent: Intent::Build { colony, building: BuildingKind::Mine },
    });
    app.world_mut().run_schedule(FixedMain);
    let pending = take(&mut app);
    let Some(Some(Record::Colony(c))) = pending.get(&colony) else { panic!("colony not collected: {pending:?}") };
    assert_eq!(c.construction.0.len(), 1, "the queued building is in the record");
    assert!(matches!(pending.get(&empire), Some(Some(Record::Empire(_)))), "and the credits it cost");
}

#[test]
fn market_orders_are_collected_when_placed_and_deleted_when_cancelled() {
    let mut app = app(5, 0, 0, 0);
    let world = app.world_mut();
    let mut stock = ResourceAmounts::default();
    *stock.get_mut(ResourceKind::Minerals) = 1_000_000;
    let empire = spawn_empire(world, "P", EmpireKind::Player, 1_000_000_000, stock);
    app.world_mut().run_schedule(FixedMain);
    take(&mut app);
    let place = Intent::PlaceOrder {
        resource: ResourceKind::Minerals,
        side: Side::Sell,
        price: 5_000,
        quantity: 10,
        expires_in: None,
    };
    app.world_mut().resource_mut::<IntentQueue>().0.push(QueuedIntent { empire, client_ref: 1, intent: place });
    app.world_mut().run_schedule(FixedMain);
    let pending = take(&mut app);
    let order = app.world().resource::<Market>().orders_sorted()[0];
    assert_eq!(pending.get(&order.id), Some(&Some(Record::Order(order))), "the resting order is collected");
    app.world_mut().resource_mut::<IntentQueue>().0.push(QueuedIntent {
        empire,
        client_ref: 2,
        intent: Intent::CancelOrder { order: order.id },
    });
    app.world_mut().run_schedule(FixedMain);
    let pending = take(&mut app);
    assert_eq!(pending.get(&order.id), Some(&None), "a cancelled order is pending deletion");
}

#[test]
fn without_a_persister_nothing_is_flushed_and_market_tracking_is_on() {
    let mut app = app(5, 50, 5, 20);
    assert!(app.world().resource::<Market>().is_tracking());
    for _ in 0..50 {
        app.world_mut().run_schedule(FixedMain);
    }
    // Without a writer nothing is due: nothing is collected until asked.
    assert!(app.world().resource::<PendingChanges>().is_empty());
    collect_now(app.world_mut());
    assert!(!app.world().resource::<PendingChanges>().is_empty(), "changes stay pending without a writer");
}

#[test]
fn a_ship_whose_fleet_alone_changes_is_collected() {
    let mut app = app(5, 50, 0, 0);
    app.world_mut().run_schedule(FixedMain);
    take(&mut app);
    let world = app.world_mut();
    let mut q = world.query::<(Entity, &EntityId, &FleetMember)>();
    let (e, id, old) = q.iter(world).map(|(e, id, f)| (e, *id, f.0)).next().expect("a ship");
    let new_fleet = EntityId(old.0 + 1_000_000);
    world.entity_mut(e).insert(FleetMember(new_fleet));
    // Collect without running the rest of the tick (which could move the ship anyway).
    let pending = take(&mut app);
    let Some(Some(Record::Ship(r))) = pending.get(&id) else { panic!("ship {id:?} not collected") };
    assert_eq!(r.fleet, Some(new_fleet));
}

#[test]
fn a_despawned_entity_is_pending_deletion_from_its_own_table() {
    let mut app = app(5, 50, 5, 0);
    app.world_mut().run_schedule(FixedMain);
    take(&mut app);
    let world = app.world_mut();
    let ship = world.query_filtered::<(Entity, &EntityId), With<Ship>>().iter(world).map(|(e, id)| (e, *id)).next();
    let colony = world.query_filtered::<(Entity, &EntityId), With<Colony>>().iter(world).map(|(e, id)| (e, *id)).next();
    let ((ship, ship_id), (colony, colony_id)) = (ship.expect("a ship"), colony.expect("a colony"));
    world.despawn(ship);
    world.despawn(colony);
    let pending = &world.resource::<PendingChanges>().entities;
    assert_eq!(pending.get(&ship_id), Some(&Change::Deleted(Kind::Ship)));
    assert_eq!(pending.get(&colony_id), Some(&Change::Deleted(Kind::Colony)));
}

#[test]
fn a_colony_rewrites_its_buildings_and_queues_only_when_they_change() {
    let mut app = app(5, 0, 0, 0);
    let world = app.world_mut();
    let empire = spawn_empire(world, "P", EmpireKind::Player, 1_000, ResourceAmounts::default());
    let colony = spawn_colony(world, empire, "C", SystemId(0), 0, 1_000, Buildings([1, 0, 0, 0, 0, 0]));
    let entity = world.resource::<EntityIndex>().get(colony).expect("indexed");
    collect_now(world);
    world.resource_mut::<PendingChanges>().entities = Changes::default();
    // Collects what changed since the last call; the rows a batch of it writes.
    let collect = |app: &mut App| {
        let world = app.world_mut();
        collect_now(world);
        let entities = world.resource::<PendingChanges>().entities.clone();
        let batch =
            writer::Batch { id: 1, meta: WorldMeta::capture(world), galaxy: None, entities, history: Vec::new() };
        tables::map::encode(&batch, "main")
    };

    app.world_mut().get_mut::<Colony>(entity).expect("a colony").population += 1;
    let rows = collect(&mut app);
    assert_eq!(rows.colonies.id, [colony.0 as i64], "the population changed: the colony row is written");
    assert!(rows.children_replaced.is_empty() && rows.buildings.level.is_empty(), "its unchanged buildings are not");

    app.world_mut().get_mut::<Buildings>(entity).expect("buildings").0[1] = 2;
    let rows = collect(&mut app);
    assert_eq!(rows.children_replaced, [colony.0 as i64]);
    assert_eq!(rows.buildings.level, [1, 2]);

    // A later entry of the same colony without new children (the writer lagged, both are
    // pending) still writes them, compacted or not.
    app.world_mut().get_mut::<Colony>(entity).expect("a colony").population += 1;
    let rows = collect(&mut app);
    assert_eq!(rows.children_replaced, [colony.0 as i64]);
    let mut pending = app.world().resource::<PendingChanges>().entities.clone();
    assert_eq!(pending.len(), 3);
    pending.compact();
    let Some(Change::Saved(Record::Colony(c))) = pending.get(&colony) else { panic!("the colony is pending") };
    assert!(c.children_changed && c.colony.population == 1_002, "newest state, with the mark of the older entry");
}
