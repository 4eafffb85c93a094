//! The SQL of `docs/OPERATIONS.md`, "Querying the world", against a real saved world: a
//! generated world with two players runs about two thousand ticks (trades, fights,
//! construction, until a player's fleet is in hyperspace) with persistence writing to a fresh
//! Postgres database; then every ```sql block of that section runs, its psql variables
//! substituted with values from the world, and each answer is checked against the simulation's
//! own state (components, the order book, and the trades and combat reports this test saw
//! happen), never against what the writer produced.
//!
//! Every block must have a check here (found by the bold title above it) and every check must
//! find its block. Prints "skipped: ..." when Postgres is absent, unless
//! `STARFORGE_REQUIRE_SERVICES=1`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use bevy_app::App;
use bevy_ecs::entity::Entity;
use bevy_ecs::message::{MessageCursor, Messages};
use sqlx::postgres::{PgPool, PgRow, PgValueFormat};
use sqlx::{AssertSqlSafe, Column, Row, ValueRef};
use starforge_components::prelude::*;
use starforge_persistence::Persister;
use starforge_persistence::writer::WriterOptions;
use starforge_systems::spawn::{PlayerStart, spawn_player_empire};
use starforge_tests::persist::{connect, flush_and_confirm, generated, runtime, tick};
use starforge_tests::services::TestPg;

/// The documentation file and the section whose queries are tested.
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/OPERATIONS.md");
const SECTION: &str = "## Querying the world";

/// Ticks the world runs at least; then it runs on until alice's fleet is in hyperspace.
const RUN_TICKS: u64 = 400;

