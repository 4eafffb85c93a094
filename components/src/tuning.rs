//! Designer tuning: every number a designer tunes, loaded from the RON files in `tuning/`.
//!
//! One struct per file. [`Tuning`] is the ECS resource holding all of them. Field units are
//! documented here and in `docs/TUNING.md`; ranges are enforced by validation.

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

use crate::colony::BuildingKind;
use crate::empire::ResourceKind;
use crate::galaxy::Region;
use crate::ship::ShipClass;

/// A price in credits and resources (whole units, as designers write them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cost {
    /// Credits.
    #[serde(default)]
    pub credits: f64,
    /// Energy units.
    #[serde(default)]
    pub energy: f64,
    /// Mineral units.
    #[serde(default)]
    pub minerals: f64,
    /// Rare element units.
    #[serde(default)]
    pub rare_elements: f64,
}

/// Stats of one ship class (`tuning/ships.ron`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipClassStats {
    /// Hull points.
    pub hull: f32,
    /// Armor: flat damage removed from every hit.
    pub armor: f32,
    /// Damage per shot before armor and multipliers.
    pub damage: f32,
    /// Weapon range (metres).
    pub range: f32,
    /// Ticks between shots.
    pub cooldown_ticks: u32,
    /// Top speed (m/s).
    pub max_speed: f32,
    /// Acceleration (m/s²).
    pub acceleration: f32,
    /// Turn rate (radians/s).
    pub turn_rate: f32,
    /// Cargo capacity (units).
    pub cargo: f64,
    /// Threat: how much targeting prefers this class (higher = shot first).
    pub threat: f32,
    /// Build cost.
    pub cost: Cost,
    /// Ticks to build.
    pub build_ticks: u32,
    /// Energy upkeep per tick (units).
    pub upkeep_energy: f64,
}

/// One value per ship class, as a RON struct with named fields.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerClass<T> {
    /// Fighter.
    pub fighter: T,
    /// Corvette.
    pub corvette: T,
    /// Cruiser.
    pub cruiser: T,
    /// Battleship.
    pub battleship: T,
    /// Freighter.
    pub freighter: T,
}

impl<T> PerClass<T> {
    /// The value for `class`.
    pub fn get(&self, class: ShipClass) -> &T {
        match class {
            ShipClass::Fighter => &self.fighter,
            ShipClass::Corvette => &self.corvette,
            ShipClass::Cruiser => &self.cruiser,
            ShipClass::Battleship => &self.battleship,
            ShipClass::Freighter => &self.freighter,
        }
    }
}

/// `tuning/ships.ron`: ship classes, class-vs-class damage, combat rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipsTuning {
    /// Stats per class.
    pub classes: PerClass<ShipClassStats>,
    /// `multipliers.<attacker>.<defender>`: damage multiplier (rock-paper-scissors).
    pub multipliers: PerClass<PerClass<f32>>,
    /// Combat rules.
    pub combat: CombatTuning,
}

/// Combat rules (inside `ships.ron`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CombatTuning {
    /// Damage varies uniformly in `[1 − variance, 1 + variance]`; 0 to 1.
    pub variance: f32,
    /// A hit always does at least this fraction of its damage through armor; 0 to 1.
    pub min_damage_fraction: f32,
    /// Fraction of a destroyed ship's mineral and rare-element cost given to the killer as salvage; 0 to 1.
    pub salvage_fraction: f64,
    /// An engagement ends (and its report is sent) after this many ticks without a shot.
    pub engagement_timeout_ticks: u32,
    /// A ship without a target looks for one every this many ticks (staggered by id).
    pub retarget_interval_ticks: u32,
    /// Targeting score weight for low remaining hull fraction.
    pub weight_low_hull: f32,
    /// Targeting score weight for nearness.
    pub weight_near: f32,
    /// Targeting score weight for the target class's threat.
    pub weight_threat: f32,
}

