//! Designer tuning: every number a designer tunes, loaded from the RON files in `tuning/`.
//!
//! One struct per file. [`Tuning`] is the ECS resource holding all of them. Field units are
//! documented here and in `docs/TUNING.md`; ranges are enforced by validation
//! ([`Tuning::from_files`], [`Tuning::with_file`], [`Tuning::validate`]).
//!
//! This module parses text only; reading files and watching them is the server's job.

use bevy_ecs::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod error;
mod locate;
#[cfg(test)]
mod tests;
mod validate;

pub use error::{FieldError, TuningError};

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

    /// Every value with its field name, in declaration order.
    pub fn named(&self) -> [(&'static str, &T); 5] {
        [
            ("fighter", &self.fighter),
            ("corvette", &self.corvette),
            ("cruiser", &self.cruiser),
            ("battleship", &self.battleship),
            ("freighter", &self.freighter),
        ]
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
    /// A ship under an attack order holds this fraction of its weapon range from the target.
    pub attack_standoff: f32,
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

    /// Every value with its field name, in declaration order.
    pub fn named(&self) -> [(&'static str, &T); 6] {
        [
            ("mine", &self.mine),
            ("power_plant", &self.power_plant),
            ("rare_extractor", &self.rare_extractor),
            ("habitat", &self.habitat),
            ("shipyard", &self.shipyard),
            ("research_lab", &self.research_lab),
        ]
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

    /// Every region's modifiers with its field name, in declaration order.
    pub fn named(&self) -> [(&'static str, &RegionModifiers); 4] {
        [
            ("core", &self.core),
            ("mid_rim", &self.mid_rim),
            ("outer_rim", &self.outer_rim),
            ("deep_space", &self.deep_space),
        ]
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
    /// A colony's population is updated once every this many ticks (staggered by colony id)
    /// by replaying the per-tick rule that many times, so a colony does not change (and is not
    /// saved or sent) every tick. 1 = every tick. Missing from an older file: 200.
    #[serde(default = "default_population_step_ticks")]
    pub population_step_ticks: u32,
    /// Population cap of a colony without habitats (people).
    pub base_population_cap: f64,
    /// Credits per person per tick (taxes).
    pub tax_per_person: f64,
    /// Longest construction queue per colony.
    pub max_construction_queue: u32,
    /// Longest shipyard queue per colony.
    pub max_shipyard_queue: u32,
}

fn default_population_step_ticks() -> u32 {
    200
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
    /// Ticks an NPC quote rests on the exchange before it expires.
    pub quote_expiry_ticks: u32,
    /// Credits each NPC empire starts with (at generation).
    pub starting_credits: f64,
    /// Units of energy and of minerals each NPC empire starts with (a tenth as much of rare
    /// elements), at generation.
    pub starting_stock: f64,
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
    /// A ship within this distance (metres) of its move-to point, slow enough to stop, has arrived.
    pub arrive_radius: f32,
    /// A ship within this distance (metres) of a hyperlane gate enters hyperspace.
    pub gate_radius: f32,
    /// Game time between two persistence flushes (seconds): the most a crash can lose.
    pub flush_interval_s: f32,
}

impl WorldTuning {
    /// [`WorldTuning::flush_interval_s`] in ticks at `tick_hz` (at least 1).
    pub fn flush_interval_ticks(&self) -> u64 {
        ((f64::from(self.flush_interval_s) * f64::from(self.tick_hz)).round() as u64).max(1)
    }
}

/// `tuning/network.ron`: replication to clients and what a new player starts with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkTuning {
    /// Send a snapshot to each client every this many ticks.
    pub snapshot_interval_ticks: u32,
    /// Downstream budget per client for snapshots (bytes per second, UDP payload).
    pub bandwidth_bytes_per_s: u32,
    /// Grid cells around each of a client's ships and colonies that it sees (1 = the 3×3 block).
    pub view_cells: u32,
    /// Snapshots kept per client as possible delta baselines.
    pub snapshot_history: u32,
    /// Most entities one client sees at once (the nearest are kept; its own always).
    pub max_visible: u32,
    /// Commands a client may send per tick; more are refused with a reason.
    pub commands_per_tick: u32,
    /// Pilot inputs of one client applied per tick; more are acknowledged but dropped.
    pub inputs_per_tick: u32,
    /// A client silent for this long is disconnected (seconds).
    pub client_timeout_s: u32,
    /// Credits a new player's empire starts with.
    pub start_credits: f64,
    /// Units of energy, minerals and rare elements a new player starts with.
    pub start_stock: f64,
    /// Corvettes in a new player's starting fleet.
    pub start_corvettes: u32,
    /// Freighters in a new player's starting fleet.
    pub start_freighters: u32,
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
    /// `network.ron`.
    pub network: NetworkTuning,
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

/// The tuning file names, in [`Tuning`] field order. Every one must be present.
pub const FILE_NAMES: [&str; 6] = ["world.ron", "ships.ron", "economy.ron", "market.ron", "npc.ron", "network.ron"];

/// The shipped tuning files (the `tuning/` folder), compiled in as the defaults.
pub const BUILTIN_FILES: [(&str, &str); 6] = [
    ("world.ron", include_str!("../../tuning/world.ron")),
    ("ships.ron", include_str!("../../tuning/ships.ron")),
    ("economy.ron", include_str!("../../tuning/economy.ron")),
    ("market.ron", include_str!("../../tuning/market.ron")),
    ("npc.ron", include_str!("../../tuning/npc.ron")),
    ("network.ron", include_str!("../../tuning/network.ron")),
];

impl Default for Tuning {
    /// The shipped tuning, [`BUILTIN_FILES`] (a test checks that it parses and validates).
    fn default() -> Self {
        Tuning::from_files(&BUILTIN_FILES)
            .unwrap_or_else(|e| panic!("the shipped tuning (compiled in) is invalid: {e}"))
    }
}

impl Tuning {
    /// Parses and validates a complete set of tuning files, given as `(file name, text)`.
    ///
    /// Every name in [`FILE_NAMES`] must appear exactly once; any other name is an error.
    /// Errors name the file and the line:column (syntax or type errors) or the field path
    /// and, where it can be found, the line (validation errors).
    pub fn from_files(files: &[(&str, &str)]) -> Result<Tuning, TuningError> {
        let texts = collect(files)?;
        let text = |i: usize| texts[i].ok_or_else(|| TuningError::MissingFile { file: FILE_NAMES[i].to_owned() });
        let (world, ships, economy, market, npc, network) =
            (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?, text(5)?);
        let tuning = Tuning {
            world: parse(FILE_NAMES[0], world)?,
            ships: parse(FILE_NAMES[1], ships)?,
            economy: parse(FILE_NAMES[2], economy)?,
            market: parse(FILE_NAMES[3], market)?,
            npc: parse(FILE_NAMES[4], npc)?,
            network: parse(FILE_NAMES[5], network)?,
        };
        tuning.checked(&texts)
    }

    /// A copy of `self` with the file `name` replaced by `text`, validated as a whole
    /// (some ranges span files, e.g. `npc.reference_price ≤ market.max_price`).
    ///
    /// `self` is never changed; on error, keep using it.
    pub fn with_file(&self, name: &str, text: &str) -> Result<Tuning, TuningError> {
        self.with_files(&[(name, text)])
    }

    /// Like [`Tuning::with_file`] for several files at once (each name at most once), so
    /// that edits that only make sense together are validated together.
    pub fn with_files(&self, files: &[(&str, &str)]) -> Result<Tuning, TuningError> {
        let texts = collect(files)?;
        let mut next = self.clone();
        for (i, text) in texts.iter().enumerate() {
            let Some(text) = text else { continue };
            let file = FILE_NAMES[i];
            match i {
                0 => next.world = parse(file, text)?,
                1 => next.ships = parse(file, text)?,
                2 => next.economy = parse(file, text)?,
                3 => next.market = parse(file, text)?,
                4 => next.npc = parse(file, text)?,
                _ => next.network = parse(file, text)?,
            }
        }
        next.checked(&texts)
    }

    /// Checks every documented range (the errors carry no line numbers: there is no text).
    pub fn validate(&self) -> Result<(), TuningError> {
        self.check(&[None; FILE_NAMES.len()])
    }

    /// `self` if it validates.
    fn checked(self, texts: &[Option<&str>; FILE_NAMES.len()]) -> Result<Tuning, TuningError> {
        self.check(texts).map(|()| self)
    }

    /// Every problem, located in `texts` where given.
    fn check(&self, texts: &[Option<&str>; FILE_NAMES.len()]) -> Result<(), TuningError> {
        let problems = validate::check(self);
        if problems.is_empty() {
            return Ok(());
        }
        let errors = problems
            .into_iter()
            .map(|p| {
                let text = FILE_NAMES.iter().position(|f| *f == p.file).and_then(|i| texts[i]);
                let line = text.and_then(|t| locate::line_of(t, &p.path.split('.').collect::<Vec<_>>()));
                FieldError { file: p.file.to_owned(), line, path: p.path, reason: p.reason }
            })
            .collect();
        Err(TuningError::Invalid(errors))
    }
}

/// Sorts `(name, text)` pairs into [`FILE_NAMES`] order; unknown or repeated names are errors.
fn collect<'a>(files: &[(&str, &'a str)]) -> Result<[Option<&'a str>; FILE_NAMES.len()], TuningError> {
    let mut texts = [None; FILE_NAMES.len()];
    for &(name, text) in files {
        let i = FILE_NAMES
            .iter()
            .position(|f| *f == name)
            .ok_or_else(|| TuningError::UnknownFile { file: name.to_owned() })?;
        if texts[i].replace(text).is_some() {
            return Err(TuningError::DuplicateFile { file: name.to_owned() });
        }
    }
    Ok(texts)
}

/// Parses one file; a syntax or type error carries the file and the line:column.
fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, TuningError> {
    ron::from_str(text).map_err(|e| TuningError::Syntax {
        file: file.to_owned(),
        line: e.span.start.line,
        column: e.span.start.col,
        reason: e.code.to_string(),
    })
}