#[test]
fn every_query_of_the_operations_guide_answers_what_the_world_holds() {
    let started = std::time::Instant::now();
    let blocks = sql_blocks(&std::fs::read_to_string(DOC).expect("read docs/OPERATIONS.md"));
    assert!(blocks.len() >= 6, "{SECTION} holds {} sql blocks, expected at least 6", blocks.len());

    let rt = runtime();
    let Some(pg) = rt.block_on(TestPg::create()) else { return };
    let db = connect(&rt, &pg.target());
    let mut app = generated(5);
    let alice = spawn_player_empire(app.world_mut(), "alice").expect("alice's empire");
    let bob = spawn_player_empire(app.world_mut(), "bob").expect("bob's empire");
    for (start, name) in [(&alice, "alice"), (&bob, "bob")] {
        rt.block_on(db.insert_account(start.empire.0, name, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"))
            .expect("insert the account");
    }
    app.insert_resource(Persister::start(rt.clone(), db.clone(), WriterOptions::default(), 0, 0));

    let mut log = Log::new(&app, [alice.empire, bob.empire]);
    players_act(&mut app, &alice, &bob);
    for _ in 0..RUN_TICKS {
        tick(&mut app);
        log.record(&mut app);
    }
    // The world is saved while alice's fleet (sent to a neighbouring system at the start; a
    // freighter crosses a system in a few thousand ticks) is in hyperspace.
    let in_transit = |app: &mut App| {
        let mut q = app.world_mut().query::<(&Owner, &Transit)>();
        q.iter(app.world()).any(|(o, _)| o.0 == alice.empire)
    };
    let mut waited = 0;
    while !in_transit(&mut app) {
        assert!(waited < 10_000, "alice's fleet did not reach hyperspace in {waited} more ticks");
        tick(&mut app);
        log.record(&mut app);
        waited += 1;
    }
    flush_and_confirm(&mut app);
    assert!(log.rejected.is_empty(), "the players' intents were all applied: {:?}", log.rejected);

    let stats = *app.world().resource::<SimStats>();
    let world = Snapshot::take(&mut app, log, &[("alice", alice.empire), ("bob", bob.empire)]);
    assert!(
        stats.trades > 0 && stats.battles > 0 && stats.buildings_completed > 0 && stats.jumps > 0,
        "the run exercised trade, combat, construction and travel: {stats:?}"
    );
    assert!(world.trades.iter().any(|(_, t)| [t.buyer, t.seller].contains(&alice.empire)), "alice traded");

    let pool = rt.block_on(PgPool::connect(&pg.url)).expect("connect for the queries");
    let ranks = rt.block_on(collation_ranks(&pool, &world));
    let ctx = Ctx { rt: &rt, pool: &pool, world: &world, ranks };
    let mut checked = Vec::new();
    for (title, sql) in &blocks {
        let Some((_, check)) = CHECKS.iter().find(|(t, _)| t == title) else {
            panic!("{SECTION}: no check in tests/tests/world_queries.rs for the query titled {title:?}")
        };
        let answered = check(&ctx, sql);
        assert!(answered > 0, "{title:?}: never returned a row, so nothing was checked");
        println!("checked {title:?}: {answered} rows");
        checked.push(title.clone());
    }
    for (title, _) in CHECKS {
        assert!(checked.iter().any(|t| t == title), "{SECTION} has no query titled {title:?} any more");
    }
    println!(
        "{} queries checked against a world at tick {} ({} trades, {} combat reports) in {:.1} s",
        blocks.len(),
        world.tick,
        world.trades.len(),
        world.reports.len(),
        started.elapsed().as_secs_f64()
    );
    rt.block_on(pool.close());
    rt.block_on(db.close());
}

/// The checks, by the bold title above their query.
type Check = fn(&Ctx, &str) -> usize;
const CHECKS: &[(&str, Check)] = &[
    ("An empire's credits and stockpile, by empire id", empire_by_id),
    ("A player's credits, stockpile, ship and colony count, by username", player_by_username),
    ("A player's ships and where they are", player_ships),
    ("The richest empires", richest_empires),
    ("Market depth of a resource", market_depth),
    ("Trades in the last N ticks", recent_trades),
    ("Volume and prices per resource over the last N ticks", trade_summary),
    ("A system's colonies and their buildings", system_colonies),
    ("Ships per system and empire", ships_per_system),
    ("Combat reports of a system", combat_reports),
];

// ---------------------------------------------------------------------------------------------
// The markdown and psql variables.

/// `(title, sql)` of every ```sql block of [`SECTION`], in order; the title is the bold text of
/// the last line starting with `**` before the block.
fn sql_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut lines = markdown.lines().skip_while(|l| l.trim_end() != SECTION);
    assert!(lines.next().is_some(), "docs/OPERATIONS.md has no {SECTION:?} section");
    let (mut blocks, mut title, mut sql): (Vec<(String, String)>, Option<String>, Option<String>) =
        (Vec::new(), None, None);
    for line in lines {
        if let Some(body) = &mut sql {
            if line.trim() == "```" {
                let title = title.take().unwrap_or_else(|| panic!("a sql block without a bold title: {body}"));
                blocks.push((title, std::mem::take(body)));
                sql = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
        } else if line.starts_with("## ") {
            break;
        } else if line.trim() == "```sql" {
            sql = Some(String::new());
        } else if let Some(rest) = line.strip_prefix("**") {
            title = rest.split_once("**").map(|(t, _)| t.to_owned());
        }
    }
    assert!(sql.is_none(), "an unterminated sql block in {SECTION}");
    blocks
}

/// A psql variable's value.
#[derive(Clone, Debug)]
enum Var {
    /// Inserted as it is by `:name` (numbers).
    Raw(String),
    /// Inserted as a string literal by `:'name'`.
    Text(String),
}

/// `sql` with psql's `:name` and `:'name'` replaced as psql does (not inside string literals,
/// not `::` casts). Every variable used must be given.
fn substitute(sql: &str, vars: &[(&str, Var)]) -> String {
    let lookup = |name: &str| -> &Var {
        &vars.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no value for :{name} in {sql}")).1
    };
    let chars: Vec<char> = sql.chars().collect();
    let (mut out, mut i, mut in_string) = (String::new(), 0, false);
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            in_string = c != '\'';
            out.push(c);
            i += 1;
        } else if c == '\'' {
            in_string = true;
            out.push(c);
            i += 1;
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push_str("::");
            i += 2;
        } else if c == ':' && chars.get(i + 1) == Some(&'\'') {
            let end = (i + 2..chars.len()).find(|&j| chars[j] == '\'').expect("closing quote of a :'variable'");
            let name: String = chars[i + 2..end].iter().collect();
            let (Var::Text(v) | Var::Raw(v)) = lookup(&name);
            out.push('\'');
            out.push_str(&v.replace('\'', "''"));
            out.push('\'');
            i = end + 1;
        } else if c == ':' && chars.get(i + 1).is_some_and(|&n| n.is_ascii_alphabetic() || n == '_') {
            let end = (i + 1..chars.len()).find(|&j| !is_name(chars[j])).unwrap_or(chars.len());
            let name: String = chars[i + 1..end].iter().collect();
            let (Var::Text(v) | Var::Raw(v)) = lookup(&name);
            out.push_str(v);
            i = end;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The world as the simulation holds it.

/// What the test saw happen, tick by tick, independent of persistence.
struct Log {
    players: [EntityId; 2],
    trades_cursor: MessageCursor<TradeExecuted>,
    reports_cursor: MessageCursor<CombatReport>,
    rejected_cursor: MessageCursor<IntentRejected>,
    /// Trades with the tick they happened in, counted as `SimTick` at the end of that tick.
    trades: Vec<(u64, TradeExecuted)>,
    /// Combat reports with their tick, counted the same way.
    reports: Vec<(u64, CombatReport)>,
    /// Rejections of the players' intents.
    rejected: Vec<IntentRejected>,
}

impl Log {
    fn new(app: &App, players: [EntityId; 2]) -> Log {
        let w = app.world();
        Log {
            players,
            trades_cursor: w.resource::<Messages<TradeExecuted>>().get_cursor(),
            reports_cursor: w.resource::<Messages<CombatReport>>().get_cursor(),
            rejected_cursor: w.resource::<Messages<IntentRejected>>().get_cursor(),
            trades: Vec::new(),
            reports: Vec::new(),
            rejected: Vec::new(),
        }
    }

    /// Takes what the tick just run emitted.
    fn record(&mut self, app: &mut App) {
        let w = app.world();
        let now = w.resource::<SimTick>().0;
        self.trades.extend(self.trades_cursor.read(w.resource::<Messages<TradeExecuted>>()).map(|t| (now, *t)));
        self.reports.extend(self.reports_cursor.read(w.resource::<Messages<CombatReport>>()).map(|r| (now, r.clone())));
        let players = self.players;
        self.rejected.extend(
            self.rejected_cursor
                .read(w.resource::<Messages<IntentRejected>>())
                .filter(|r| players.contains(&r.empire))
                .cloned(),
        );
    }
}

fn entity(app: &App, id: EntityId) -> Entity {
    app.world().resource::<EntityIndex>().get(id).expect("a live entity")
}

fn push(app: &mut App, empire: EntityId, intent: Intent) {
    let mut queue = app.world_mut().resource_mut::<IntentQueue>();
    let client_ref = queue.0.len() as u64;
    queue.0.push(QueuedIntent { empire, client_ref, intent });
}

/// What the players do at the start: alice builds, queues a ship, trades (two orders that fill,
/// two that rest) and sends her fleet to a neighbouring system; bob queues a ship and sends his
/// fleet across the galaxy.
fn players_act(app: &mut App, alice: &PlayerStart, bob: &PlayerStart) {
    let market = app.world().resource::<Market>();
    let price = |r: ResourceKind, side: Side| {
        let book = market.book(r).expect("a traded resource");
        match side {
            Side::Buy => book.best_ask(),
            Side::Sell => book.best_bid(),
        }
        .unwrap_or_else(|| panic!("the generated book of {r:?} has a {side:?} side"))
    };
    let (energy_ask, minerals_bid) =
        (price(ResourceKind::Energy, Side::Buy), price(ResourceKind::Minerals, Side::Sell));
    let rare_bid = market.book(ResourceKind::RareElements).and_then(OrderBook::best_bid).unwrap_or(2 * MILLI);
    let galaxy = app.world().resource::<Galaxy>();
    let far = galaxy.systems.last().expect("systems").id;
    let home = app.world().get::<Colony>(entity(app, alice.colony)).expect("alice's colony").system;
    let near = galaxy.neighbours(home).next().expect("the home system has a hyperlane");
    let order =
        |resource, side, price, quantity| Intent::PlaceOrder { resource, side, price, quantity, expires_in: None };
    let a = alice.empire;
    push(app, a, Intent::Build { colony: alice.colony, building: BuildingKind::Habitat });
    push(app, a, Intent::Upgrade { colony: alice.colony, building: BuildingKind::Mine });
    push(app, a, Intent::QueueShip { colony: alice.colony, class: ShipClass::Fighter, fleet: Some(alice.fleet) });
    push(app, a, order(ResourceKind::Energy, Side::Buy, energy_ask, 5));
    push(app, a, order(ResourceKind::Minerals, Side::Sell, minerals_bid, 5));
    // Two resting orders of one owner at one price: a level of two orders.
    push(app, a, order(ResourceKind::RareElements, Side::Buy, (rare_bid - 7).max(1), 4));
    push(app, a, order(ResourceKind::RareElements, Side::Buy, (rare_bid - 7).max(1), 3));
    push(app, a, Intent::Fleet { fleet: alice.fleet, order: FleetOrder::Jump { destination: near } });
    push(app, bob.empire, Intent::QueueShip { colony: bob.colony, class: ShipClass::Corvette, fleet: None });
    push(app, bob.empire, Intent::Fleet { fleet: bob.fleet, order: FleetOrder::Jump { destination: far } });
}

struct EmpireSnap {
    name: String,
    kind: &'static str,
    credits: i64,
    stock: ResourceAmounts,
}

struct ShipSnap {
    id: EntityId,
    owner: EntityId,
    class: ShipClass,
    system: SystemId,
    pos: glam::Vec2,
    hull: f32,
    order: &'static str,
    transit_to: Option<SystemId>,
    fleet: EntityId,
}

struct ColonySnap {
    id: EntityId,
    owner: EntityId,
    colony: Colony,
    buildings: Buildings,
    constructing: Option<ConstructionJob>,
    ships_queued: usize,
}

/// A price level of a book: price (milli-credits per unit), open units, orders.
type Level = (i64, i64, u32);

/// The simulation's state after the last flush.
struct Snapshot {
    tick: u64,
    systems: Vec<String>,
    empires: BTreeMap<EntityId, EmpireSnap>,
    players: Vec<(String, EntityId)>,
    ships: Vec<ShipSnap>,
    colonies: Vec<ColonySnap>,
    orders: Vec<MarketOrder>,
    /// Per traded resource: the book's levels (price, open units, orders), asks then bids, best
    /// first.
    depth: Vec<(ResourceKind, Vec<Level>, Vec<Level>)>,
    trades: Vec<(u64, TradeExecuted)>,
    reports: Vec<(u64, CombatReport)>,
}

impl Snapshot {
    fn take(app: &mut App, log: Log, players: &[(&str, EntityId)]) -> Snapshot {
        let w = app.world_mut();
        let empires = w
            .query::<(&EntityId, &Empire, &Credits, &Stockpile)>()
            .iter(w)
            .map(|(id, e, c, s)| {
                (*id, EmpireSnap { name: e.name.clone(), kind: kind_name(e.kind), credits: c.0, stock: s.0 })
            })
            .collect();
        let ships = w
            .query::<(&EntityId, &Ship, &Owner, &Position, &Hull, &ShipOrder, Option<&Transit>, &FleetMember)>()
            .iter(w)
            .map(|(id, ship, owner, pos, hull, order, transit, fleet)| ShipSnap {
                id: *id,
                owner: owner.0,
                class: ship.class,
                system: pos.system,
                pos: pos.local,
                hull: hull.0,
                order: order_kind(order),
                transit_to: transit.map(|t| t.to),
                fleet: fleet.0,
            })
            .collect();
        let colonies = w
            .query::<(&EntityId, &Owner, &Colony, &Buildings, &ConstructionQueue, &ShipyardQueue)>()
            .iter(w)
            .map(|(id, owner, colony, buildings, construction, shipyard)| ColonySnap {
                id: *id,
                owner: owner.0,
                colony: colony.clone(),
                buildings: *buildings,
                constructing: construction.0.front().copied(),
                ships_queued: shipyard.0.len(),
            })
            .collect();
        let market = w.resource::<Market>();
        assert!(market.incoming().is_empty(), "every order placed was matched within its tick");
        let depth = ResourceKind::TRADED
            .into_iter()
            .map(|r| {
                let book = market.book(r).expect("traded");
                (r, book.depth(Side::Sell, usize::MAX), book.depth(Side::Buy, usize::MAX))
            })
            .collect();
        Snapshot {
            tick: w.resource::<SimTick>().0,
            systems: w.resource::<Galaxy>().systems.iter().map(|s| s.name.clone()).collect(),
            empires,
            players: players.iter().map(|(n, id)| ((*n).to_owned(), *id)).collect(),
            ships,
            colonies,
            orders: market.orders_sorted(),
            depth,
            trades: log.trades,
            reports: log.reports,
        }
    }

    fn system(&self, id: SystemId) -> &str {
        &self.systems[id.0 as usize]
    }

    fn empire_name(&self, id: EntityId) -> Option<&str> {
        self.empires.get(&id).map(|e| e.name.as_str())
    }

    /// Trades within the last `ticks` ticks (those recorded after tick `tick - ticks`).
    fn recent_trades(&self, ticks: u64) -> impl DoubleEndedIterator<Item = &(u64, TradeExecuted)> {
        let after = self.tick.saturating_sub(ticks);
        self.trades.iter().filter(move |(t, _)| *t > after)
    }
}

fn kind_name(kind: EmpireKind) -> &'static str {
    match kind {
        EmpireKind::Player => "player",
        EmpireKind::Npc(Faction::Pirates) => "pirates",
        EmpireKind::Npc(Faction::Traders) => "traders",
        EmpireKind::Npc(Faction::Patrol) => "patrol",
    }
}

fn class_name(class: ShipClass) -> &'static str {
    match class {
        ShipClass::Fighter => "fighter",
        ShipClass::Corvette => "corvette",
        ShipClass::Cruiser => "cruiser",
        ShipClass::Battleship => "battleship",
        ShipClass::Freighter => "freighter",
    }
}

fn order_kind(order: &ShipOrder) -> &'static str {
    match order {
        ShipOrder::Idle => "idle",
        ShipOrder::Manual { .. } => "manual",
        ShipOrder::MoveTo(_) => "move_to",
        ShipOrder::Jump { .. } => "jump",
        ShipOrder::Attack(_) => "attack",
        ShipOrder::Patrol { .. } => "patrol",
    }
}

