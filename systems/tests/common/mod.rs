//! Shared helpers for the systems tests: a minimal headless app that runs ticks directly.

#![allow(dead_code, reason = "each test file uses a different subset")]

use bevy_app::FixedMain;
use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;
use starforge_systems::prelude::*;

/// An app with the whole simulation and a generated world.
pub fn sim_app(tuning: Tuning, params: &GenParams) -> App {
    let mut app = App::new();
    app.insert_resource(tuning);
    app.add_plugins(SimulationPlugin);
    app.finish();
    app.cleanup();
    generate_world(app.world_mut(), params);
    app
}

/// An app with the whole simulation and an empty galaxy (tests build what they need).
pub fn empty_app(tuning: Tuning) -> App {
    let mut app = App::new();
    app.insert_resource(tuning);
    app.add_plugins(SimulationPlugin);
    app.finish();
    app.cleanup();
    app
}

/// Runs `n` fixed ticks.
pub fn tick(app: &mut App, n: u32) {
    for _ in 0..n {
        app.world_mut().run_schedule(FixedMain);
    }
}

/// Queues an intent for the next tick.
pub fn push(app: &mut App, empire: EntityId, client_ref: u64, intent: Intent) {
    app.world_mut().resource_mut::<IntentQueue>().0.push(QueuedIntent { empire, client_ref, intent });
}

/// Messages of type `M` written since the last call for this reader.
pub fn drain<M: Message + Clone>(app: &mut App) -> Vec<M> {
    let mut cursor = app.world_mut().resource_mut::<Messages<M>>().get_cursor();
    let messages = app.world().resource::<Messages<M>>();
    cursor.read(messages).cloned().collect()
}

/// A player's starting empire placed in system 0 of the current galaxy.
pub struct PlayerSetup {
    /// The empire (= player id).
    pub empire: EntityId,
    /// Its home colony (with a shipyard).
    pub colony: EntityId,
    /// Its fleet.
    pub fleet: EntityId,
    /// The fleet's ships.
    pub ships: Vec<EntityId>,
}

/// Spawns a player empire with a colony and a fleet of `n` corvettes in system 0.
pub fn player(app: &mut App, name: &str, n: u32) -> PlayerSetup {
    use starforge_systems::spawn::*;
    let world = app.world_mut();
    let mut stock = ResourceAmounts::default();
    for r in ResourceKind::TRADED {
        *stock.get_mut(r) = 10_000 * MILLI;
    }
    let empire = spawn_empire(world, name, EmpireKind::Player, 100_000 * MILLI, stock);
    let mut b = Buildings::default();
    b.0[BuildingKind::Shipyard.index()] = 1;
    b.0[BuildingKind::Mine.index()] = 1;
    let colony = spawn_colony(world, empire, format!("{name} Prime"), SystemId(0), 0, 1000 * MILLI, b);
    let fleet = spawn_fleet(world, empire, None);
    let ships = (0..n)
        .map(|i| {
            let pos = Position { system: SystemId(0), local: glam::Vec2::new(i as f32 * 50.0, 0.0) };
            spawn_ship(world, ShipClass::Corvette, empire, fleet, pos, 0.0)
        })
        .collect();
    PlayerSetup { empire, colony, fleet, ships }
}

/// The live entity of `id`.
pub fn entity(app: &App, id: EntityId) -> Entity {
    app.world().resource::<EntityIndex>().get(id).expect("entity exists")
}

/// A component of the entity with `id`.
pub fn get<T: Component + Clone>(app: &App, id: EntityId) -> Option<T> {
    let e = app.world().resource::<EntityIndex>().get(id)?;
    app.world().get::<T>(e).cloned()
}

/// Everything held, per ledger kind: empires' credits and stockpiles, escrow in open orders,
/// ship cargo.
pub fn holdings(app: &mut App) -> [i64; 5] {
    let world = app.world_mut();
    let mut held = [0i64; 5];
    let mut empires = world.query::<(&Credits, &Stockpile)>();
    for (c, s) in empires.iter(world) {
        assert!(c.0 >= 0, "negative credits: {c:?}");
        held[Ledger::CREDITS] += c.0;
        for r in ResourceKind::ALL {
            assert!(s.0.get(r) >= 0, "negative {r:?}: {s:?}");
            held[Ledger::resource(r)] += s.0.get(r);
        }
    }
    let mut cargo = world.query::<&Cargo>();
    for c in cargo.iter(world) {
        for r in ResourceKind::ALL {
            held[Ledger::resource(r)] += c.0.get(r);
        }
    }
    for o in world.resource::<Market>().orders_sorted() {
        held[Ledger::CREDITS] += o.escrow_credits();
        held[Ledger::resource(o.resource)] += o.escrow_goods();
    }
    held
}
