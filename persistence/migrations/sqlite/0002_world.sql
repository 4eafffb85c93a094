-- The saved world as relational tables: the same tables and columns as on Postgres (see
-- migrations/postgres/0002_world.sql for what every column means, with units), except that
-- SQLite has no arrays or JSONB: lists (fleets.ships, ships.order_path, ships.order_points) and
-- the JSONB columns are TEXT holding JSON arrays.

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
    saved_at                 TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE star_systems (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    region  TEXT NOT NULL CHECK (region IN ('core', 'mid_rim', 'outer_rim', 'deep_space')),
    map_x   REAL NOT NULL,
    map_y   REAL NOT NULL,
    radius  REAL NOT NULL
);
CREATE INDEX star_systems_name ON star_systems (name);

CREATE TABLE planets (
    system_id INTEGER NOT NULL REFERENCES star_systems (id) ON DELETE CASCADE,
    planet    INTEGER NOT NULL,
    x         REAL NOT NULL,
    y         REAL NOT NULL,
    radius    REAL NOT NULL,
    PRIMARY KEY (system_id, planet)
);

CREATE TABLE hyperlanes (
    id      INTEGER PRIMARY KEY,
    a       INTEGER NOT NULL REFERENCES star_systems (id) ON DELETE CASCADE,
    b       INTEGER NOT NULL REFERENCES star_systems (id) ON DELETE CASCADE,
    length  REAL NOT NULL
);

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
);

CREATE TABLE fleets (
    id                    BIGINT PRIMARY KEY,
    owner_id              BIGINT NOT NULL,
    ships                 TEXT NOT NULL,
    brain_faction         TEXT CHECK (brain_faction IN ('pirates', 'traders', 'patrol')),
    brain_home_system_id  INTEGER,
    brain_next_think      BIGINT,
    CHECK ((brain_faction IS NULL) = (brain_home_system_id IS NULL) AND (brain_faction IS NULL) = (brain_next_think IS NULL))
);
CREATE INDEX fleets_owner ON fleets (owner_id);

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
    order_path          TEXT,
    order_next          INTEGER,
    order_points        TEXT,
    order_thrust        REAL,
    order_turn          REAL,
    order_fire          BOOLEAN,
    order_until         BIGINT,
    transit_to          INTEGER,
    transit_ticks_left  INTEGER,
    target_id           BIGINT,
    CHECK ((transit_to IS NULL) = (transit_ticks_left IS NULL))
);
CREATE INDEX ships_owner ON ships (owner_id);
CREATE INDEX ships_system ON ships (system_id);

CREATE TABLE colonies (
    id          BIGINT PRIMARY KEY,
    owner_id    BIGINT NOT NULL,
    system_id   INTEGER NOT NULL,
    planet      INTEGER NOT NULL,
    name        TEXT NOT NULL,
    population  BIGINT NOT NULL
);
CREATE INDEX colonies_owner ON colonies (owner_id);
CREATE INDEX colonies_system ON colonies (system_id);

CREATE TABLE buildings (
    colony_id  BIGINT NOT NULL,
    system_id  INTEGER NOT NULL,
    building   TEXT NOT NULL CHECK (building IN ('mine', 'power_plant', 'rare_extractor', 'habitat', 'shipyard', 'research_lab')),
    level      SMALLINT NOT NULL CHECK (level > 0),
    PRIMARY KEY (colony_id, building)
);

CREATE TABLE construction_queue (
    colony_id     BIGINT NOT NULL,
    position      INTEGER NOT NULL,
    system_id     INTEGER NOT NULL,
    building      TEXT NOT NULL CHECK (building IN ('mine', 'power_plant', 'rare_extractor', 'habitat', 'shipyard', 'research_lab')),
    target_level  SMALLINT NOT NULL,
    ticks_left    INTEGER NOT NULL,
    PRIMARY KEY (colony_id, position)
);

CREATE TABLE shipyard_queue (
    colony_id   BIGINT NOT NULL,
    position    INTEGER NOT NULL,
    system_id   INTEGER NOT NULL,
    class       TEXT NOT NULL CHECK (class IN ('fighter', 'corvette', 'cruiser', 'battleship', 'freighter')),
    ticks_left  INTEGER NOT NULL,
    fleet_id    BIGINT,
    PRIMARY KEY (colony_id, position)
);

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

CREATE TABLE market_tickers (
    resource       TEXT PRIMARY KEY CHECK (resource IN ('energy', 'minerals', 'rare_elements')),
    last_price     BIGINT,
    best_bid       BIGINT,
    best_ask       BIGINT,
    volume         BIGINT NOT NULL,
    volume_window  TEXT NOT NULL
);

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

CREATE TABLE combat_reports (
    tick          BIGINT NOT NULL,
    seq           INTEGER NOT NULL,
    system_id     INTEGER NOT NULL,
    started       BIGINT NOT NULL,
    ended         BIGINT NOT NULL,
    shots         INTEGER NOT NULL,
    victor_id     BIGINT,
    participants  TEXT NOT NULL,
    losses        TEXT NOT NULL,
    PRIMARY KEY (tick, seq)
);
CREATE INDEX combat_reports_system ON combat_reports (system_id, tick);

CREATE TABLE engagements (
    system_id     INTEGER PRIMARY KEY,
    started       BIGINT NOT NULL,
    last_shot     BIGINT NOT NULL,
    shots         INTEGER NOT NULL,
    participants  TEXT NOT NULL,
    losses        TEXT NOT NULL,
    kills         TEXT NOT NULL
);
