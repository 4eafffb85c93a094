-- The same tables as on Postgres (docs/SHARDING.md). Shards share one Postgres database, so
-- `starforge placement apply` refuses SQLite; the tables keep the two schemas alike.

CREATE TABLE placement (
    galaxy     TEXT PRIMARY KEY,
    exchange   TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE shards (
    name    TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE CHECK (ordinal BETWEEN 1 AND 65535)
);

CREATE TABLE system_owners (
    system_id INTEGER PRIMARY KEY,
    shard     TEXT NOT NULL REFERENCES shards (name),
    epoch     INTEGER NOT NULL CHECK (epoch >= 1)
);
CREATE INDEX system_owners_shard ON system_owners (shard);