const BUILDINGS: [(BuildingKind, &str); 6] = [
    (BuildingKind::Mine, "mine"),
    (BuildingKind::PowerPlant, "power_plant"),
    (BuildingKind::RareExtractor, "rare_extractor"),
    (BuildingKind::Habitat, "habitat"),
    (BuildingKind::Shipyard, "shipyard"),
    (BuildingKind::ResearchLab, "research_lab"),
];

fn building_name(kind: BuildingKind) -> &'static str {
    BUILDINGS.iter().find(|(k, _)| *k == kind).map(|(_, n)| *n).expect("every building has a name")
}

fn resource_name(r: ResourceKind) -> &'static str {
    match r {
        ResourceKind::Energy => "energy",
        ResourceKind::Minerals => "minerals",
        ResourceKind::RareElements => "rare_elements",
        ResourceKind::Population => "population",
    }
}

// ---------------------------------------------------------------------------------------------
// Running queries and comparing answers.

struct Ctx<'a> {
    rt: &'a tokio::runtime::Runtime,
    pool: &'a PgPool,
    world: &'a Snapshot,
    /// The database's sort order of every name the queries sort by (its collation decides
    /// where `Vega-10` goes, not Rust's byte order).
    ranks: HashMap<String, usize>,
}

/// An answer: column names and every value as the text Postgres sent (NULL: `None`).
struct Answer {
    sql: String,
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

impl Ctx<'_> {
    /// Runs `sql` with `vars` as psql would: substituted, sent as a simple query, so every
    /// value arrives as text.
    fn run(&self, sql: &str, vars: &[(&str, Var)]) -> Answer {
        let sql = substitute(sql, vars);
        let rows: Vec<PgRow> = self
            .rt
            .block_on(sqlx::raw_sql(AssertSqlSafe(sql.clone())).fetch_all(self.pool))
            .unwrap_or_else(|e| panic!("the query failed: {e}\n{sql}"));
        let columns =
            rows.first().map(|r| r.columns().iter().map(|c| c.name().to_owned()).collect()).unwrap_or_default();
        let rows = rows
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let v = row.try_get_raw(i).expect("a column");
                        assert_eq!(v.format(), PgValueFormat::Text, "a simple query answers in text");
                        (!v.is_null()).then(|| v.as_str().expect("UTF-8").to_owned())
                    })
                    .collect()
            })
            .collect();
        Answer { sql, columns, rows }
    }

    fn rank(&self, name: &str) -> usize {
        *self.ranks.get(name).unwrap_or_else(|| panic!("{name:?} was not ranked"))
    }

    /// `names` joined by `, ` in the database's order (what `string_agg(.., ', ' ORDER BY ..)`
    /// gives); `None` for no names (`string_agg` of no rows is NULL).
    fn joined(&self, mut names: Vec<(String, String)>) -> Option<String> {
        names.sort_by_key(|(key, _)| self.rank(key));
        (!names.is_empty()).then(|| names.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(", "))
    }
}

