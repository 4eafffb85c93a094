//! Unit tests of change collection (no database).

use std::collections::BTreeSet;

use bevy_app::FixedMain;
use starforge_systems::prelude::*;
use starforge_systems::spawn::*;

use starforge_components::ids::FastMap;

use super::*;

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

/// Collects now and takes everything pending, newest state per id.
fn take(app: &mut App) -> FastMap<EntityId, Option<Record>> {
    collect_now(app.world_mut());
    let changes = std::mem::take(&mut app.world_mut().resource_mut::<PendingChanges>().entities);
    changes.newest().into_iter().map(|(id, r)| (*id, r.clone())).collect()
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
            let upserts = pending.entities.iter().filter(|(_, r)| r.is_some()).count();
            assert!(upserts <= live, "upserts ({upserts}) exceed live entities and orders ({live})");
            removed.extend(pending.entities.iter().filter(|(_, r)| r.is_none()).map(|(id, _)| *id));
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
        Some(Record::Order(MarketOrder {
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
    c.push(EntityId(9), None);
    c.push(EntityId(7), order(1));
    c.push(EntityId(3), order(2));
    c.push(EntityId(7), order(3));
    c.push(EntityId(7), None);
    c.push(EntityId(3), order(4));
    let newest: Vec<(EntityId, Option<Record>)> = c.newest().into_iter().map(|(id, r)| (*id, r.clone())).collect();
    assert_eq!(newest, vec![(EntityId(3), order(4)), (EntityId(7), None), (EntityId(9), None)]);
    assert_eq!(c.get(&EntityId(7)), Some(&None));
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

/// Ids of the ships marked [`Hot`].
fn hot_ships(app: &mut App) -> BTreeSet<EntityId> {
    let mut q = app.world_mut().query_filtered::<&EntityId, With<Hot>>();
    q.iter(app.world()).copied().collect()
}

/// Ids of the ship records in a collection.
fn ship_ids(taken: &FastMap<EntityId, Option<Record>>) -> BTreeSet<EntityId> {
    taken.iter().filter(|(_, r)| matches!(r, Some(Record::Ship(_)))).map(|(id, _)| *id).collect()
}

#[test]
fn ships_changing_in_two_collections_running_move_to_the_hot_tables_and_leave_when_they_stop() {
    let mut app = app(20, 3000, 10, 0);
    app.world_mut().run_schedule(FixedMain);
    let first = take(&mut app);
    assert!(ship_ids(&first).len() >= 3000, "the first collection holds every ship");
    for _ in 0..40 {
        app.world_mut().run_schedule(FixedMain);
    }
    assert!(hot_ships(&mut app).is_empty(), "one collection (everything new after a start) marks nothing");

    // Second collection: the ships that changed again are marked, a bounded number per call,
    // and moving them between tables changes nothing in the world.
    let second = ship_ids(&take(&mut app));
    assert!(second.len() > 2 * RELAYOUT_PER_TICK, "a living galaxy moves ships: {}", second.len());
    let before = world_hash(app.world_mut());
    relayout(app.world_mut()); // compares with the previous collection
    relayout(app.world_mut());
    assert_eq!(hot_ships(&mut app).len(), RELAYOUT_PER_TICK, "at most {RELAYOUT_PER_TICK} per tick");
    for _ in 0..second.len() / RELAYOUT_PER_TICK + 1 {
        relayout(app.world_mut());
    }
    assert_eq!(hot_ships(&mut app), second, "exactly the ships that changed in both collections are hot");
    assert_eq!(world_hash(app.world_mut()), before, "the layout is not game state");

    // Only a few hot ships change: they are collected with their current state, and the hot
    // ships that did not change leave the hot tables.
    let mut q = app.world_mut().query_filtered::<(Entity, &EntityId), With<Hot>>();
    let changed_hot: Vec<(Entity, EntityId)> = q.iter(app.world()).take(10).map(|(e, id)| (e, *id)).collect();
    let set_hull = |app: &mut App, ships: &[(Entity, EntityId)], base: f32| {
        for (i, (e, _)) in ships.iter().enumerate() {
            app.world_mut().get_mut::<Hull>(*e).expect("a ship").0 = base + i as f32;
        }
    };
    let check = |app: &mut App, taken: &FastMap<EntityId, Option<Record>>, ships: &[(Entity, EntityId)], base: f32| {
        for (i, (e, id)) in ships.iter().enumerate() {
            let Some(Some(Record::Ship(r))) = taken.get(id) else { panic!("changed ship {id:?} not collected") };
            assert_eq!(r.hull.0, base + i as f32);
            assert_eq!(*r, rows::ship_record(&app.world_mut().query::<ShipView>().get(app.world(), *e).unwrap()));
        }
        assert_eq!(ship_ids(taken).len(), ships.len(), "nothing else changed");
    };
    set_hull(&mut app, &changed_hot, 1.0);
    interval_later(&mut app);
    let third = take(&mut app);
    check(&mut app, &third, &changed_hot, 1.0);
    for _ in 0..second.len() / RELAYOUT_PER_TICK + 2 {
        relayout(app.world_mut());
    }
    let still: BTreeSet<EntityId> = changed_hot.iter().map(|r| r.1).collect();
    assert_eq!(hot_ships(&mut app), still, "the hot ships that stopped changing left");

    // A ship outside the hot tables that changes is collected all the same, and is not
    // marked before it changes in a second collection.
    let changing_alone = |app: &mut App, ship: (Entity, EntityId), hull: f32| {
        set_hull(app, &[ship], hull);
        interval_later(app);
        let taken = take(app);
        check(app, &taken, &[ship], hull);
        for _ in 0..3 {
            relayout(app.world_mut());
        }
    };
    let cold = a_cold_ship(&mut app);
    changing_alone(&mut app, cold, 7.0);
    assert!(!hot_ships(&mut app).contains(&cold.1), "one collection does not mark a ship");
    changing_alone(&mut app, cold, 8.0);
    assert!(hot_ships(&mut app).contains(&cold.1), "two collections in a row do");

    // A collection right after another (`flush_now`, a shutdown) spans too few ticks to judge:
    // it does not make the layout forget what the full interval before it showed.
    let other = a_cold_ship(&mut app);
    changing_alone(&mut app, other, 9.0);
    assert!(take(&mut app).is_empty(), "a short collection right after: nothing changed since");
    for _ in 0..3 {
        relayout(app.world_mut());
    }
    changing_alone(&mut app, other, 10.0);
    assert!(hot_ships(&mut app).contains(&other.1), "changed in both full intervals around the short one");
}

/// A ship outside the hot tables.
fn a_cold_ship(app: &mut App) -> (Entity, EntityId) {
    let mut q = app.world_mut().query_filtered::<(Entity, &EntityId), (With<Ship>, Without<Hot>)>();
    q.iter(app.world()).map(|(e, id)| (e, *id)).next().expect("a ship outside the hot tables")
}

/// Moves the tick a flush interval on (without simulating), so the next collection spans one.
fn interval_later(app: &mut App) {
    let interval = app.world().resource::<Tuning>().world.flush_interval_ticks();
    app.world_mut().resource_mut::<SimTick>().0 += interval;
}

#[test]
fn runs_go_to_exactly_one_thread_whatever_the_interleaving() {
    // Three threads iterate the same 1,000 runs; a seeded schedule decides who asks next, and
    // in some rounds one of them starts late.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const N: usize = 1000;
    for round in 0..200 {
        let runs = Runs::default();
        let mut claims = [runs.claim(), runs.claim(), runs.claim()];
        let mut at = [0usize; 3];
        let mut owner = vec![None; N];
        // In some rounds thread 2 only starts when thread 0 is half done.
        let late = round % 3 == 0;
        while at.iter().any(|&a| a < N) {
            let t = (next() % 3) as usize;
            if at[t] == N || (late && t == 2 && at[0] < N / 2) {
                continue;
            }
            let run = at[t];
            if claims[t].mine(run) {
                assert_eq!(owner[run], None, "round {round}: run {run} given twice");
                owner[run] = Some(t);
            }
            at[t] += 1;
        }
        assert!(owner.iter().all(Option::is_some), "round {round}: every run copied");
        if late {
            // Thread 0 had passed the first half, so those runs were all handed out before.
            assert!(owner[..N / 2].iter().all(|o| *o != Some(2)), "round {round}: a late thread takes no passed run");
        }
    }
    // Alone, a thread takes every run, in order.
    let runs = Runs::default();
    let mut alone = runs.claim();
    assert!((0..N).all(|r| alone.mine(r)));
}

#[test]
fn a_collection_on_two_threads_holds_what_one_thread_collects() {
    // Two identical worlds with hot tables; their last collection runs on one thread in one and
    // on two in the other (the previous collection's size decides).
    let run = |parallel: bool, warm: bool| {
        let mut app = app(20, 6000, 3000, 200);
        for _ in 0..3 {
            for _ in 0..20 {
                app.world_mut().run_schedule(FixedMain);
            }
            take(&mut app);
            for _ in 0..60 {
                relayout(app.world_mut());
            }
        }
        for _ in 0..20 {
            app.world_mut().run_schedule(FixedMain);
        }
        app.world_mut().resource_mut::<PendingChanges>().last_collected =
            if parallel { PARALLEL_COLLECTION_MIN } else { 0 };
        let hot = hot_ships(&mut app).len();
        if warm {
            app.world().resource::<Warmer>().wake();
            assert!(app.world().resource::<Warmer>().waiting());
        }
        collect_now(app.world_mut());
        assert!(!app.world().resource::<Warmer>().waiting(), "the collection lets the warmer rest");
        let entries = app.world().resource::<PendingChanges>().len();
        let taken = take(&mut app);
        let mut v: Vec<(EntityId, Option<Record>)> = taken.into_iter().collect();
        v.sort_by_key(|e| e.0);
        (v, hot, entries)
    };
    let (one, hot, entries_one) = run(false, false);
    let (two, _, entries_two) = run(true, false);
    // With the warmer awake: the collecting thread waits for its helper, which moves off its core.
    let (warm, _, entries_warm) = run(true, true);
    assert_eq!(entries_warm, warm.len(), "two threads, warm: each id once");
    assert!(one == warm, "the same records with the warmer awake");
    assert_eq!(entries_one, one.len(), "one thread: each id once");
    assert_eq!(entries_two, two.len(), "two threads: each id once (no run copied twice)");
    assert!(hot > 4 * PART, "hot tables in use: {hot} hot ships");
    let ships = one.iter().filter(|(_, r)| matches!(r, Some(Record::Ship(_)))).count();
    let colonies = one.iter().filter(|(_, r)| matches!(r, Some(Record::Colony(_)))).count();
    assert!(ships > 4 * PART && colonies > 4 * PART, "ships and colonies changed: {ships} ships, {colonies} colonies");
    assert_eq!(one.len(), two.len());
    assert!(one == two, "the same records, one thread or two");
}

#[test]
fn collecting_on_every_tick_keeps_the_layout_bookkeeping_bounded() {
    // A one-tick flush interval: every tick collects, and `relayout` (which skips collecting
    // ticks) never compares. Nothing may pile up.
    let mut app = app(20, 3000, 10, 0);
    app.world_mut().resource_mut::<Tuning>().world.flush_interval_s = 0.05;
    assert_eq!(app.world().resource::<Tuning>().world.flush_interval_ticks(), 1);
    let ships: Vec<Entity> = app.world_mut().query_filtered::<Entity, With<Ship>>().iter(app.world()).collect();
    take(&mut app); // the whole world
    for step in 0..50 {
        for (i, e) in ships.iter().enumerate().take(1000) {
            app.world_mut().get_mut::<Hull>(*e).expect("a ship").0 = (step * 1000 + i) as f32;
        }
        app.world_mut().resource_mut::<SimTick>().0 += 1;
        take(&mut app);
        let p = app.world().resource::<PendingChanges>();
        assert!(p.layout.changed.len() <= ships.len(), "step {step}: {} pending comparisons", p.layout.changed.len());
        assert!(p.last_collected <= ships.len() + 100, "step {step}: expects {}", p.last_collected);
    }
}

#[test]
fn a_collection_on_the_tick_of_another_keeps_its_verdict_on_idle_hot_ships() {
    let mut app = app(20, 3000, 10, 0);
    let ships: Vec<Entity> = app.world_mut().query_filtered::<Entity, With<Ship>>().iter(app.world()).collect();
    // Mark 600 ships hot, then a full interval in which only 10 of them change: the other 590
    // are to leave the hot tables.
    let set = |app: &mut App, which: &[Entity], hull: f32| {
        for e in which {
            app.world_mut().get_mut::<Hull>(*e).expect("a ship").0 = hull;
        }
    };
    take(&mut app);
    for hull in [1.0, 2.0] {
        set(&mut app, &ships[..600], hull);
        interval_later(&mut app);
        take(&mut app);
        for _ in 0..3 {
            relayout(app.world_mut());
        }
    }
    assert_eq!(hot_ships(&mut app).len(), 600);
    set(&mut app, &ships[..10], 3.0);
    interval_later(&mut app);
    take(&mut app);
    let cool = app.world().resource::<PendingChanges>().layout.cool.len();
    assert_eq!(cool, 590, "the idle hot ships are to leave");
    // A second collection on the same tick (a shutdown's flush): nothing changed in it, which
    // says nothing about which hot ships are idle.
    set(&mut app, &ships[..1], 4.0);
    take(&mut app);
    assert_eq!(app.world().resource::<PendingChanges>().layout.cool.len(), cool, "the verdict stands");
}

#[test]
fn ships_carry_the_stripe_of_their_index_and_changes_in_both_halves_are_collected() {
    let mut app = app(20, 6000, 200, 0);
    let mut q = app.world_mut().query_filtered::<(Entity, Has<Stripe>), With<Ship>>();
    let ships: Vec<(Entity, bool)> = q.iter(app.world()).collect();
    assert!(ships.len() > 5000, "{} ships", ships.len());
    for &(e, striped) in &ships {
        assert_eq!(striped, super::striped(e), "ship {e}: the stripe follows the entity index");
    }
    // Ships that appear later get their stripe too (2 048 of them span both kinds of block).
    let template = app.world().entity(ships[0].0).get::<Ship>().copied().expect("a ship");
    let new: Vec<Entity> = (0..2 * STRIPE_BLOCK).map(|_| app.world_mut().spawn(template).id()).collect();
    app.world_mut().flush();
    assert!(new.iter().any(|&e| striped(e)) && new.iter().any(|&e| !striped(e)));
    for e in new {
        assert_eq!(app.world().entity(e).contains::<Stripe>(), striped(e), "new ship {e}");
        app.world_mut().despawn(e);
    }

    for parallel in [false, true] {
        app.world_mut().run_schedule(FixedMain);
        take(&mut app);
        // Nothing changes but one ship of each half (no tick runs), outside the hot tables.
        let mut q = app.world_mut().query_filtered::<(Entity, &EntityId, Has<Stripe>), (With<Ship>, Without<Hot>)>();
        let mut pick = |striped: bool| q.iter(app.world()).find(|v| v.2 == striped).map(|(e, id, _)| (e, *id));
        let picked = [pick(false).expect("an even ship"), pick(true).expect("an odd ship")];
        for (e, _) in picked {
            app.world_mut().entity_mut(e).get_mut::<Cargo>().expect("cargo").set_changed();
        }
        app.world_mut().resource_mut::<PendingChanges>().last_collected =
            if parallel { PARALLEL_COLLECTION_MIN } else { 0 };
        let taken = take(&mut app);
        let want: BTreeSet<EntityId> = picked.iter().map(|p| p.1).collect();
        assert_eq!(ship_ids(&taken), want, "parallel={parallel}: both halves scanned, nothing else");
    }
}

#[test]
fn a_warmer_rests_when_told_and_is_stopped_when_dropped() {
    let warmer = Warmer::start();
    assert!(!warmer.waiting(), "asleep until woken");
    warmer.wake();
    assert!(warmer.waiting());
    warmer.rest();
    assert!(!warmer.waiting());
    // Woken and never told to rest: it gives up by itself, and stops when dropped.
    warmer.wake();
    let state = warmer.0.clone().expect("a thread");
    drop(warmer);
    assert!(state.stop.load(Ordering::Relaxed));
}

#[cfg(target_os = "linux")]
#[test]
fn a_thread_leaving_a_core_runs_on_the_others() {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    std::thread::spawn(|| {
        let allowed =
            |set: &CpuSet| (0..CpuSet::count()).filter(|c| set.is_set(*c).unwrap_or(false)).collect::<Vec<_>>();
        let before = allowed(&sched_getaffinity(Pid::from_raw(0)).expect("affinity"));
        let here = cpu::current().expect("the current core");
        cpu::leave(Some(here));
        let after = allowed(&sched_getaffinity(Pid::from_raw(0)).expect("affinity"));
        if before.len() > 1 {
            let want: Vec<usize> = before.iter().copied().filter(|c| *c != here).collect();
            assert_eq!(after, want, "every core but the one it left");
        } else {
            assert_eq!(after, before, "a thread with one core keeps it");
        }
    })
    .join()
    .expect("the thread");
}
