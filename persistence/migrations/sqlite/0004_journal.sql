-- Postgres appends batches to a journal folded into `entities` from time to time; SQLite
-- writes `entities` directly. The view lets operators query the current world the same way
-- on both backends.
CREATE VIEW entities_current AS SELECT id, kind, owner, data FROM entities;