/// The database's sort order of every name a query sorts by.
async fn collation_ranks(pool: &PgPool, world: &Snapshot) -> HashMap<String, usize> {
    let mut names: Vec<String> = world.systems.clone();
    names.extend(world.empires.values().map(|e| e.name.clone()));
    names.extend(BUILDINGS.iter().map(|(_, n)| (*n).to_owned()));
    names.extend(ResourceKind::TRADED.map(|r| resource_name(r).to_owned()));
    names.extend(
        [ShipClass::Fighter, ShipClass::Corvette, ShipClass::Cruiser, ShipClass::Battleship, ShipClass::Freighter]
            .map(|c| class_name(c).to_owned()),
    );
    names.sort();
    names.dedup();
    let sorted: Vec<String> = sqlx::query_scalar("SELECT name FROM unnest($1::text[]) AS t (name) ORDER BY name")
        .bind(&names)
        .fetch_all(pool)
        .await
        .expect("sort the names");
    sorted.into_iter().enumerate().map(|(i, n)| (n, i)).collect()
}

/// An expected value.
#[derive(Clone, Debug)]
enum V {
    Null,
    Int(i64),
    /// A decimal number of whole units, given in milli-units: must be exactly this.
    Milli(i64),
    /// A decimal number of whole units within `.1` milli-units of `.0`.
    MilliNear(i64, i64),
    Text(String),
    /// A REAL as Postgres prints it (shortest exact form).
    Real(f32),
    /// A number within `.1` of `.0`.
    Near(f64, f64),
}

