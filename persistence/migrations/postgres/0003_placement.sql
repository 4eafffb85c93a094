-- Which shard owns which star system (docs/SHARDING.md). Written by
-- `starforge placement apply FILE`; empty for a single server without --shard.

CREATE TABLE placement (
    galaxy     TEXT PRIMARY KEY,
    exchange   TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE placement IS 'The galaxy this database holds (at most one row).';
COMMENT ON COLUMN placement.galaxy IS 'Galaxy name: prefixes every NATS subject and stream of its shards. Never changes once set.';
COMMENT ON COLUMN placement.exchange IS 'The shard that owns the exchange (shards.name).';
COMMENT ON COLUMN placement.applied_at IS 'When the placement was last applied.';
CREATE UNIQUE INDEX placement_one_row ON placement ((true));

CREATE TABLE shards (
    name    TEXT PRIMARY KEY,
    ordinal INTEGER NOT NULL UNIQUE CHECK (ordinal BETWEEN 1 AND 65535)
);
COMMENT ON TABLE shards IS 'Every shard the galaxy ever had; a retired shard keeps its row (it owns no system) so its ordinal is never reused.';
COMMENT ON COLUMN shards.name IS 'Shard name (`starforge --shard NAME`; the StatefulSet pod name).';
COMMENT ON COLUMN shards.ordinal IS 'Its number: the entity ids it allocates are ordinal × 2^48 + n. Never changes.';

CREATE TABLE system_owners (
    system_id INTEGER PRIMARY KEY,
    shard     TEXT NOT NULL REFERENCES shards (name),
    epoch     BIGINT NOT NULL CHECK (epoch >= 1)
);
CREATE INDEX system_owners_shard ON system_owners (shard);
COMMENT ON TABLE system_owners IS 'The owner of every star system: exactly one shard at a time.';
COMMENT ON COLUMN system_owners.system_id IS 'Star system (star_systems.id).';
COMMENT ON COLUMN system_owners.shard IS 'The shard that simulates it (shards.name).';
COMMENT ON COLUMN system_owners.epoch IS 'Starts at 1; one more every time the system changes owner.';