/// One building kind (inside `economy.ron`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildingTuning {
    /// Units produced per tick per level at reference population (0 for none).
    pub output_per_level: f64,
    /// Cost of level 1; level n costs `cost × n`.
    pub cost: Cost,
    /// Ticks to build level 1; level n takes `build_ticks × n`.
    pub build_ticks: u32,
    /// Energy upkeep per tick per level (units).
    pub upkeep_energy: f64,
    /// Highest level.
    pub max_level: u8,
}

/// One value per building kind.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerBuilding<T> {
    /// Mine (minerals).
    pub mine: T,
    /// Power plant (energy).
    pub power_plant: T,
    /// Rare element extractor.
    pub rare_extractor: T,
    /// Habitat (raises the population cap by `output_per_level` people per level).
    pub habitat: T,
    /// Shipyard.
    pub shipyard: T,
    /// Research lab (raises all output by `output_per_level` (a fraction) per level).
    pub research_lab: T,
}

impl<T> PerBuilding<T> {
    /// The value for `kind`.
    pub fn get(&self, kind: BuildingKind) -> &T {
        match kind {
            BuildingKind::Mine => &self.mine,
            BuildingKind::PowerPlant => &self.power_plant,
            BuildingKind::RareExtractor => &self.rare_extractor,
            BuildingKind::Habitat => &self.habitat,
            BuildingKind::Shipyard => &self.shipyard,
            BuildingKind::ResearchLab => &self.research_lab,
        }
    }
}

/// Resource multipliers of one region.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionModifiers {
    /// Energy output multiplier.
    pub energy: f64,
    /// Mineral output multiplier.
    pub minerals: f64,
    /// Rare element output multiplier.
    pub rare_elements: f64,
}

impl RegionModifiers {
    /// Multiplier for `r` (population and credits are not modified: 1.0).
    pub fn get(&self, r: ResourceKind) -> f64 {
        match r {
            ResourceKind::Energy => self.energy,
            ResourceKind::Minerals => self.minerals,
            ResourceKind::RareElements => self.rare_elements,
            ResourceKind::Population => 1.0,
        }
    }
}

/// Modifiers per region.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerRegion {
    /// Core.
    pub core: RegionModifiers,
    /// Mid rim.
    pub mid_rim: RegionModifiers,
    /// Outer rim.
    pub outer_rim: RegionModifiers,
    /// Deep space.
    pub deep_space: RegionModifiers,
}

impl PerRegion {
    /// Modifiers of `region`.
    pub fn get(&self, region: Region) -> &RegionModifiers {
        match region {
            Region::Core => &self.core,
            Region::MidRim => &self.mid_rim,
            Region::OuterRim => &self.outer_rim,
            Region::DeepSpace => &self.deep_space,
        }
    }
}

/// `tuning/economy.ron`: production, population, costs, upkeep, regions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EconomyTuning {
    /// Buildings.
    pub buildings: PerBuilding<BuildingTuning>,
    /// Region resource modifiers.
    pub regions: PerRegion,
    /// Population (people) at which buildings produce exactly `output_per_level`.
    pub reference_population: f64,
    /// Population growth per tick as a fraction of population (logistic, towards the cap).
    pub population_growth: f64,
    /// Population cap of a colony without habitats (people).
    pub base_population_cap: f64,
    /// Credits per person per tick (taxes).
    pub tax_per_person: f64,
    /// Longest construction queue per colony.
    pub max_construction_queue: u32,
    /// Longest shipyard queue per colony.
    pub max_shipyard_queue: u32,
}

/// `tuning/market.ron`: the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketTuning {
    /// Fee on every trade, in basis points of the trade value, paid by the seller (200 = 2%).
    pub fee_bps: u32,
    /// Expiry of an order placed without one (ticks).
    pub default_expiry_ticks: u32,
    /// Longest expiry an order may ask for (ticks).
    pub max_expiry_ticks: u32,
    /// Window of the ticker's volume (ticks).
    pub ticker_window_ticks: u32,
    /// Most open orders one empire may have.
    pub max_open_orders_per_empire: u32,
    /// Highest price (credits per unit).
    pub max_price: f64,
    /// Largest quantity of one order (units).
    pub max_quantity: i64,
}