fn text(s: impl Into<String>) -> V {
    V::Text(s.into())
}

fn opt_text(s: Option<impl Into<String>>) -> V {
    s.map_or(V::Null, text)
}

fn int(n: impl TryInto<i64, Error: std::fmt::Debug>) -> V {
    V::Int(n.try_into().expect("fits i64"))
}

/// Parses a decimal number of whole units into milli-units (exact: more than three decimals
/// must be zeros).
fn parse_milli(s: &str) -> Option<i64> {
    let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > 3 && frac[3..].bytes().any(|b| b != b'0') {
        return None;
    }
    let frac = format!("{:0<3}", &frac[..frac.len().min(3)]);
    let value = whole.parse::<i64>().ok()? * 1000 + frac.parse::<i64>().ok()?;
    Some(if neg { -value } else { value })
}

fn matches(expected: &V, cell: Option<&str>) -> bool {
    match (expected, cell) {
        (V::Null, None) => true,
        (V::Int(n), Some(s)) => s.parse::<i64>().ok() == Some(*n),
        (V::Milli(n), Some(s)) => parse_milli(s) == Some(*n),
        (V::MilliNear(n, tol), Some(s)) => {
            s.parse::<f64>().is_ok_and(|v| ((v * 1000.0).round() as i64 - n).abs() <= *tol)
        }
        (V::Text(t), Some(s)) => t == s,
        (V::Real(x), Some(s)) => s.parse::<f32>().ok() == Some(*x),
        (V::Near(x, tol), Some(s)) => s.parse::<f64>().is_ok_and(|v| (v - x).abs() <= *tol),
        _ => false,
    }
}

fn show(answer: &Answer) -> String {
    let mut out = format!("{}\n", answer.columns.join(" | "));
    for row in answer.rows.iter().take(40) {
        let cells: Vec<&str> = row.iter().map(|c| c.as_deref().unwrap_or("NULL")).collect();
        let _ = writeln!(out, "{}", cells.join(" | "));
    }
    if answer.rows.len() > 40 {
        let _ = writeln!(out, "... {} rows in all", answer.rows.len());
    }
    out
}

