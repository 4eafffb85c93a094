//! Every table of the saved world ([`table!`] declarations, in the migrations' column order),
//! [`Rows`] (a batch as rows of every table) and the SQL that writes and reads them.

use super::{Json, List, Table, Text, table};

table!(
    /// `world`: one row per server process (shard).
    WorldRows = "world" {
        shard: Text, batch: i64, tick: i64, seed: i64, next_id: i64,
        created_credits: i64, created_energy: i64, created_minerals: i64, created_rare_elements: i64,
        created_population: i64,
        destroyed_credits: i64, destroyed_energy: i64, destroyed_minerals: i64, destroyed_rare_elements: i64,
        destroyed_population: i64,
        battles: i64, shots: i64, ships_destroyed: i64, ships_built: i64, buildings_completed: i64, trades: i64,
        intents_accepted: i64, intents_rejected: i64, jumps: i64,
    }
);

table!(
    /// `star_systems`.
    SystemRows = "star_systems" { id: i32, name: Text, region: Text, map_x: f32, map_y: f32, radius: f32 }
);

table!(
    /// `planets`.
    PlanetRows = "planets" { system_id: i32, planet: i32, x: f32, y: f32, radius: f32 }
);

table!(
    /// `hyperlanes`.
    LaneRows = "hyperlanes" { id: i32, a: i32, b: i32, length: f32 }
);

table!(
    /// `empires`.
    EmpireRows = "empires" {
        id: i64, name: Text, kind: Text,
        credits: i64, energy: i64, minerals: i64, rare_elements: i64, population: i64,
        fighters: i32, corvettes: i32, cruisers: i32, battleships: i32, freighters: i32,
        brain_faction: Option<Text>, brain_home_system_id: Option<i32>, brain_next_think: Option<i64>,
    }
);

table!(
    /// `fleets`.
    FleetRows = "fleets" {
        id: i64, owner_id: i64, ships: List<i64>,
        brain_faction: Option<Text>, brain_home_system_id: Option<i32>, brain_next_think: Option<i64>,
    }
);

table!(
    /// `ships`.
    ShipRows = "ships" {
        id: i64, owner_id: i64, fleet_id: Option<i64>, class: Text, allegiance: Text,
        system_id: i32, x: f32, y: f32, vx: f32, vy: f32, heading: f32, hull: f32, weapon_ready_tick: i64,
        cargo_energy: i64, cargo_minerals: i64, cargo_rare_elements: i64, cargo_population: i64,
        order_kind: Text, order_x: Option<f32>, order_y: Option<f32>, order_target_id: Option<i64>,
        order_path: Option<List<i32>>, order_next: Option<i32>, order_points: Option<List<f32>>,
        order_thrust: Option<f32>, order_turn: Option<f32>, order_fire: Option<bool>, order_until: Option<i64>,
        transit_to: Option<i32>, transit_ticks_left: Option<i32>, target_id: Option<i64>,
    }
);

table!(
    /// `colonies`.
    ColonyRows = "colonies" { id: i64, owner_id: i64, system_id: i32, planet: i32, name: Text, population: i64 }
);

table!(
    /// `buildings` (levels above 0 only).
    BuildingRows = "buildings" { colony_id: i64, system_id: i32, building: Text, level: i16 }
);

table!(
    /// `construction_queue`.
    ConstructionRows = "construction_queue" {
        colony_id: i64, position: i32, system_id: i32, building: Text, target_level: i16, ticks_left: i32,
    }
);

table!(
    /// `shipyard_queue`.
    ShipyardRows = "shipyard_queue" {
        colony_id: i64, position: i32, system_id: i32, class: Text, ticks_left: i32, fleet_id: Option<i64>,
    }
);

table!(
    /// `market_orders`.
    OrderRows = "market_orders" {
        id: i64, owner_id: i64, resource: Text, side: Text, price: i64, quantity: i64,
        escrow_credits: i64, escrow_goods: i64, placed_tick: i64, expires_tick: i64,
    }
);

table!(
    /// `market_tickers`.
    TickerRows = "market_tickers" {
        resource: Text, last_price: Option<i64>, best_bid: Option<i64>, best_ask: Option<i64>, volume: i64,
        volume_window: Json,
    }
);

table!(
    /// `market_trades` (append-only).
    TradeRows = "market_trades" {
        tick: i64, seq: i32, resource: Text, price: i64, quantity: i64, fee: i64,
        buyer_id: i64, seller_id: i64, buy_order_id: i64, sell_order_id: i64,
    }
);

table!(
    /// `combat_reports` (append-only).
    ReportRows = "combat_reports" {
        tick: i64, seq: i32, system_id: i32, started: i64, ended: i64, shots: i32, victor_id: Option<i64>,
        participants: Json, losses: Json,
    }
);

table!(
    /// `engagements` (replaced whole by every batch).
    EngagementRows = "engagements" {
        system_id: i32, started: i64, last_shot: i64, shots: i32, participants: Json, losses: Json, kills: Json,
    }
);

/// Ids of despawned entities, per table.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Deletes {
    /// `empires`.
    pub empires: Vec<i64>,
    /// `fleets`.
    pub fleets: Vec<i64>,
    /// `ships`.
    pub ships: Vec<i64>,
    /// `colonies` (their buildings and queues go with them).
    pub colonies: Vec<i64>,
    /// `market_orders` (filled, cancelled or expired).
    pub orders: Vec<i64>,
}

impl Deletes {
    /// Ids deleted, all tables.
    pub fn len(&self) -> usize {
        self.empires.len() + self.fleets.len() + self.ships.len() + self.colonies.len() + self.orders.len()
    }