/// `tuning/npc.ron`: NPC densities and behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpcTuning {
    /// Pirate fleets per outer-rim or deep-space system at generation.
    pub pirate_fleets_per_system: f32,
    /// Patrol fleets per core or mid-rim system at generation.
    pub patrol_fleets_per_system: f32,
    /// Trader fleets per system at generation.
    pub trader_fleets_per_system: f32,
    /// Trader empires that own the generated colonies.
    pub trader_empires: u32,
    /// Colonies per system at generation (fraction = probability).
    pub colonies_per_system: f32,
    /// Ships per NPC fleet (minimum).
    pub fleet_size_min: u32,
    /// Ships per NPC fleet (maximum).
    pub fleet_size_max: u32,
    /// An NPC fleet decides what to do every this many ticks (staggered).
    pub think_interval_ticks: u32,
    /// Pirates look for prey this many jumps away at most.
    pub pirate_hunt_jumps: u32,
    /// Traders quote this fraction around the last price (0.05 = ±5%).
    pub trader_spread: f64,
    /// Units a trader order asks for.
    pub trader_order_units: i64,
    /// Reference price (credits per unit) when a book has never traded.
    pub reference_price: f64,
}

/// `tuning/world.ron`: tick rate, galaxy size, space.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldTuning {
    /// Fixed ticks per second.
    pub tick_hz: u32,
    /// Star systems generated (used when a galaxy is generated; changing it later has no effect).
    pub systems: u32,
    /// Average hyperlanes per system.
    pub lanes_per_system: f32,
    /// Radius of a system's flyable space (metres).
    pub system_radius: f32,
    /// Planets per system, minimum.
    pub planets_min: u32,
    /// Planets per system, maximum.
    pub planets_max: u32,
    /// Spatial grid cell size (metres); neighbour queries look at the 3×3 cells around a ship.
    pub grid_cell_size: f32,
    /// Ticks of hyperspace travel per unit of lane length.
    pub jump_ticks_per_length: f32,
}

/// Everything designers tune. An ECS resource; replaced whole on a successful hot reload.
#[derive(Resource, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// `world.ron`.
    pub world: WorldTuning,
    /// `ships.ron`.
    pub ships: ShipsTuning,
    /// `economy.ron`.
    pub economy: EconomyTuning,
    /// `market.ron`.
    pub market: MarketTuning,
    /// `npc.ron`.
    pub npc: NpcTuning,
}

impl Tuning {
    /// Stats of a ship class.
    pub fn class(&self, class: ShipClass) -> &ShipClassStats {
        self.ships.classes.get(class)
    }

    /// Damage multiplier of `attacker` against `defender`.
    pub fn multiplier(&self, attacker: ShipClass, defender: ShipClass) -> f32 {
        *self.ships.multipliers.get(attacker).get(defender)
    }
}

/// The shipped tuning files (the `tuning/` folder), compiled in as the defaults.
pub const BUILTIN_FILES: [(&str, &str); 5] = [
    ("world.ron", include_str!("../../tuning/world.ron")),
    ("ships.ron", include_str!("../../tuning/ships.ron")),
    ("economy.ron", include_str!("../../tuning/economy.ron")),
    ("market.ron", include_str!("../../tuning/market.ron")),
    ("npc.ron", include_str!("../../tuning/npc.ron")),
];

impl Default for Tuning {
    /// The shipped tuning (a test checks that it parses and validates).
    fn default() -> Self {
        fn parse<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> T {
            ron::from_str(text).unwrap_or_else(|e| panic!("shipped tuning/{name} is invalid: {e}"))
        }
        let [w, s, e, m, n] = BUILTIN_FILES;
        Tuning {
            world: parse(w.0, w.1),
            ships: parse(s.0, s.1),
            economy: parse(e.0, e.1),
            market: parse(m.0, m.1),
            npc: parse(n.0, n.1),
        }
    }
}
