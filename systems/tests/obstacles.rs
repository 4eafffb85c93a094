//! Ship–planet contacts: ships never end a tick inside a planet, far ships are untouched,
//! and the resolution is deterministic.

mod common;

use common::*;
use glam::Vec2;
use starforge_components::prelude::*;
use starforge_systems::obstacles::ObstacleWorld;
use starforge_systems::prelude::*;
use starforge_systems::spawn::{spawn_empire, spawn_fleet, spawn_ship};

const PLANET: Vec2 = Vec2::new(0.0, 0.0);
const PLANET_RADIUS: f32 = 1000.0;

fn galaxy(planets: Vec<Planet>) -> Galaxy {
    Galaxy {
        systems: vec![StarSystem {
            id: SystemId(0),
            name: "Test".into(),
            map_pos: Vec2::ZERO,
            region: Region::Core,
            radius: 20_000.0,
            planets,
            lanes: vec![],
        }],
        lanes: vec![],
    }
}

fn one_planet() -> Vec<Planet> {
    vec![Planet { pos: PLANET, radius: PLANET_RADIUS }]
}

/// An app with one system holding `planets` and one player empire; returns the app and a
/// spawner for that empire's ships.
fn app_with(planets: Vec<Planet>) -> (bevy_app::App, EntityId, EntityId) {
    let mut app = empty_app(Tuning::default());
    app.world_mut().insert_resource(galaxy(planets));
    let world = app.world_mut();
    let empire = spawn_empire(world, "Tester", EmpireKind::Player, 0, ResourceAmounts::default());
    let fleet = spawn_fleet(world, empire, None);
    (app, empire, fleet)
}

fn ship(
    app: &mut bevy_app::App,
    empire: EntityId,
    fleet: EntityId,
    class: ShipClass,
    at: Vec2,
    heading: f32,
    order: ShipOrder,
) -> bevy_ecs::entity::Entity {
    let world = app.world_mut();
    let id = spawn_ship(world, class, empire, fleet, Position { system: SystemId(0), local: at }, heading);
    let e = world.resource::<EntityIndex>().get(id).expect("spawned");
    *world.get_mut::<ShipOrder>(e).expect("ship has an order") = order;
    e
}

fn pos(app: &bevy_app::App, e: bevy_ecs::entity::Entity) -> Vec2 {
    app.world().get::<Position>(e).expect("ship").local
}

#[test]
fn move_to_behind_a_planet_never_ends_a_tick_inside_slides_round_it_or_stops_at_the_surface() {
    for (class, goal) in [
        (ShipClass::Fighter, Vec2::new(3000.0, 0.0)), // dead behind the centre
        (ShipClass::Cruiser, Vec2::new(3000.0, 0.0)),
        (ShipClass::Fighter, Vec2::new(3000.0, 400.0)), // behind, off-centre
        (ShipClass::Battleship, Vec2::new(2500.0, -300.0)),
        (ShipClass::Corvette, Vec2::new(500.0, 0.0)), // inside the planet
    ] {
        let (mut app, empire, fleet) = app_with(one_planet());
        let e = ship(&mut app, empire, fleet, class, Vec2::new(-3000.0, 0.0), 0.0, ShipOrder::MoveTo(goal));
        let mut touched = false;
        let mut last = pos(&app, e);
        for t in 0..6000 {
            tick(&mut app, 1);
            let p = pos(&app, e);
            let d = p.distance(PLANET);
            assert!(d >= PLANET_RADIUS, "{class:?}→{goal}: tick {t}: inside the planet at {p} ({d} m from the centre)");
            assert!(!app.world().resource::<ObstacleWorld>().contains(&Position { system: SystemId(0), local: p }));
            touched |= d < PLANET_RADIUS + 1.0;
            last = p;
            if *app.world().get::<ShipOrder>(e).expect("ship") == ShipOrder::Idle {
                break;
            }
        }
        assert!(touched, "{class:?}→{goal}: the planet is in the way; the ship must have touched it");
        let idle = *app.world().get::<ShipOrder>(e).expect("ship") == ShipOrder::Idle;
        let speed = app.world().get::<Motion>(e).expect("ship").vel.length();
        if goal.distance(PLANET) > PLANET_RADIUS {
            // Behind the planet: the ship slides round it and gets there.
            assert!(
                idle && last.distance(goal) <= 25.0,
                "{class:?}→{goal}: did not get round the planet; ended at {last}"
            );
        } else {
            // Inside the planet: it stops at the surface, as close as it gets.
            let at_surface = (last.distance(PLANET) - PLANET_RADIUS).abs() < 1.0;
            assert!(
                idle && at_surface && speed < 1.0,
                "{class:?}→{goal}: should stop at the surface: {last}, {speed} m/s"
            );
        }
    }
}

