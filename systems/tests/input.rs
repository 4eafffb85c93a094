//! Intents: applied when valid; rejected with a reason, changing nothing, when not.

mod common;

use bevy_ecs::system::RunSystemOnce;
use common::*;
use glam::Vec2;
use starforge_components::prelude::*;
use starforge_systems::prelude::*;

fn world() -> (bevy_app::App, PlayerSetup, PlayerSetup) {
    let mut app = sim_app(
        Tuning::default(),
        &GenParams { seed: 3, systems: Some(12), ships: Some(0), colonies: Some(0), resting_orders: 0 },
    );
    let a = player(&mut app, "Alice", 3);
    let b = player(&mut app, "Bob", 2);
    (app, a, b)
}

fn reject(app: &mut bevy_app::App, empire: EntityId, intent: Intent) -> RejectReason {
    let hash_before = economy_and_orders(app);
    app.world_mut().resource_mut::<bevy_ecs::message::Messages<IntentRejected>>().clear();
    push(app, empire, 77, intent.clone());
    // Only the Input step, so production and NPCs do not change the economy meanwhile.
    app.world_mut().run_system_once(starforge_systems::input::apply_intents).expect("input runs");
    let rejected = drain::<IntentRejected>(app);
    assert_eq!(rejected.len(), 1, "exactly one rejection expected for {intent:?}, got {rejected:?}");
    assert_eq!(rejected[0].client_ref, 77, "the rejection carries the client's reference");
    assert_eq!(economy_and_orders(app), hash_before, "a rejected intent must change nothing: {intent:?}");
    assert!(!rejected[0].reason.to_string().is_empty());
    rejected[0].reason.clone()
}

/// Credits, stockpiles, queues and orders of every empire (what an intent could change).
fn economy_and_orders(app: &mut bevy_app::App) -> Vec<String> {
    let world = app.world_mut();
    let mut q = world.query::<(
        &EntityId,
        Option<&Credits>,
        Option<&Stockpile>,
        Option<&ConstructionQueue>,
        Option<&ShipyardQueue>,
        Option<&ShipOrder>,
    )>();
    let mut rows: Vec<String> = q.iter(world).map(|r| format!("{r:?}")).collect();
    rows.sort();
    rows.push(format!("{}", world.resource::<Market>().resting()));
    rows
}

