-- The persisted world (see persistence/src/rows.rs for the row encoding).
-- One row: the state of the last flush (tick, batch id, resources, galaxy).
CREATE TABLE world (
    id       SMALLINT PRIMARY KEY CHECK (id = 1),
    format   INTEGER NOT NULL,
    batch    BIGINT NOT NULL,
    tick     BIGINT NOT NULL,
    meta     BYTEA NOT NULL,
    galaxy   BYTEA NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every persisted entity (empires, fleets, ships, colonies, open market orders), keyed by EntityId.
CREATE TABLE entities (
    id    BIGINT PRIMARY KEY,
    kind  SMALLINT NOT NULL,
    owner BIGINT,
    data  BYTEA NOT NULL
);

-- Append-only trades (kind 1) and combat reports (kind 2).
CREATE TABLE history (
    tick BIGINT NOT NULL,
    kind SMALLINT NOT NULL,
    seq  INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (tick, kind, seq)
);