/// Asserts that `answer` has exactly `columns` (when it has rows) and exactly `expected`, row by
/// row in order; returns the number of rows.
fn expect(answer: &Answer, columns: &[&str], expected: &[Vec<V>]) -> usize {
    let context = || format!("query:\n{}\nanswer:\n{}", answer.sql, show(answer));
    if !answer.rows.is_empty() {
        assert_eq!(answer.columns, columns, "the query's columns; {}", context());
    }
    for (i, (row, want_row)) in answer.rows.iter().zip(expected).enumerate() {
        for ((cell, want), column) in row.iter().zip(want_row).zip(columns) {
            assert!(
                matches(want, cell.as_deref()),
                "row {i}, column {column}: expected {want:?}, got {cell:?}; expected row {want_row:?}; {}",
                context(),
            );
        }
    }
    assert_eq!(answer.rows.len(), expected.len(), "rows: expected {:?}; {}", expected, context());
    answer.rows.len()
}

fn units(milli: [i64; 5]) -> Vec<V> {
    milli.into_iter().map(V::Milli).collect()
}

// ---------------------------------------------------------------------------------------------
// One check per query.

fn all_vars(ctx: &Ctx) -> Vec<(&'static str, Var)> {
    let w = ctx.world;
    vec![
        ("empire_id", Var::Raw(w.players[0].1.0.to_string())),
        ("username", Var::Text(w.players[0].0.clone())),
        ("resource", Var::Text("energy".into())),
        ("ticks", Var::Raw("100".into())),
        ("system", Var::Text(w.systems[0].clone())),
    ]
}

fn with(ctx: &Ctx, name: &'static str, value: Var) -> Vec<(&'static str, Var)> {
    let mut vars = all_vars(ctx);
    vars.retain(|(n, _)| *n != name);
    vars.push((name, value));
    vars
}

fn stock(e: &EmpireSnap) -> [i64; 5] {
    let s = |r| e.stock.get(r);
    [
        e.credits,
        s(ResourceKind::Energy),
        s(ResourceKind::Minerals),
        s(ResourceKind::RareElements),
        s(ResourceKind::Population),
    ]
}

fn empire_by_id(ctx: &Ctx, sql: &str) -> usize {
    let columns = ["id", "name", "kind", "credits", "energy", "minerals", "rare_elements", "population"];
    let mut rows = 0;
    for (id, e) in &ctx.world.empires {
        let answer = ctx.run(sql, &with(ctx, "empire_id", Var::Raw(id.0.to_string())));
        let mut row = vec![int(id.0), text(&e.name), text(e.kind)];
        row.extend(units(stock(e)));
        rows += expect(&answer, &columns, &[row]);
    }
    let unknown = ctx.world.empires.keys().map(|id| id.0).max().unwrap_or(0) + 1_000_000;
    expect(&ctx.run(sql, &with(ctx, "empire_id", Var::Raw(unknown.to_string()))), &columns, &[]);
    rows
}

fn player_by_username(ctx: &Ctx, sql: &str) -> usize {
    let columns =
        ["player_id", "username", "credits", "energy", "minerals", "rare_elements", "population", "ships", "colonies"];
    let w = ctx.world;
    let mut rows = 0;
    for (name, id) in &w.players {
        let e = &w.empires[id];
        let mut row = vec![int(id.0), text(name)];
        row.extend(units(stock(e)));
        row.push(int(w.ships.iter().filter(|s| s.owner == *id).count()));
        row.push(int(w.colonies.iter().filter(|c| c.owner == *id).count()));
        rows += expect(&ctx.run(sql, &with(ctx, "username", Var::Text(name.clone()))), &columns, &[row]);
    }
    expect(&ctx.run(sql, &with(ctx, "username", Var::Text("nobody's".into()))), &columns, &[]);
    rows
}

fn player_ships(ctx: &Ctx, sql: &str) -> usize {
    let columns = ["id", "class", "system", "x", "y", "hull", "order_kind", "jumping_to", "fleet_id"];
    let w = ctx.world;
    let mut rows = 0;
    for (name, id) in &w.players {
        let mut ships: Vec<&ShipSnap> = w.ships.iter().filter(|s| s.owner == *id).collect();
        ships.sort_by_key(|s| (ctx.rank(w.system(s.system)), ctx.rank(class_name(s.class)), s.id));
        let expected: Vec<Vec<V>> = ships
            .iter()
            .map(|s| {
                vec![
                    int(s.id.0),
                    text(class_name(s.class)),
                    text(w.system(s.system)),
                    V::Near(f64::from(s.pos.x), 0.5),
                    V::Near(f64::from(s.pos.y), 0.5),
                    V::Real(s.hull),
                    text(s.order),
                    opt_text(s.transit_to.map(|t| w.system(t))),
                    int(s.fleet.0),
                ]
            })
            .collect();
        assert!(!expected.is_empty(), "{name} has ships");
        rows += expect(&ctx.run(sql, &with(ctx, "username", Var::Text(name.clone()))), &columns, &expected);
    }
    let alice = w.players[0].1;
    assert!(
        w.ships.iter().any(|s| s.owner == alice && s.transit_to.is_some()),
        "a ship of alice's is in hyperspace, so jumping_to is checked with a value"
    );
    rows
}