#[test]
fn invalid_intents_are_rejected_with_reasons_and_change_nothing() {
    let (mut app, a, b) = world();
    tick(&mut app, 1);
    drain::<IntentRejected>(&mut app);
    let far = SystemId(9999);
    assert_eq!(
        reject(&mut app, EntityId(424242), Intent::Fleet { fleet: a.fleet, order: FleetOrder::Stop }),
        RejectReason::UnknownEmpire
    );
    assert_eq!(
        reject(&mut app, a.empire, Intent::Fleet { fleet: b.fleet, order: FleetOrder::Stop }),
        RejectReason::NotOwner { what: "fleet" }
    );
    assert_eq!(
        reject(&mut app, a.empire, Intent::Pilot { ship: b.ships[0], thrust: 1.0, turn: 0.0, fire: false }),
        RejectReason::NotOwner { what: "ship" }
    );
    assert!(matches!(
        reject(&mut app, a.empire, Intent::Pilot { ship: a.ships[0], thrust: f32::NAN, turn: 0.0, fire: false }),
        RejectReason::InvalidValue { field: "thrust", .. }
    ));
    assert!(matches!(
        reject(&mut app, a.empire, Intent::Pilot { ship: a.ships[0], thrust: 0.0, turn: 7.0, fire: false }),
        RejectReason::InvalidValue { field: "turn", .. }
    ));
    assert_eq!(
        reject(&mut app, a.empire, Intent::Pilot { ship: EntityId(999_999), thrust: 0.0, turn: 0.0, fire: false }),
        RejectReason::NotFound { what: "ship", id: 999_999 }
    );
    assert!(matches!(
        reject(
            &mut app,
            a.empire,
            Intent::Fleet { fleet: a.fleet, order: FleetOrder::MoveTo { point: Vec2::new(1e9, 0.0) } }
        ),
        RejectReason::InvalidValue { field: "point", .. }
    ));
    assert!(matches!(
        reject(
            &mut app,
            a.empire,
            Intent::Fleet { fleet: a.fleet, order: FleetOrder::Patrol { points: vec![Vec2::ZERO] } }
        ),
        RejectReason::InvalidValue { field: "points", .. }
    ));
    assert_eq!(
        reject(&mut app, a.empire, Intent::Fleet { fleet: a.fleet, order: FleetOrder::Jump { destination: far } }),
        RejectReason::NotFound { what: "system", id: 9999 }
    );
    assert!(matches!(
        reject(&mut app, a.empire, Intent::Fleet { fleet: a.fleet, order: FleetOrder::Attack { target: a.ships[1] } }),
        RejectReason::InvalidValue { field: "target", .. }
    ));
    assert_eq!(
        reject(&mut app, a.empire, Intent::Build { colony: b.colony, building: BuildingKind::Mine }),
        RejectReason::NotOwner { what: "colony" }
    );
    assert_eq!(
        reject(&mut app, a.empire, Intent::Build { colony: a.colony, building: BuildingKind::Mine }),
        RejectReason::AlreadyBuilt
    );
    assert_eq!(
        reject(&mut app, a.empire, Intent::Upgrade { colony: a.colony, building: BuildingKind::Habitat }),
        RejectReason::NotBuilt
    );
    assert_eq!(
        reject(
            &mut app,
            a.empire,
            Intent::QueueShip { colony: a.colony, class: ShipClass::Fighter, fleet: Some(b.fleet) }
        ),
        RejectReason::NotOwner { what: "fleet" }
    );
    assert_eq!(
        reject(&mut app, a.empire, Intent::CancelOrder { order: EntityId(123_456) }),
        RejectReason::NotFound { what: "order", id: 123_456 }
    );
    assert_eq!(
        reject(
            &mut app,
            a.empire,
            Intent::PlaceOrder {
                resource: ResourceKind::Population,
                side: Side::Buy,
                price: 1000,
                quantity: 1,
                expires_in: None
            }
        ),
        RejectReason::NotTraded
    );
    // Affordability: a battleship costs 2000 credits; drain the credits first.
    let e = entity(&app, a.empire);
    app.world_mut().get_mut::<Credits>(e).expect("credits").0 = 10 * MILLI;
    assert!(matches!(
        reject(&mut app, a.empire, Intent::QueueShip { colony: a.colony, class: ShipClass::Battleship, fleet: None }),
        RejectReason::CannotAfford { what: "credits", .. }
    ));
    assert!(matches!(
        reject(
            &mut app,
            a.empire,
            Intent::PlaceOrder {
                resource: ResourceKind::Energy,
                side: Side::Buy,
                price: 1_000_000,
                quantity: 100,
                expires_in: None
            }
        ),
        RejectReason::CannotAfford { .. }
    ));
}

#[test]
fn valid_intents_apply_and_pay() {
    let (mut app, a, b) = world();
    tick(&mut app, 1);
    let credits_before = get::<Credits>(&app, a.empire).expect("credits").0;
    push(
        &mut app,
        a.empire,
        1,
        Intent::Fleet { fleet: a.fleet, order: FleetOrder::MoveTo { point: Vec2::new(500.0, 500.0) } },
    );
    push(&mut app, a.empire, 2, Intent::Build { colony: a.colony, building: BuildingKind::PowerPlant });
    push(
        &mut app,
        a.empire,
        3,
        Intent::QueueShip { colony: a.colony, class: ShipClass::Fighter, fleet: Some(a.fleet) },
    );
    tick(&mut app, 1);
    assert!(drain::<IntentRejected>(&mut app).is_empty(), "valid intents must not be rejected");
    let accepted: Vec<u64> =
        drain::<IntentAccepted>(&mut app).iter().filter(|m| m.empire == a.empire).map(|m| m.client_ref).collect();
    assert_eq!(accepted, vec![1, 2, 3], "each valid intent is acknowledged in order");
    assert!(matches!(get::<ShipOrder>(&app, a.ships[0]), Some(ShipOrder::MoveTo(_))), "fleet order reaches its ships");
    assert_eq!(get::<ConstructionQueue>(&app, a.colony).expect("queue").0.len(), 1);
    assert_eq!(get::<ShipyardQueue>(&app, a.colony).expect("yard").0.len(), 1);
    let t = Tuning::default();
    let paid = credits_before - get::<Credits>(&app, a.empire).expect("credits").0;
    let expected =
        ((t.economy.buildings.power_plant.cost.credits + t.class(ShipClass::Fighter).cost.credits) * 1000.0) as i64;
    // Taxes of one tick come in as well; they are tiny next to the costs.
    assert!((paid - expected).abs() < 1000, "paid {paid} milli-credits, costs are {expected}");
    // Attacking another empire's ship in the same system is allowed.
    push(&mut app, a.empire, 4, Intent::Fleet { fleet: a.fleet, order: FleetOrder::Attack { target: b.ships[0] } });
    tick(&mut app, 1);
    assert!(drain::<IntentRejected>(&mut app).is_empty());
    assert_eq!(get::<ShipOrder>(&app, a.ships[1]), Some(ShipOrder::Attack(b.ships[0])));
}

