-- The saved world as relational tables (row mapping: persistence/src/tables/).
--
-- Units: every amount of credits or goods is a BIGINT in milli-units (1 unit = 1000), so sums
-- are exact; positions are REAL in-system units; times are simulation ticks (20 per second by
-- default). Rows that belong to a star system carry its `system_id`. Enumerations are lower-case
-- TEXT (the CHECKs list them). The simulation guarantees references between entities; they
-- are not foreign keys, so the writer is never refused by the world it mirrors (and a foreign
-- key's check costs a trigger per row on every write; a colony's rows in buildings and the
-- queues are replaced by the writer whenever the colony is written or deleted).

COMMENT ON TABLE players IS 'Player accounts. A player''s empire is the empires row whose id equals player_id.';
COMMENT ON COLUMN players.player_id IS 'The player''s id, equal to the id of their empire (empires.id).';
COMMENT ON COLUMN players.username IS 'Login name (unique).';
COMMENT ON COLUMN players.password_hash IS 'argon2id PHC string; passwords are never stored.';
COMMENT ON COLUMN players.created_at IS 'When the account was created (wall clock).';

CREATE TABLE world (
    shard                    TEXT PRIMARY KEY,
    batch                    BIGINT NOT NULL,
    tick                     BIGINT NOT NULL,
    seed                     BIGINT NOT NULL,
    next_id                  BIGINT NOT NULL,
    created_credits          BIGINT NOT NULL,
    created_energy           BIGINT NOT NULL,
    created_minerals         BIGINT NOT NULL,
    created_rare_elements    BIGINT NOT NULL,
    created_population       BIGINT NOT NULL,
    destroyed_credits        BIGINT NOT NULL,
    destroyed_energy         BIGINT NOT NULL,
    destroyed_minerals       BIGINT NOT NULL,
    destroyed_rare_elements  BIGINT NOT NULL,
    destroyed_population     BIGINT NOT NULL,
    battles                  BIGINT NOT NULL,
    shots                    BIGINT NOT NULL,
    ships_destroyed          BIGINT NOT NULL,
    ships_built              BIGINT NOT NULL,
    buildings_completed      BIGINT NOT NULL,
    trades                   BIGINT NOT NULL,
    intents_accepted         BIGINT NOT NULL,
    intents_rejected         BIGINT NOT NULL,
    jumps                    BIGINT NOT NULL,
    saved_at                 TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE world IS 'One row per server process (shard) writing to this database: the simulation state besides entities, as of its last confirmed batch.';
COMMENT ON COLUMN world.shard IS 'Name of the server process that writes the row (''main'' for a single server).';
COMMENT ON COLUMN world.batch IS 'Id of the newest batch written (increasing); a batch not newer is skipped, so re-applying one is harmless.';
COMMENT ON COLUMN world.tick IS 'Simulation tick the saved state is from.';
COMMENT ON COLUMN world.seed IS 'World seed (the u64 seed''s two''s-complement bits); random streams derive from seed, system and tick.';
COMMENT ON COLUMN world.next_id IS 'Next entity id the allocator hands out.';
COMMENT ON COLUMN world.created_credits IS 'Credits created since the world began (milli-credits; conservation ledger).';
COMMENT ON COLUMN world.created_energy IS 'Energy created (milli-units; conservation ledger).';
COMMENT ON COLUMN world.created_minerals IS 'Minerals created (milli-units; conservation ledger).';
COMMENT ON COLUMN world.created_rare_elements IS 'Rare elements created (milli-units; conservation ledger).';
COMMENT ON COLUMN world.created_population IS 'Population goods created (milli-units; conservation ledger).';
COMMENT ON COLUMN world.destroyed_credits IS 'Credits destroyed: fees, upkeep, costs (milli-credits; conservation ledger).';
COMMENT ON COLUMN world.destroyed_energy IS 'Energy destroyed (milli-units; conservation ledger).';
COMMENT ON COLUMN world.destroyed_minerals IS 'Minerals destroyed (milli-units; conservation ledger).';
COMMENT ON COLUMN world.destroyed_rare_elements IS 'Rare elements destroyed (milli-units; conservation ledger).';
COMMENT ON COLUMN world.destroyed_population IS 'Population goods destroyed (milli-units; conservation ledger).';
COMMENT ON COLUMN world.battles IS 'Engagements ended so far (count).';
COMMENT ON COLUMN world.shots IS 'Shots fired so far (count).';
COMMENT ON COLUMN world.ships_destroyed IS 'Ships destroyed so far (count).';
COMMENT ON COLUMN world.ships_built IS 'Ships launched by shipyards so far (count).';
COMMENT ON COLUMN world.buildings_completed IS 'Building levels completed so far (count).';
COMMENT ON COLUMN world.trades IS 'Market trades so far (count).';
COMMENT ON COLUMN world.intents_accepted IS 'Intents applied so far (count).';
COMMENT ON COLUMN world.intents_rejected IS 'Intents rejected so far (count).';
COMMENT ON COLUMN world.jumps IS 'Hyperlane jumps completed so far (count).';
COMMENT ON COLUMN world.saved_at IS 'Wall-clock time of the last write.';

CREATE TABLE star_systems (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    region  TEXT NOT NULL CHECK (region IN ('core', 'mid_rim', 'outer_rim', 'deep_space')),
    map_x   REAL NOT NULL,
    map_y   REAL NOT NULL,
    radius  REAL NOT NULL
);
CREATE INDEX star_systems_name ON star_systems (name);
COMMENT ON TABLE star_systems IS 'The galaxy''s star systems (fixed when the world is generated).';
COMMENT ON COLUMN star_systems.id IS 'System id (0-based, dense).';
COMMENT ON COLUMN star_systems.name IS 'Display name.';
COMMENT ON COLUMN star_systems.region IS 'Region: core, mid_rim, outer_rim or deep_space (production modifiers).';
COMMENT ON COLUMN star_systems.map_x IS 'Position on the galaxy map, x (map units).';
COMMENT ON COLUMN star_systems.map_y IS 'Position on the galaxy map, y (map units).';
COMMENT ON COLUMN star_systems.radius IS 'Playable radius of the system (in-system units).';

CREATE TABLE planets (
    system_id INTEGER NOT NULL REFERENCES star_systems (id) ON DELETE CASCADE,
    planet    INTEGER NOT NULL,
    x         REAL NOT NULL,
    y         REAL NOT NULL,
    radius    REAL NOT NULL,
    PRIMARY KEY (system_id, planet)
);
COMMENT ON TABLE planets IS 'Planets of each star system (fixed when the world is generated).';
COMMENT ON COLUMN planets.system_id IS 'Star system (star_systems.id).';
COMMENT ON COLUMN planets.planet IS 'Index of the planet in its system (0-based; colonies.planet refers to it).';
COMMENT ON COLUMN planets.x IS 'Position in the system, x (in-system units).';
COMMENT ON COLUMN planets.y IS 'Position in the system, y (in-system units).';
COMMENT ON COLUMN planets.radius IS 'Radius (in-system units).';

CREATE TABLE hyperlanes (
    id      INTEGER PRIMARY KEY,
    a       INTEGER NOT NULL REFERENCES star_systems (id) ON DELETE CASCADE,
    b       INTEGER NOT NULL REFERENCES star_systems (id) ON DELETE CASCADE,
    length  REAL NOT NULL
);
COMMENT ON TABLE hyperlanes IS 'Hyperlanes between star systems (fixed when the world is generated); travel goes both ways.';
COMMENT ON COLUMN hyperlanes.id IS 'Lane id (0-based, dense).';
COMMENT ON COLUMN hyperlanes.a IS 'One end (star_systems.id).';
COMMENT ON COLUMN hyperlanes.b IS 'The other end (star_systems.id).';
COMMENT ON COLUMN hyperlanes.length IS 'Length (map units; transit time grows with it).';

CREATE TABLE empires (
    id                    BIGINT PRIMARY KEY,
    name                  TEXT NOT NULL,
    kind                  TEXT NOT NULL CHECK (kind IN ('player', 'pirates', 'traders', 'patrol')),
    credits               BIGINT NOT NULL,
    energy                BIGINT NOT NULL,
    minerals              BIGINT NOT NULL,
    rare_elements         BIGINT NOT NULL,
    population            BIGINT NOT NULL,
    fighters              INTEGER NOT NULL,
    corvettes             INTEGER NOT NULL,
    cruisers              INTEGER NOT NULL,
    battleships           INTEGER NOT NULL,
    freighters            INTEGER NOT NULL,
    brain_faction         TEXT CHECK (brain_faction IN ('pirates', 'traders', 'patrol')),
    brain_home_system_id  INTEGER,
    brain_next_think      BIGINT,
    CHECK ((brain_faction IS NULL) = (brain_home_system_id IS NULL) AND (brain_faction IS NULL) = (brain_next_think IS NULL))
) WITH (fillfactor = 70);
COMMENT ON TABLE empires IS 'Empires: players (id = players.player_id) and NPC factions. Fill factor 70 leaves room for in-page (HOT) updates: balances change every flush.';
COMMENT ON COLUMN empires.id IS 'Entity id (stable across restarts).';
COMMENT ON COLUMN empires.name IS 'Display name (a player''s username).';
COMMENT ON COLUMN empires.kind IS 'player, or the NPC faction: pirates, traders or patrol.';
COMMENT ON COLUMN empires.credits IS 'Credits (milli-credits).';
COMMENT ON COLUMN empires.energy IS 'Energy in the stockpile (milli-units).';
COMMENT ON COLUMN empires.minerals IS 'Minerals in the stockpile (milli-units).';
COMMENT ON COLUMN empires.rare_elements IS 'Rare elements in the stockpile (milli-units).';
COMMENT ON COLUMN empires.population IS 'Population goods in the stockpile (milli-units).';
COMMENT ON COLUMN empires.fighters IS 'Fighters owned (count, includes ships in transit).';
COMMENT ON COLUMN empires.corvettes IS 'Corvettes owned (count).';
COMMENT ON COLUMN empires.cruisers IS 'Cruisers owned (count).';
COMMENT ON COLUMN empires.battleships IS 'Battleships owned (count).';
COMMENT ON COLUMN empires.freighters IS 'Freighters owned (count).';
COMMENT ON COLUMN empires.brain_faction IS 'NPC empire brain: its faction (NULL for players).';
COMMENT ON COLUMN empires.brain_home_system_id IS 'NPC empire brain: home star system (star_systems.id).';
COMMENT ON COLUMN empires.brain_next_think IS 'NPC empire brain: tick of its next decision.';

CREATE TABLE fleets (
    id                    BIGINT PRIMARY KEY,
    owner_id              BIGINT NOT NULL,
    ships                 BIGINT[] NOT NULL,
    brain_faction         TEXT CHECK (brain_faction IN ('pirates', 'traders', 'patrol')),
    brain_home_system_id  INTEGER,
    brain_next_think      BIGINT,
    CHECK ((brain_faction IS NULL) = (brain_home_system_id IS NULL) AND (brain_faction IS NULL) = (brain_next_think IS NULL))
);
CREATE INDEX fleets_owner ON fleets (owner_id);
COMMENT ON TABLE fleets IS 'Fleets: groups of ships that take orders together.';
COMMENT ON COLUMN fleets.id IS 'Entity id.';
COMMENT ON COLUMN fleets.owner_id IS 'Owning empire (empires.id).';
COMMENT ON COLUMN fleets.ships IS 'Member ships (ships.id) in fleet order.';
COMMENT ON COLUMN fleets.brain_faction IS 'NPC fleet brain: its faction (NULL for player fleets).';
COMMENT ON COLUMN fleets.brain_home_system_id IS 'NPC fleet brain: home star system (star_systems.id).';
COMMENT ON COLUMN fleets.brain_next_think IS 'NPC fleet brain: tick of its next decision.';

CREATE TABLE ships (
    id                  BIGINT PRIMARY KEY,
    owner_id            BIGINT NOT NULL,
    fleet_id            BIGINT,
    class               TEXT NOT NULL CHECK (class IN ('fighter', 'corvette', 'cruiser', 'battleship', 'freighter')),
    allegiance          TEXT NOT NULL CHECK (allegiance IN ('player', 'pirates', 'traders', 'patrol')),
    system_id           INTEGER NOT NULL,
    x                   REAL NOT NULL,
    y                   REAL NOT NULL,
    vx                  REAL NOT NULL,
    vy                  REAL NOT NULL,
    heading             REAL NOT NULL,
    hull                REAL NOT NULL,
    weapon_ready_tick   BIGINT NOT NULL,
    cargo_energy        BIGINT NOT NULL,
    cargo_minerals      BIGINT NOT NULL,
    cargo_rare_elements BIGINT NOT NULL,
    cargo_population    BIGINT NOT NULL,
    order_kind          TEXT NOT NULL CHECK (order_kind IN ('idle', 'manual', 'move_to', 'jump', 'attack', 'patrol')),
    order_x             REAL,
    order_y             REAL,
    order_target_id     BIGINT,
    order_path          INTEGER[],
    order_next          INTEGER,
    order_points        REAL[],
    order_thrust        REAL,
    order_turn          REAL,
    order_fire          BOOLEAN,
    order_until         BIGINT,
    transit_to          INTEGER,
    transit_ticks_left  INTEGER,
    target_id           BIGINT,
    CHECK ((transit_to IS NULL) = (transit_ticks_left IS NULL))
) WITH (fillfactor = 50);
CREATE INDEX ships_owner ON ships (owner_id);
CREATE INDEX ships_system ON ships (system_id);
COMMENT ON TABLE ships IS 'Ships. Most change every flush: fill factor 50 keeps updates in their page (HOT: no index writes, old versions pruned in place).';
COMMENT ON COLUMN ships.id IS 'Entity id.';
COMMENT ON COLUMN ships.owner_id IS 'Owning empire (empires.id).';
COMMENT ON COLUMN ships.fleet_id IS 'Its fleet (fleets.id), if any.';
COMMENT ON COLUMN ships.class IS 'Hull class: fighter, corvette, cruiser, battleship or freighter (stats in tuning/ships.ron).';
COMMENT ON COLUMN ships.allegiance IS 'Side it fights for: player or an NPC faction (pirates, traders, patrol).';
COMMENT ON COLUMN ships.system_id IS 'Star system it is in (star_systems.id); while in transit, the system it left.';
COMMENT ON COLUMN ships.x IS 'Position in the system, x (in-system units, system centre at 0).';
COMMENT ON COLUMN ships.y IS 'Position in the system, y (in-system units).';
COMMENT ON COLUMN ships.vx IS 'Velocity, x (in-system units per second).';
COMMENT ON COLUMN ships.vy IS 'Velocity, y (in-system units per second).';
COMMENT ON COLUMN ships.heading IS 'Heading (radians, 0 = +x, counter-clockwise).';
COMMENT ON COLUMN ships.hull IS 'Hull points left (0 = destroyed).';
COMMENT ON COLUMN ships.weapon_ready_tick IS 'Tick from which its weapon can fire again.';
COMMENT ON COLUMN ships.cargo_energy IS 'Energy carried (milli-units).';
COMMENT ON COLUMN ships.cargo_minerals IS 'Minerals carried (milli-units).';
COMMENT ON COLUMN ships.cargo_rare_elements IS 'Rare elements carried (milli-units).';
COMMENT ON COLUMN ships.cargo_population IS 'Population goods carried (milli-units).';
COMMENT ON COLUMN ships.order_kind IS 'Standing order: idle, manual (pilot input), move_to, jump (along order_path), attack (order_target_id) or patrol (order_points).';
COMMENT ON COLUMN ships.order_x IS 'move_to: destination x; patrol: current goal x (in-system units).';
COMMENT ON COLUMN ships.order_y IS 'move_to: destination y; patrol: current goal y (in-system units).';
COMMENT ON COLUMN ships.order_target_id IS 'attack: the ship to attack (ships.id).';
COMMENT ON COLUMN ships.order_path IS 'jump: remaining route, star system ids in order.';
COMMENT ON COLUMN ships.order_next IS 'jump: next star system on the route; patrol: index of the next waypoint.';
COMMENT ON COLUMN ships.order_points IS 'patrol: waypoints as x1, y1, x2, y2, ... (in-system units).';
COMMENT ON COLUMN ships.order_thrust IS 'manual: thrust input (-1 to 1).';
COMMENT ON COLUMN ships.order_turn IS 'manual: turn input (-1 to 1).';
COMMENT ON COLUMN ships.order_fire IS 'manual: fire held.';
COMMENT ON COLUMN ships.order_until IS 'manual: tick the input expires.';
COMMENT ON COLUMN ships.transit_to IS 'In hyperspace: destination star system (star_systems.id); NULL when not jumping.';
COMMENT ON COLUMN ships.transit_ticks_left IS 'In hyperspace: ticks until arrival.';
COMMENT ON COLUMN ships.target_id IS 'Ship it is firing at (ships.id), if any.';

CREATE TABLE colonies (
    id          BIGINT PRIMARY KEY,
    owner_id    BIGINT NOT NULL,
    system_id   INTEGER NOT NULL,
    planet      INTEGER NOT NULL,
    name        TEXT NOT NULL,
    population  BIGINT NOT NULL
) WITH (fillfactor = 70);
CREATE INDEX colonies_owner ON colonies (owner_id);
CREATE INDEX colonies_system ON colonies (system_id);
COMMENT ON TABLE colonies IS 'Colonies on planets.';
COMMENT ON COLUMN colonies.id IS 'Entity id.';
COMMENT ON COLUMN colonies.owner_id IS 'Owning empire (empires.id).';
COMMENT ON COLUMN colonies.system_id IS 'Star system (star_systems.id).';
COMMENT ON COLUMN colonies.planet IS 'Planet index in the system (planets.planet).';
COMMENT ON COLUMN colonies.name IS 'Display name.';
COMMENT ON COLUMN colonies.population IS 'Population (milli-people).';

CREATE TABLE buildings (
    colony_id  BIGINT NOT NULL,
    system_id  INTEGER NOT NULL,
    building   TEXT NOT NULL CHECK (building IN ('mine', 'power_plant', 'rare_extractor', 'habitat', 'shipyard', 'research_lab')),
    level      SMALLINT NOT NULL CHECK (level > 0),
    PRIMARY KEY (colony_id, building)
);
COMMENT ON TABLE buildings IS 'Buildings of each colony; a building not listed is at level 0.';
COMMENT ON COLUMN buildings.colony_id IS 'Colony (colonies.id).';
COMMENT ON COLUMN buildings.system_id IS 'Star system of the colony (star_systems.id).';
COMMENT ON COLUMN buildings.building IS 'mine, power_plant, rare_extractor, habitat, shipyard or research_lab (effects in tuning/buildings.ron).';
COMMENT ON COLUMN buildings.level IS 'Level (1 or more).';

CREATE TABLE construction_queue (
    colony_id     BIGINT NOT NULL,
    position      INTEGER NOT NULL,
    system_id     INTEGER NOT NULL,
    building      TEXT NOT NULL CHECK (building IN ('mine', 'power_plant', 'rare_extractor', 'habitat', 'shipyard', 'research_lab')),
    target_level  SMALLINT NOT NULL,
    ticks_left    INTEGER NOT NULL,
    PRIMARY KEY (colony_id, position)
);
COMMENT ON TABLE construction_queue IS 'Building upgrades queued at each colony (paid when queued).';
COMMENT ON COLUMN construction_queue.colony_id IS 'Colony (colonies.id).';
COMMENT ON COLUMN construction_queue.position IS 'Place in the queue (0 = being built now).';
COMMENT ON COLUMN construction_queue.system_id IS 'Star system of the colony (star_systems.id).';
COMMENT ON COLUMN construction_queue.building IS 'Building being raised.';
COMMENT ON COLUMN construction_queue.target_level IS 'Level it reaches when done.';
COMMENT ON COLUMN construction_queue.ticks_left IS 'Ticks of work left.';

CREATE TABLE shipyard_queue (
    colony_id   BIGINT NOT NULL,
    position    INTEGER NOT NULL,
    system_id   INTEGER NOT NULL,
    class       TEXT NOT NULL CHECK (class IN ('fighter', 'corvette', 'cruiser', 'battleship', 'freighter')),
    ticks_left  INTEGER NOT NULL,
    fleet_id    BIGINT,
    PRIMARY KEY (colony_id, position)
);
COMMENT ON TABLE shipyard_queue IS 'Ships queued at each colony''s shipyard (paid when queued).';
COMMENT ON COLUMN shipyard_queue.colony_id IS 'Colony (colonies.id).';
COMMENT ON COLUMN shipyard_queue.position IS 'Place in the queue (0 = being built now).';
COMMENT ON COLUMN shipyard_queue.system_id IS 'Star system of the colony (star_systems.id).';
COMMENT ON COLUMN shipyard_queue.class IS 'Ship class being built.';
COMMENT ON COLUMN shipyard_queue.ticks_left IS 'Ticks of work left.';
COMMENT ON COLUMN shipyard_queue.fleet_id IS 'Fleet the ship joins when launched (fleets.id); NULL: a new fleet.';

CREATE TABLE market_orders (
    id            BIGINT PRIMARY KEY,
    owner_id      BIGINT NOT NULL,
    resource      TEXT NOT NULL CHECK (resource IN ('energy', 'minerals', 'rare_elements')),
    side          TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price         BIGINT NOT NULL,
    quantity      BIGINT NOT NULL,
    escrow_credits BIGINT NOT NULL,
    escrow_goods  BIGINT NOT NULL,
    placed_tick   BIGINT NOT NULL,
    expires_tick  BIGINT NOT NULL
);
CREATE INDEX market_orders_book ON market_orders (resource, side, price);
CREATE INDEX market_orders_owner ON market_orders (owner_id);
COMMENT ON TABLE market_orders IS 'Open limit orders on the galaxy exchange.';
COMMENT ON COLUMN market_orders.id IS 'Order id (an entity id).';
COMMENT ON COLUMN market_orders.owner_id IS 'Empire that placed it (empires.id).';
COMMENT ON COLUMN market_orders.resource IS 'Traded resource: energy, minerals or rare_elements.';
COMMENT ON COLUMN market_orders.side IS 'buy or sell.';
COMMENT ON COLUMN market_orders.price IS 'Limit price (milli-credits per unit).';
COMMENT ON COLUMN market_orders.quantity IS 'Units still open (whole units).';
COMMENT ON COLUMN market_orders.escrow_credits IS 'Credits held for the open quantity of a buy: price × quantity (milli-credits; 0 for sells).';
COMMENT ON COLUMN market_orders.escrow_goods IS 'Goods held for the open quantity of a sell: quantity × 1000 (milli-units; 0 for buys).';
COMMENT ON COLUMN market_orders.placed_tick IS 'Tick it was placed (time priority).';
COMMENT ON COLUMN market_orders.expires_tick IS 'Tick it expires if still open.';

CREATE TABLE market_tickers (
    resource       TEXT PRIMARY KEY CHECK (resource IN ('energy', 'minerals', 'rare_elements')),
    last_price     BIGINT,
    best_bid       BIGINT,
    best_ask       BIGINT,
    volume         BIGINT NOT NULL,
    volume_window  JSONB NOT NULL
);
COMMENT ON TABLE market_tickers IS 'Exchange ticker per traded resource.';
COMMENT ON COLUMN market_tickers.resource IS 'Traded resource.';
COMMENT ON COLUMN market_tickers.last_price IS 'Price of the last trade (milli-credits per unit).';
COMMENT ON COLUMN market_tickers.best_bid IS 'Highest open buy price (milli-credits per unit).';
COMMENT ON COLUMN market_tickers.best_ask IS 'Lowest open sell price (milli-credits per unit).';
COMMENT ON COLUMN market_tickers.volume IS 'Units traded within the ticker window.';
COMMENT ON COLUMN market_tickers.volume_window IS 'Units traded per tick within the window: [[tick, units], ...], oldest first.';

CREATE TABLE market_trades (
    tick           BIGINT NOT NULL,
    seq            INTEGER NOT NULL,
    resource       TEXT NOT NULL CHECK (resource IN ('energy', 'minerals', 'rare_elements')),
    price          BIGINT NOT NULL,
    quantity       BIGINT NOT NULL,
    fee            BIGINT NOT NULL,
    buyer_id       BIGINT NOT NULL,
    seller_id      BIGINT NOT NULL,
    buy_order_id   BIGINT NOT NULL,
    sell_order_id  BIGINT NOT NULL,
    PRIMARY KEY (tick, seq)
);
CREATE INDEX market_trades_buyer ON market_trades (buyer_id);
CREATE INDEX market_trades_seller ON market_trades (seller_id);
COMMENT ON TABLE market_trades IS 'Every trade on the exchange (append-only history).';
COMMENT ON COLUMN market_trades.tick IS 'Simulation tick at the end of which it was recorded (world.tick counts the same way).';
COMMENT ON COLUMN market_trades.seq IS 'Order among the tick''s trades.';
COMMENT ON COLUMN market_trades.resource IS 'Traded resource.';
COMMENT ON COLUMN market_trades.price IS 'Price (milli-credits per unit; the resting order''s price).';
COMMENT ON COLUMN market_trades.quantity IS 'Units traded (whole units).';
COMMENT ON COLUMN market_trades.fee IS 'Fee destroyed (milli-credits), paid by the seller.';
COMMENT ON COLUMN market_trades.buyer_id IS 'Buying empire (empires.id).';
COMMENT ON COLUMN market_trades.seller_id IS 'Selling empire (empires.id).';
COMMENT ON COLUMN market_trades.buy_order_id IS 'Buy order (market_orders.id while it was open).';
COMMENT ON COLUMN market_trades.sell_order_id IS 'Sell order (market_orders.id while it was open).';

CREATE TABLE combat_reports (
    tick          BIGINT NOT NULL,
    seq           INTEGER NOT NULL,
    system_id     INTEGER NOT NULL,
    started       BIGINT NOT NULL,
    ended         BIGINT NOT NULL,
    shots         INTEGER NOT NULL,
    victor_id     BIGINT,
    participants  JSONB NOT NULL,
    losses        JSONB NOT NULL,
    PRIMARY KEY (tick, seq)
);
CREATE INDEX combat_reports_system ON combat_reports (system_id, tick);
COMMENT ON TABLE combat_reports IS 'One report per engagement once it went quiet (append-only history).';
COMMENT ON COLUMN combat_reports.tick IS 'Simulation tick at the end of which it was recorded.';
COMMENT ON COLUMN combat_reports.seq IS 'Order among the tick''s reports.';
COMMENT ON COLUMN combat_reports.system_id IS 'Star system (star_systems.id).';
COMMENT ON COLUMN combat_reports.started IS 'Tick of the first shot.';
COMMENT ON COLUMN combat_reports.ended IS 'Tick of the last shot.';
COMMENT ON COLUMN combat_reports.shots IS 'Shots fired (count).';
COMMENT ON COLUMN combat_reports.victor_id IS 'Empire with the most kills (empires.id), if any ship was lost.';
COMMENT ON COLUMN combat_reports.participants IS 'Empires that fired or were hit: [empire id, ...], sorted.';
COMMENT ON COLUMN combat_reports.losses IS 'Ships lost per empire: [[empire id, ships], ...].';

CREATE TABLE engagements (
    system_id     INTEGER PRIMARY KEY,
    started       BIGINT NOT NULL,
    last_shot     BIGINT NOT NULL,
    shots         INTEGER NOT NULL,
    participants  JSONB NOT NULL,
    losses        JSONB NOT NULL,
    kills         JSONB NOT NULL
);
COMMENT ON TABLE engagements IS 'Fights going on now, one per star system (they become combat_reports when quiet).';
COMMENT ON COLUMN engagements.system_id IS 'Star system (star_systems.id).';
COMMENT ON COLUMN engagements.started IS 'Tick of the first shot.';
COMMENT ON COLUMN engagements.last_shot IS 'Tick of the latest shot.';
COMMENT ON COLUMN engagements.shots IS 'Shots fired so far (count).';
COMMENT ON COLUMN engagements.participants IS 'Empires fighting: [empire id, ...].';
COMMENT ON COLUMN engagements.losses IS 'Ships lost so far per empire: [[empire id, ships], ...].';
COMMENT ON COLUMN engagements.kills IS 'Ships destroyed so far per empire: [[empire id, ships], ...].';
