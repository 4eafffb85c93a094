//! A flood of random and malformed intents — unknown ids, other empires' things, NaN and
//! huge numbers — never panics the tick, every intent gets exactly one answer, and the
//! economy still balances.

mod common;

use bevy_ecs::message::Messages;
use common::*;
use glam::Vec2;
use rand_core::Rng;
use starforge_components::prelude::*;
use starforge_systems::prelude::*;
use starforge_systems::rng::{Purpose, below, stream};

fn weird_f32(rng: &mut impl Rng) -> f32 {
    match below(rng, 8) {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => -1e30,
        3 => 0.5,
        _ => (rng.next_u32() as f32 / u32::MAX as f32) * 4.0 - 2.0,
    }
}

fn weird_i64(rng: &mut impl Rng) -> i64 {
    match below(rng, 6) {
        0 => i64::MAX,
        1 => i64::MIN,
        2 => 0,
        3 => -5,
        _ => below(rng, 20_000) as i64,
    }
}

#[test]
fn random_and_malformed_intents_never_panic_and_each_gets_one_answer() {
    let mut app = sim_app(
        Tuning::default(),
        &GenParams { seed: 21, systems: Some(20), ships: Some(800), colonies: Some(40), resting_orders: 200 },
    );
    let a = player(&mut app, "Mallory", 4);
    let b = player(&mut app, "Victim", 4);
    let max_id = app.world().resource::<IdAllocator>().next;
    let (start, ledger0) = (holdings(&mut app), app.world().resource::<Ledger>().clone());
    let mut rng = stream(99, 0, 0, Purpose::Generation);
    // Our client refs start at 1 (NPC brains use 0).
    let mut pushed = 0u64;
    let (mut answered_ok, mut answered_err) = (0u64, 0u64);
    for t in 0..300u64 {
        for _ in 0..10 {
            // Mostly real ids (ours, theirs, NPCs'), sometimes garbage.
            let mut id = || {
                let pick = [a.fleet, b.fleet, a.colony, b.colony, a.ships[0], b.ships[0]];
                if below(&mut rng, 3) == 0 {
                    EntityId(rng.next_u64() % (max_id + 10))
                } else {
                    pick[below(&mut rng, 6) as usize]
                }
            };
            let (target, other) = (id(), id());
            let intent = match below(&mut rng, 9) {
                0 => Intent::Pilot { ship: target, thrust: weird_f32(&mut rng), turn: weird_f32(&mut rng), fire: true },
                1 => Intent::Fleet {
                    fleet: target,
                    order: FleetOrder::MoveTo {
                        point: Vec2::new(weird_f32(&mut rng) * 1e4, weird_f32(&mut rng) * 1e4),
                    },
                },
                2 => Intent::Fleet {
                    fleet: target,
                    order: FleetOrder::Jump { destination: SystemId(below(&mut rng, 40)) },
                },
                3 => Intent::Fleet { fleet: target, order: FleetOrder::Attack { target: other } },
                4 => Intent::Fleet {
                    fleet: target,
                    order: FleetOrder::Patrol {
                        points: (0..below(&mut rng, 12)).map(|_| Vec2::new(weird_f32(&mut rng) * 5e3, 0.0)).collect(),
                    },
                },
                5 => Intent::Build { colony: target, building: BuildingKind::ALL[below(&mut rng, 6) as usize] },
                6 => Intent::QueueShip {
                    colony: target,
                    class: ShipClass::ALL[below(&mut rng, 5) as usize],
                    fleet: Some(other),
                },
                7 => Intent::PlaceOrder {
                    resource: ResourceKind::ALL[below(&mut rng, 4) as usize],
                    side: if below(&mut rng, 2) == 0 { Side::Buy } else { Side::Sell },
                    price: weird_i64(&mut rng),
                    quantity: weird_i64(&mut rng),
                    expires_in: Some(rng.next_u32()),
                },
                _ => Intent::CancelOrder { order: target },
            };
            let issuer = if below(&mut rng, 10) == 0 { EntityId(rng.next_u64()) } else { a.empire };
            pushed += 1;
            push(&mut app, issuer, pushed, intent);
        }
        tick(&mut app, 1);
        // Count this tick's answers to our intents, then clear (no frame runs between ticks).
        let mut rej = app.world_mut().resource_mut::<Messages<IntentRejected>>();
        answered_err += rej.drain().filter(|m| m.client_ref != 0).count() as u64;
        let mut acc = app.world_mut().resource_mut::<Messages<IntentAccepted>>();
        answered_ok += acc.drain().filter(|m| m.client_ref != 0).count() as u64;
        assert_eq!(answered_ok + answered_err, pushed, "tick {t}: every intent gets exactly one answer");
    }
    assert!(answered_err > 0 && answered_ok > 0, "both outcomes expected: ok {answered_ok}, rejected {answered_err}");
    // Nothing negative (checked inside `holdings`) and the ledger still balances.
    let now = holdings(&mut app);
    let ledger = app.world().resource::<Ledger>().clone();
    for k in 0..5 {
        let expected =
            start[k] + (ledger.created[k] - ledger0.created[k]) - (ledger.destroyed[k] - ledger0.destroyed[k]);
        assert_eq!(now[k], expected, "kind {k}: held {} but the ledger says {expected}", now[k]);
    }
}
