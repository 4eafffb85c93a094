//! The galaxy map: star systems, regions, planets and hyperlanes.

use glam::Vec2;
use serde::{Deserialize, Serialize};

use crate::ids::SystemId;

/// A region of the galaxy; its resource modifiers come from tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Region {
    /// The densely settled centre: energy rich, mineral poor.
    Core,
    /// Balanced middle ring.
    MidRim,
    /// Frontier: minerals and rare elements.
    OuterRim,
    /// The far edge: rare elements, little energy.
    DeepSpace,
}

impl Region {
    /// All regions, in a fixed order (the index used by tuning tables).
    pub const ALL: [Region; 4] = [Region::Core, Region::MidRim, Region::OuterRim, Region::DeepSpace];

    /// Index into per-region tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A planet: a static circular obstacle inside a system, and a place for a colony.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Planet {
    /// Position in the system's local space (metres).
    pub pos: Vec2,
    /// Radius (metres).
    pub radius: f32,
}

/// One star system: its own 2D space for free flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StarSystem {
    /// Its id (equals its index in [`Galaxy::systems`]).
    pub id: SystemId,
    /// Display name.
    pub name: String,
    /// Position on the galaxy map (light years, arbitrary units).
    pub map_pos: Vec2,
    /// Region, for resource modifiers.
    pub region: Region,
    /// Radius of the flyable space (metres); ships are kept inside.
    pub radius: f32,
    /// Planets in this system.
    pub planets: Vec<Planet>,
    /// Hyperlanes leaving this system (indices into [`Galaxy::lanes`]), sorted.
    pub lanes: Vec<u32>,
}

/// A hyperlane between two systems. Jumping takes ticks in proportion to `length`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyperlane {
    /// One end (the lower id).
    pub a: SystemId,
    /// The other end.
    pub b: SystemId,
    /// Length on the galaxy map.
    pub length: f32,
}

impl Hyperlane {
    /// The end that is not `from`, or `None` if `from` is not an end of this lane.
    pub fn other(&self, from: SystemId) -> Option<SystemId> {
        if from == self.a {
            Some(self.b)
        } else if from == self.b {
            Some(self.a)
        } else {
            None
        }
    }
}

/// The whole galaxy map. Immutable after generation.
#[derive(bevy_ecs::resource::Resource, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Galaxy {
    /// Star systems, indexed by [`SystemId`].
    pub systems: Vec<StarSystem>,
    /// Hyperlanes.
    pub lanes: Vec<Hyperlane>,
}

impl Galaxy {
    /// The system with this id, if it exists.
    pub fn system(&self, id: SystemId) -> Option<&StarSystem> {
        self.systems.get(id.0 as usize)
    }

    /// The lane joining `a` and `b` directly, if any.
    pub fn lane_between(&self, a: SystemId, b: SystemId) -> Option<(u32, &Hyperlane)> {
        let sys = self.system(a)?;
        sys.lanes.iter().find_map(|&l| {
            let lane = &self.lanes[l as usize];
            (lane.other(a) == Some(b)).then_some((l, lane))
        })
    }

    /// Neighbouring systems of `id`, in lane order.
    pub fn neighbours(&self, id: SystemId) -> impl Iterator<Item = SystemId> + '_ {
        self.system(id)
            .into_iter()
            .flat_map(move |s| s.lanes.iter().filter_map(move |&l| self.lanes[l as usize].other(id)))
    }

    /// Where in system `from`'s local space the gate towards `to` sits (on the rim, in the
    /// direction of `to` on the galaxy map).
    pub fn gate_position(&self, from: SystemId, to: SystemId) -> Vec2 {
        match (self.system(from), self.system(to)) {
            (Some(f), Some(t)) => {
                let dir = (t.map_pos - f.map_pos).normalize_or(Vec2::X);
                dir * f.radius * 0.9
            }
            _ => Vec2::ZERO,
        }
    }
}