    /// Whether nothing is deleted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One batch as the rows it writes: what one transaction applies (and what a spill file holds).
/// Entity rows are upserts keyed by id; a colony's buildings and queues, when they changed,
/// replace the ones it had.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rows {
    /// The batch is the whole world: every saved entity not in it is deleted (a spill file).
    pub replace: bool,
    /// The `world` row (exactly one).
    pub world: WorldRows,
    /// The galaxy, with the first batch of a run (else empty).
    pub systems: SystemRows,
    /// Planets (with the galaxy).
    pub planets: PlanetRows,
    /// Hyperlanes (with the galaxy).
    pub lanes: LaneRows,
    /// Changed empires.
    pub empires: EmpireRows,
    /// Changed fleets.
    pub fleets: FleetRows,
    /// Changed ships.
    pub ships: ShipRows,
    /// Changed colonies.
    pub colonies: ColonyRows,
    /// Colonies whose buildings and queues are replaced by the rows below (those whose
    /// buildings or a queue changed).
    pub children_replaced: Vec<i64>,
    /// Their buildings.
    pub buildings: BuildingRows,
    /// Their construction queues.
    pub construction: ConstructionRows,
    /// Their shipyard queues.
    pub shipyard: ShipyardRows,
    /// Changed open orders.
    pub orders: OrderRows,
    /// Every ticker.
    pub tickers: TickerRows,
    /// Every ongoing engagement.
    pub engagements: EngagementRows,
    /// New trades.
    pub trades: TradeRows,
    /// New combat reports.
    pub reports: ReportRows,
    /// Despawned entities.
    pub deletes: Deletes,
}

impl Rows {
    /// Rows written: entities upserted or deleted (children included), history, world.
    pub fn len(&self) -> usize {
        self.entity_rows() + self.trades.len() + self.reports.len() + 1
    }

    /// Always false (a batch writes its world row).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Entity rows written or deleted, children included.
    pub fn entity_rows(&self) -> usize {
        self.empires.len()
            + self.fleets.len()
            + self.ships.len()
            + self.colonies.len()
            + self.buildings.len()
            + self.construction.len()
            + self.shipyard.len()
            + self.orders.len()
            + self.deletes.len()
    }

    /// The batch id.
    pub fn batch(&self) -> i64 {
        self.world.batch.first().copied().unwrap_or_default()
    }

    /// The shard the world row belongs to.
    pub fn shard(&self) -> &str {
        self.world.shard.first().map_or("", |s| s.as_ref())
    }
}

/// How a table's rows are written.
#[derive(Clone, Copy, Debug)]
pub enum Write {
    /// Insert or update, keyed by these columns.
    Upsert(&'static [&'static str]),
    /// Insert; rows already there (a batch written twice) are kept.
    Append,
    /// Plain insert (the rows they replace were deleted first).
    Insert,
}

/// The Postgres statement that writes `T`'s rows: every column bound as one array.
pub fn pg_write<T: Table>(how: Write) -> String {
    let select = T::unnest(1).join(", ");
    format!("INSERT INTO {} ({}) SELECT {select}{}", T::NAME, T::COLUMNS.join(", "), on_conflict::<T>(how))
}

/// The SQLite statement that writes `rows` of `T`: one `VALUES` group per row.
pub fn sqlite_write<T: Table>(how: Write, rows: usize) -> String {
    let group = format!("({})", vec!["?"; T::COLUMNS.len()].join(", "));
    let values = vec![group.as_str(); rows].join(", ");
    format!("INSERT INTO {} ({}) VALUES {values}{}", T::NAME, T::COLUMNS.join(", "), on_conflict::<T>(how))
}

/// Rows per SQLite statement (SQLite binds at most 32,766 parameters).
pub fn sqlite_chunk<T: Table>() -> usize {
    (30_000 / T::COLUMNS.len()).max(1)
}

fn on_conflict<T: Table>(how: Write) -> String {
    match how {
        Write::Insert => String::new(),
        Write::Append => " ON CONFLICT DO NOTHING".into(),
        Write::Upsert(key) => {
            let set: Vec<String> =
                T::COLUMNS.iter().filter(|c| !key.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
            format!(" ON CONFLICT ({}) DO UPDATE SET {}", key.join(", "), set.join(", "))
        }
    }
}

/// The statement that reads all of `T` (Postgres: JSONB as text), in `order`.
pub fn select<T: Table>(postgres: bool, filter: &str, order: &str) -> String {
    let columns = if postgres { T::select().join(", ") } else { T::COLUMNS.join(", ") };
    format!("SELECT {columns} FROM {}{filter} ORDER BY {order}", T::NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_every_column_once_and_update_all_but_the_key() {
        let sql = pg_write::<ColonyRows>(Write::Upsert(&["id"]));
        assert_eq!(
            sql,
            "INSERT INTO colonies (id, owner_id, system_id, planet, name, population) SELECT UNNEST($1::int8[]), \
             UNNEST($2::int8[]), UNNEST($3::int4[]), UNNEST($4::int4[]), UNNEST($5::text[]), UNNEST($6::int8[]) \
             ON CONFLICT (id) DO UPDATE SET owner_id = excluded.owner_id, system_id = excluded.system_id, planet = \
             excluded.planet, name = excluded.name, population = excluded.population"
        );
        assert_eq!(
            sqlite_write::<LaneRows>(Write::Append, 2),
            "INSERT INTO hyperlanes (id, a, b, length) VALUES (?, ?, ?, ?), (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        );
        assert!(pg_write::<FleetRows>(Write::Insert).contains("UNNEST($3::text[])::int8[]"));
        assert_eq!(
            select::<EngagementRows>(true, "", "system_id"),
            "SELECT system_id, started, last_shot, shots, participants::text, losses::text, kills::text FROM \
             engagements ORDER BY system_id"
        );
    }
}
