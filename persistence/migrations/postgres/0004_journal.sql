-- The journal: the entity rows of recent batches, appended as they come (an append costs a
-- third of an in-place update: no index lookup, no page pruning), folded into `entities`
-- when it holds enough rows (writer.rs; the entities that change every second are written to
-- `entities` once per fold instead of once per batch). A row with NULL kind and data records
-- a despawned entity. The world is `entities` overlaid with the journal's newest row per id:
-- the view `entities_current`, which the restore reads and operators should query.
CREATE TABLE journal (
    batch BIGINT NOT NULL,
    id    BIGINT NOT NULL,
    kind  SMALLINT,
    owner BIGINT,
    data  BYTEA,
    CHECK ((kind IS NULL) = (data IS NULL))
);
-- Never vacuumed: a fold empties it with TRUNCATE, which frees every page, dead or alive.
-- (An autovacuum run on it would hold a lock TRUNCATE has to wait for.)
ALTER TABLE journal SET (autovacuum_enabled = false);

-- Rows in the journal, kept with the batch id so the writer knows when to fold.
ALTER TABLE world ADD COLUMN journal_rows BIGINT NOT NULL DEFAULT 0;

CREATE VIEW entities_current AS
SELECT id, kind, owner, data
FROM (
    SELECT DISTINCT ON (id) id, kind, owner, data
    FROM (
        SELECT batch, id, kind, owner, data FROM journal
        UNION ALL
        SELECT -1, id, kind, owner, data FROM entities
    ) AS versions
    ORDER BY id, batch DESC
) AS newest
WHERE data IS NOT NULL;
