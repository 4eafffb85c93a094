-- Postgres leaves room for HOT updates in `entities` here; SQLite has no fill factor, so this
-- version only keeps both backends' migration lists identical.
SELECT 1;