fn richest_empires(ctx: &Ctx, sql: &str) -> usize {
    let w = ctx.world;
    let mut escrow: BTreeMap<EntityId, i64> = BTreeMap::new();
    for o in &w.orders {
        *escrow.entry(o.owner).or_default() += o.escrow_credits();
    }
    let mut empires: Vec<(EntityId, &EmpireSnap, i64)> =
        w.empires.iter().map(|(id, e)| (*id, e, escrow.get(id).copied().unwrap_or(0))).collect();
    empires.sort_by_key(|(id, e, held)| (std::cmp::Reverse(e.credits + held), *id));
    assert!(empires.iter().take(10).any(|(_, _, held)| *held > 0), "a top empire has credits in buy orders");
    let expected: Vec<Vec<V>> = empires
        .iter()
        .take(10)
        .map(|(id, e, held)| {
            vec![
                int(id.0),
                text(&e.name),
                text(e.kind),
                V::Milli(e.credits),
                V::Milli(*held),
                V::Milli(e.credits + held),
            ]
        })
        .collect();
    expect(&ctx.run(sql, &all_vars(ctx)), &["id", "name", "kind", "credits", "in_buy_orders", "total"], &expected)
}

fn market_depth(ctx: &Ctx, sql: &str) -> usize {
    let levels = || ctx.world.depth.iter().flat_map(|(_, asks, bids)| asks.iter().chain(bids));
    assert!(levels().any(|l| l.2 > 1), "a price level holds several orders");
    let mut rows = 0;
    for (r, asks, bids) in &ctx.world.depth {
        assert!(!asks.is_empty() && !bids.is_empty(), "both sides of {r:?} hold orders");
        let level = |side: &str, (price, quantity, orders): Level, cumulative: i64| {
            vec![text(side), V::Milli(price), int(quantity), int(orders), int(cumulative)]
        };
        // Highest price first: asks from the highest down to the best, then bids from the best.
        let mut expected: Vec<Vec<V>> = asks.iter().zip(cumulative(asks)).map(|(l, c)| level("sell", *l, c)).collect();
        expected.reverse();
        expected.extend(bids.iter().zip(cumulative(bids)).map(|(l, c)| level("buy", *l, c)));
        let answer = ctx.run(sql, &with(ctx, "resource", Var::Text(resource_name(*r).into())));
        rows += expect(&answer, &["side", "price", "quantity", "orders", "cumulative"], &expected);
    }
    rows
}

/// Running totals of the open units of `levels`.
fn cumulative(levels: &[Level]) -> impl Iterator<Item = i64> + '_ {
    levels.iter().scan(0, |sum, l| {
        *sum += l.1;
        Some(*sum)
    })
}

/// The values of `:ticks` tried: one tick, some, half the run, more than the run.
fn tick_windows(ctx: &Ctx) -> Vec<u64> {
    let w = ctx.world;
    let windows = vec![1, 7, 60, w.tick / 2, w.tick + 1000];
    let some = |n: u64| w.recent_trades(n).count();
    assert!(windows.iter().any(|&n| some(n) > 0 && some(n) < w.trades.len()), "a window holds some trades but not all");
    windows
}

fn recent_trades(ctx: &Ctx, sql: &str) -> usize {
    let w = ctx.world;
    let mut rows = 0;
    for ticks in tick_windows(ctx) {
        // Newest first: by tick, then the reverse of the order they happened in.
        let expected: Vec<Vec<V>> = w
            .recent_trades(ticks)
            .rev()
            .map(|(at, t)| {
                vec![
                    int(*at),
                    text(resource_name(t.resource)),
                    V::Milli(t.price),
                    int(t.quantity),
                    opt_text(w.empire_name(t.buyer)),
                    opt_text(w.empire_name(t.seller)),
                    V::Milli(t.fee),
                ]
            })
            .collect();
        let answer = ctx.run(sql, &with(ctx, "ticks", Var::Raw(ticks.to_string())));
        rows += expect(&answer, &["tick", "resource", "price", "quantity", "buyer", "seller", "fee"], &expected);
    }
    rows
}

fn trade_summary(ctx: &Ctx, sql: &str) -> usize {
    let w = ctx.world;
    let mut rows = 0;
    for ticks in tick_windows(ctx) {
        let mut per: BTreeMap<&str, (i64, i64, i128, i64, i64)> = BTreeMap::new();
        for (_, t) in w.recent_trades(ticks) {
            let e = per.entry(resource_name(t.resource)).or_insert((0, 0, 0, i64::MAX, i64::MIN));
            e.0 += 1;
            e.1 += t.quantity;
            e.2 += i128::from(t.price) * i128::from(t.quantity);
            e.3 = e.3.min(t.price);
            e.4 = e.4.max(t.price);
        }
        let mut per: Vec<_> = per.into_iter().collect();
        per.sort_by_key(|(r, _)| ctx.rank(r));
        let expected: Vec<Vec<V>> = per
            .into_iter()
            .map(|(r, (n, units, notional, low, high))| {
                // Average price in milli-credits, rounded half up (numeric `round`).
                let q = i128::from(units);
                let average = ((2 * notional + q) / (2 * q)) as i64;
                vec![text(r), int(n), int(units), V::MilliNear(average, 1), V::Milli(low), V::Milli(high)]
            })
            .collect();
        let answer = ctx.run(sql, &with(ctx, "ticks", Var::Raw(ticks.to_string())));
        rows += expect(&answer, &["resource", "trades", "units", "average_price", "low", "high"], &expected);
    }
    rows
}

