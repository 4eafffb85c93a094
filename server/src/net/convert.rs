//! Mapping between protocol types (`starforge_shared::protocol`) and simulation types.

use glam::Vec2;
use starforge_components::prelude::*;
use starforge_shared::protocol as p;

/// The simulation class of a protocol ship class.
pub fn class_in(c: p::ShipClass) -> ShipClass {
    match c {
        p::ShipClass::Fighter => ShipClass::Fighter,
        p::ShipClass::Corvette => ShipClass::Corvette,
        p::ShipClass::Cruiser => ShipClass::Cruiser,
        p::ShipClass::Battleship => ShipClass::Battleship,
        p::ShipClass::Freighter => ShipClass::Freighter,
    }
}

/// The protocol class of a simulation ship class.
pub fn class_out(c: ShipClass) -> p::ShipClass {
    p::ShipClass::ALL[c.index()]
}

fn building_in(b: p::Building) -> BuildingKind {
    match b {
        p::Building::Mine => BuildingKind::Mine,
        p::Building::PowerPlant => BuildingKind::PowerPlant,
        p::Building::RareExtractor => BuildingKind::RareExtractor,
        p::Building::Habitat => BuildingKind::Habitat,
        p::Building::Shipyard => BuildingKind::Shipyard,
        p::Building::ResearchLab => BuildingKind::ResearchLab,
    }
}

fn building_out(b: BuildingKind) -> p::Building {
    match b {
        BuildingKind::Mine => p::Building::Mine,
        BuildingKind::PowerPlant => p::Building::PowerPlant,
        BuildingKind::RareExtractor => p::Building::RareExtractor,
        BuildingKind::Habitat => p::Building::Habitat,
        BuildingKind::Shipyard => p::Building::Shipyard,
        BuildingKind::ResearchLab => p::Building::ResearchLab,
    }
}

fn resource_in(r: p::Resource) -> ResourceKind {
    match r {
        p::Resource::Energy => ResourceKind::Energy,
        p::Resource::Minerals => ResourceKind::Minerals,
        p::Resource::RareElements => ResourceKind::RareElements,
    }
}

fn resource_out(r: ResourceKind) -> Option<p::Resource> {
    match r {
        ResourceKind::Energy => Some(p::Resource::Energy),
        ResourceKind::Minerals => Some(p::Resource::Minerals),
        ResourceKind::RareElements => Some(p::Resource::RareElements),
        ResourceKind::Population => None,
    }
}

/// The intent a command asks for.
pub fn command_intent(kind: p::CommandKind) -> Intent {
    let fleet = |fleet: u64, order| Intent::Fleet { fleet: EntityId(fleet), order };
    match kind {
        p::CommandKind::MoveTo { fleet: f, x, y } => fleet(f, FleetOrder::MoveTo { point: Vec2::new(x, y) }),
        p::CommandKind::Jump { fleet: f, system } => fleet(f, FleetOrder::Jump { destination: SystemId(system) }),
        p::CommandKind::Attack { fleet: f, target } => fleet(f, FleetOrder::Attack { target: EntityId(target) }),
        p::CommandKind::Patrol { fleet: f, points } => {
            fleet(f, FleetOrder::Patrol { points: points.into_iter().map(Vec2::from).collect() })
        }
        p::CommandKind::Stop { fleet: f } => fleet(f, FleetOrder::Stop),
        p::CommandKind::Build { colony, building } => {
            Intent::Build { colony: EntityId(colony), building: building_in(building) }
        }
        p::CommandKind::Upgrade { colony, building } => {
            Intent::Upgrade { colony: EntityId(colony), building: building_in(building) }
        }
        p::CommandKind::QueueShip { colony, class, fleet } => {
            Intent::QueueShip { colony: EntityId(colony), class: class_in(class), fleet: fleet.map(EntityId) }
        }
        p::CommandKind::PlaceOrder { resource, side, price, quantity, expires_in } => Intent::PlaceOrder {
            resource: resource_in(resource),
            side: match side {
                p::Side::Buy => Side::Buy,
                p::Side::Sell => Side::Sell,
            },
            price,
            quantity,
            expires_in,
        },
        p::CommandKind::CancelOrder { order } => Intent::CancelOrder { order: EntityId(order) },
    }
}

/// A combat report as the protocol event.
pub fn combat_event(r: &CombatReport) -> p::GameEvent {
    p::GameEvent::CombatReport {
        system: r.system.0,
        started: r.started,
        ended: r.ended,
        participants: r.participants.iter().map(|e| e.0).collect(),
        shots: r.shots,
        losses: r.losses.iter().map(|(e, n)| (e.0, *n)).collect(),
        victor: r.victor.map(|e| e.0),
    }
}

/// The fill event for one side of a trade (`None` for an untradeable resource).
pub fn trade_event(t: &TradeExecuted, side: Side) -> Option<p::GameEvent> {
    let (order, side, fee) = match side {
        Side::Buy => (t.buy_order, p::Side::Buy, 0),
        Side::Sell => (t.sell_order, p::Side::Sell, t.fee),
    };
    Some(p::GameEvent::TradeFill {
        order: order.0,
        resource: resource_out(t.resource)?,
        side,
        price: t.price,
        quantity: t.quantity,
        fee,
    })
}

/// A finished construction as the protocol event.
pub fn construction_event(c: &ConstructionCompleted) -> p::GameEvent {
    p::GameEvent::ConstructionDone { colony: c.colony.0, building: building_out(c.building), level: c.level }
}

/// A launched ship as the protocol event.
pub fn ship_built_event(s: &ShipBuilt) -> p::GameEvent {
    p::GameEvent::ShipBuilt { ship: s.ship.0, fleet: s.fleet.0, colony: s.colony.0, class: class_out(s.class) }
}

/// A lost ship as the protocol event.
pub fn ship_lost_event(s: &ShipDestroyed) -> p::GameEvent {
    p::GameEvent::ShipLost { ship: s.ship.0, by: s.by.0, system: s.system.0 }
}

/// The static galaxy for the welcome message.
pub fn galaxy_info(g: &Galaxy) -> p::GalaxyInfo {
    p::GalaxyInfo {
        systems: g
            .systems
            .iter()
            .map(|s| p::SystemInfo {
                id: s.id.0,
                name: s.name.clone(),
                map_x: s.map_pos.x,
                map_y: s.map_pos.y,
                radius: s.radius,
                planets: s.planets.iter().map(|pl| [pl.pos.x, pl.pos.y, pl.radius]).collect(),
            })
            .collect(),
        lanes: g.lanes.iter().map(|l| [l.a.0, l.b.0]).collect(),
    }
}