#[test]
fn market_orders_place_and_cancel_through_intents_with_escrow() {
    let (mut app, a, _) = world();
    tick(&mut app, 1);
    let credits0 = get::<Credits>(&app, a.empire).expect("credits").0;
    push(
        &mut app,
        a.empire,
        9,
        Intent::PlaceOrder {
            resource: ResourceKind::Energy,
            side: Side::Buy,
            price: 5_000,
            quantity: 10,
            expires_in: Some(100),
        },
    );
    tick(&mut app, 1);
    let placed = drain::<IntentAccepted>(&mut app).into_iter().find(|m| m.client_ref == 9).expect("accepted");
    let order = placed.created.expect("the order id is returned");
    let escrowed = credits0 - get::<Credits>(&app, a.empire).expect("credits").0;
    assert!((49_000..=50_000).contains(&escrowed), "price × quantity escrowed (less a tick of taxes): {escrowed}");
    push(&mut app, a.empire, 10, Intent::CancelOrder { order });
    tick(&mut app, 1);
    let closed: Vec<OrderClosed> = drain::<OrderClosed>(&mut app).into_iter().filter(|c| c.order == order).collect();
    assert_eq!(closed.len(), 1, "one close event: {closed:?}");
    assert_eq!(closed[0].why, OrderCloseReason::Cancelled);
    assert!(get::<Credits>(&app, a.empire).expect("credits").0 >= credits0, "escrow refunded");
}

#[test]
fn pilot_input_steers_then_lapses_when_the_client_goes_quiet() {
    // Alone in the galaxy (two players in one system would fight).
    let mut app = sim_app(
        Tuning::default(),
        &GenParams { seed: 3, systems: Some(12), ships: Some(0), colonies: Some(0), resting_orders: 0 },
    );
    let a = player(&mut app, "Solo", 1);
    tick(&mut app, 1);
    let start = get::<Position>(&app, a.ships[0]).expect("pos").local;
    push(&mut app, a.empire, 1, Intent::Pilot { ship: a.ships[0], thrust: 1.0, turn: 0.2, fire: false });
    tick(&mut app, 1);
    assert!(matches!(get::<ShipOrder>(&app, a.ships[0]), Some(ShipOrder::Manual { .. })), "pilot input applies");
    tick(&mut app, starforge_systems::input::PILOT_INPUT_TICKS as u32);
    assert_eq!(get::<ShipOrder>(&app, a.ships[0]), Some(ShipOrder::Idle), "without new input the ship holds position");
    let moved = get::<Position>(&app, a.ships[0]).expect("pos").local.distance(start);
    assert!(moved > 10.0, "it flew while piloted: {moved} m");
    tick(&mut app, 400);
    assert_eq!(get::<Motion>(&app, a.ships[0]).expect("motion").vel, Vec2::ZERO, "and then braked to a halt");
}

#[test]
fn an_attack_order_on_a_neutral_ship_is_carried_out() {
    use starforge_systems::spawn::*;
    let (mut app, a, _) = world();
    // A lone trader next to Alice's fleet: nobody would fight here unprovoked.
    let world = app.world_mut();
    let trader =
        spawn_empire(world, "Neutral Hauler", EmpireKind::Npc(Faction::Traders), 0, ResourceAmounts::default());
    let tf = spawn_fleet(world, trader, None);
    let victim = spawn_ship(
        world,
        ShipClass::Freighter,
        trader,
        tf,
        Position { system: SystemId(0), local: Vec2::new(400.0, 300.0) },
        0.0,
    );
    tick(&mut app, 50);
    assert!(drain::<ShipDestroyed>(&mut app).is_empty(), "no unprovoked fight between a player and a trader");
    push(&mut app, a.empire, 1, Intent::Fleet { fleet: a.fleet, order: FleetOrder::Attack { target: victim } });
    tick(&mut app, 2000);
    let destroyed = drain::<ShipDestroyed>(&mut app);
    assert!(
        destroyed.iter().any(|d| d.ship == victim && d.by == a.empire),
        "the ordered attack destroys the freighter: {destroyed:?}"
    );
}