fn system_colonies(ctx: &Ctx, sql: &str) -> usize {
    let w = ctx.world;
    let columns = ["id", "colony", "owner", "planet", "population", "buildings", "constructing", "ships_queued"];
    let (mut rows, mut constructing) = (0, 0);
    for (i, system) in w.systems.iter().enumerate() {
        let mut colonies: Vec<&ColonySnap> = w.colonies.iter().filter(|c| c.colony.system.0 as usize == i).collect();
        colonies.sort_by_key(|c| (c.colony.planet, c.id));
        let expected: Vec<Vec<V>> = colonies
            .iter()
            .map(|c| {
                let buildings = BUILDINGS
                    .iter()
                    .filter(|(k, _)| c.buildings.level(*k) > 0)
                    .map(|(k, n)| ((*n).to_owned(), format!("{n} {}", c.buildings.level(*k))))
                    .collect();
                constructing += usize::from(c.constructing.is_some());
                vec![
                    int(c.id.0),
                    text(&*c.colony.name),
                    opt_text(w.empire_name(c.owner)),
                    int(c.colony.planet),
                    V::Milli(c.colony.population),
                    opt_text(ctx.joined(buildings)),
                    opt_text(c.constructing.map(|j| {
                        format!(
                            "{} to level {}, {} ticks left",
                            building_name(j.building),
                            j.target_level,
                            j.ticks_left
                        )
                    })),
                    int(c.ships_queued),
                ]
            })
            .collect();
        rows += expect(&ctx.run(sql, &with(ctx, "system", Var::Text(system.clone()))), &columns, &expected);
    }
    assert!(constructing > 0, "a colony is constructing, so that column is checked with a value");
    rows
}

fn ships_per_system(ctx: &Ctx, sql: &str) -> usize {
    let w = ctx.world;
    let mut groups: BTreeMap<(SystemId, EntityId), ([i64; 5], f64)> = BTreeMap::new();
    for s in w.ships.iter().filter(|s| s.transit_to.is_none()) {
        let g = groups.entry((s.system, s.owner)).or_default();
        g.0[s.class.index()] += 1;
        g.1 += f64::from(s.hull);
    }
    let mut groups: Vec<_> = groups.into_iter().map(|(k, (n, hull))| (k, n, hull.round())).collect();
    groups.sort_by(|((sa, ea), _, ha), ((sb, eb), _, hb)| {
        ctx.rank(w.system(*sa)).cmp(&ctx.rank(w.system(*sb))).then(hb.total_cmp(ha)).then(ea.cmp(eb))
    });
    let expected: Vec<Vec<V>> = groups
        .iter()
        .map(|((system, owner), n, hull)| {
            let e = &w.empires[owner];
            let mut row =
                vec![text(w.system(*system)), int(owner.0), text(&e.name), text(e.kind), int(n.iter().sum::<i64>())];
            row.extend(n.iter().map(|c| int(*c)));
            row.push(V::Near(*hull, 0.0));
            row
        })
        .collect();
    let columns = [
        "system",
        "empire_id",
        "empire",
        "kind",
        "ships",
        "fighters",
        "corvettes",
        "cruisers",
        "battleships",
        "freighters",
        "hull",
    ];
    expect(&ctx.run(sql, &all_vars(ctx)), &columns, &expected)
}

fn combat_reports(ctx: &Ctx, sql: &str) -> usize {
    let w = ctx.world;
    let name = |id: &EntityId| w.empire_name(*id).expect("an empire in a report exists").to_owned();
    let mut rows = 0;
    for (i, system) in w.systems.iter().enumerate() {
        let expected: Vec<Vec<V>> = w
            .reports
            .iter()
            .rev()
            .filter(|(_, r)| r.system.0 as usize == i)
            .map(|(at, r)| {
                let participants = r.participants.iter().map(|p| (name(p), name(p))).collect();
                let losses = r.losses.iter().map(|(e, n)| (name(e), format!("{} {n}", name(e)))).collect();
                vec![
                    int(*at),
                    int(r.started),
                    int(r.ended),
                    int(r.shots),
                    opt_text(r.victor.map(|v| name(&v))),
                    opt_text(ctx.joined(participants)),
                    opt_text(ctx.joined(losses)),
                ]
            })
            .collect();
        let answer = ctx.run(sql, &with(ctx, "system", Var::Text(system.clone())));
        rows += expect(&answer, &["tick", "started", "ended", "shots", "victor", "participants", "losses"], &expected);
    }
    rows
}