#[test]
fn a_ship_far_from_planets_is_bit_identical_to_a_galaxy_without_planets() {
    let patrol =
        || ShipOrder::patrol(vec![Vec2::new(-9000.0, 8000.0), Vec2::new(-4000.0, 9000.0), Vec2::new(-8000.0, 3000.0)]);
    let (mut with, ew, fw) = app_with(one_planet());
    let (mut without, eo, fo) = app_with(vec![]);
    let a = ship(&mut with, ew, fw, ShipClass::Fighter, Vec2::new(-6000.0, 6000.0), 0.3, patrol());
    let b = ship(&mut without, eo, fo, ShipClass::Fighter, Vec2::new(-6000.0, 6000.0), 0.3, patrol());
    // A control ship flying into the planet, so the obstacle system does work in `with`.
    let ca = ship(
        &mut with,
        ew,
        fw,
        ShipClass::Fighter,
        Vec2::new(-2000.0, 0.0),
        0.0,
        ShipOrder::MoveTo(Vec2::new(2000.0, 0.0)),
    );
    let cb = ship(
        &mut without,
        eo,
        fo,
        ShipClass::Fighter,
        Vec2::new(-2000.0, 0.0),
        0.0,
        ShipOrder::MoveTo(Vec2::new(2000.0, 0.0)),
    );
    let mut control_flew_through = false;
    for t in 0..1500 {
        tick(&mut with, 1);
        tick(&mut without, 1);
        let (pa, pb) = (pos(&with, a), pos(&without, b));
        assert_eq!(pa.to_array().map(f32::to_bits), pb.to_array().map(f32::to_bits), "tick {t}: {pa} vs {pb}");
        let (ma, mb) =
            (*with.world().get::<Motion>(a).expect("ship"), *without.world().get::<Motion>(b).expect("ship"));
        assert_eq!(ma, mb, "tick {t}");
        assert!(pos(&with, ca).distance(PLANET) >= PLANET_RADIUS, "tick {t}: control ship inside the planet");
        control_flew_through |= pos(&without, cb).distance(PLANET) < PLANET_RADIUS;
    }
    assert!(control_flew_through, "control: without planets the ship flies through");
}

/// Many ships from all directions into three planets (two overlapping); returns the world hash
/// after `ticks`.
fn crowd_run(ticks: u32) -> (u64, Vec<Vec2>) {
    let planets = vec![
        Planet { pos: Vec2::new(0.0, 0.0), radius: 1000.0 },
        Planet { pos: Vec2::new(1600.0, 300.0), radius: 800.0 },
        Planet { pos: Vec2::new(-6000.0, 2000.0), radius: 400.0 },
    ];
    let (mut app, empire, fleet) = app_with(planets.clone());
    let mut ships = Vec::new();
    for i in 0..300 {
        let a = i as f32 * 0.37;
        let from = Vec2::from_angle(a) * (3000.0 + (i % 7) as f32 * 900.0);
        let to = -from + Vec2::new((i % 5) as f32 * 150.0, (i % 3) as f32 * 200.0);
        let class = ShipClass::ALL[i % ShipClass::ALL.len()];
        ships.push(ship(&mut app, empire, fleet, class, from, a + 3.0, ShipOrder::MoveTo(to)));
    }
    for _ in 0..ticks {
        tick(&mut app, 1);
        for &e in &ships {
            let p = pos(&app, e);
            for pl in &planets {
                assert!(p.distance(pl.pos) >= pl.radius, "inside a planet at {p}");
            }
        }
    }
    let positions = ships.iter().map(|&e| pos(&app, e)).collect();
    (world_hash(app.world_mut()), positions)
}

#[test]
fn contact_resolution_is_deterministic() {
    let (h1, p1) = crowd_run(800);
    let (h2, p2) = crowd_run(800);
    assert_eq!(p1, p2);
    assert_eq!(h1, h2, "same inputs, same world");
}

#[test]
fn generated_worlds_are_deterministic_and_no_moving_ship_ends_inside_a_planet() {
    let run = || {
        let mut app = sim_app(
            Tuning::default(),
            &GenParams { seed: 11, systems: Some(20), ships: Some(1500), colonies: Some(40), resting_orders: 100 },
        );
        tick(&mut app, 400);
        let mut q = app.world_mut().query_filtered::<&Position, bevy_ecs::query::Without<Transit>>();
        let inside = q.iter(app.world()).filter(|p| app.world().resource::<ObstacleWorld>().contains(p)).count();
        (world_hash(app.world_mut()), inside)
    };
    let (h1, inside) = run();
    assert_eq!(inside, 0, "ships inside planets after 400 ticks");
    assert_eq!(h1, run().0);
}
