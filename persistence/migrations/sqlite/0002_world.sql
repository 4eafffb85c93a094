-- The persisted world (see persistence/src/rows.rs for the row encoding).
-- One row: the state of the last flush (tick, batch id, resources, galaxy).
CREATE TABLE world (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    format   INTEGER NOT NULL,
    batch    INTEGER NOT NULL,
    tick     INTEGER NOT NULL,
    meta     BLOB NOT NULL,
    galaxy   BLOB NOT NULL,
    saved_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Every persisted entity (empires, fleets, ships, colonies, open market orders), keyed by EntityId.
CREATE TABLE entities (
    id    INTEGER PRIMARY KEY,
    kind  INTEGER NOT NULL,
    owner INTEGER,
    data  BLOB NOT NULL
);

-- Append-only trades (kind 1) and combat reports (kind 2).
CREATE TABLE history (
    tick INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    seq  INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (tick, kind, seq)
);
