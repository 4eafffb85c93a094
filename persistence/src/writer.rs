//! The writer task: applies batches to the database, one transaction each, in order.
//!
//! The simulation hands a [`Batch`] to the task through a bounded queue, taking a place in it
//! first ([`Writer::reserve`]; with the queue full, the changes stay pending and newer ones are
//! merged into them). The task, on the persistence
//! tokio runtime, encodes the batch once ([`EncodedBatch`]) and applies it in one transaction
//! with set-based statements: Postgres `UNNEST` arrays, SQLite multi-row `VALUES`. On Postgres
//! a batch's entity rows (and a row without data per despawned entity) are appended to the
//! journal, which is folded into `entities` (keyed by `EntityId`) every `journal_fold_rows`
//! rows; a batch that large, or one replacing the world, is written into `entities` after a
//! fold: an `UPDATE` of the rows the writer knows the table holds, an upsert of the others (see
//! [`apply_with`]). SQLite: upserts and deletes keyed by `EntityId`. History is appended with
//! `ON CONFLICT DO NOTHING`. The `world` row records the batch id; a batch whose id is not newer
//! than the stored one is skipped, so re-applying one after an ambiguous failure (a lost
//! `COMMIT` acknowledgement) changes nothing. Each applied batch is confirmed by id.
//!
//! Failures: a *transient* one (connection refused or lost, timeout, server shutting down,
//! too many connections, serialization failure, database locked) is retried with exponential
//! backoff ([`WriterOptions`]), the state is [`WriterState::Retrying`]; anything else (a
//! constraint or permission error, a trigger raising, an unencodable id) is
//! [`WriterState::Failed`]: logged as an error, retried slowly in case an operator fixes the
//! cause; the server halts the simulation while it lasts (see docs/OPERATIONS.md).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, PgPool, SqlitePool};
use starforge_components::galaxy::Galaxy;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::db::Db;
use crate::rows::{self, FORMAT, HistoryEntry, WorldMeta};
use crate::{Changes, Entry};

/// Changed state at one tick, for one transaction.
#[derive(Debug)]
pub struct Batch {
    /// Increasing id (continues from the database's after a restore).
    pub id: u64,
    /// Resources at the batch's tick.
    pub meta: WorldMeta,
    /// The galaxy, sent with the first batch of a run.
    pub galaxy: Option<Arc<Galaxy>>,
    /// Changed entities (`Some`) and despawned ones (`None`); for an id present more than
    /// once, the last entry is the newest state (the only one written).
    pub entities: Changes,
    /// Trades and combat reports since the previous batch.
    pub history: Vec<HistoryEntry>,
}

impl Batch {
    /// Rows this batch writes: entities upserted or deleted, history, and the world row (an
    /// id collected twice counts twice; the encoded batch counts it once).
    pub fn rows(&self) -> usize {
        self.entities.len() + self.history.len() + 1
    }
}

/// A batch in the shape the statements bind: columns as arrays; the rows in two parts (see
/// `existing`), each sorted by id.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncodedBatch {
    /// The batch is the whole world: every saved entity row not in it is deleted (a spill
    /// file written at shutdown, see [`crate::spill`]).
    pub replace: bool,
    /// The batch id.
    pub id: i64,
    /// Its tick.
    pub tick: i64,
    /// Encoded [`WorldMeta`].
    pub meta: Vec<u8>,
    /// Encoded galaxy, if the batch carries it.
    pub galaxy: Option<Vec<u8>>,
    /// Ids to delete.
    pub deletes: Vec<i64>,
    /// The first `existing` rows of `ids`..`data` are entities whose rows the writer knows the
    /// table holds ([`Written`]), so they are updated in place; the others are upserted. Each
    /// part is sorted by id. A hint only (a wrong one costs time, not correctness), so not kept
    /// in a spill file.
    #[serde(skip)]
    pub existing: usize,
    /// Written ids.
    pub ids: Vec<i64>,
    /// Their kinds.
    pub kinds: Vec<i16>,
    /// Their owners.
    pub owners: Vec<Option<i64>>,
    /// Their records.
    pub data: Vec<Vec<u8>>,
    /// History ticks.
    pub h_tick: Vec<i64>,
    /// History kinds.
    pub h_kind: Vec<i16>,
    /// History sequence numbers.
    pub h_seq: Vec<i32>,
    /// History records.
    pub h_data: Vec<Vec<u8>>,
}

impl EncodedBatch {
    /// Rows written (entities, history, world).
    pub fn rows(&self) -> usize {
        self.deletes.len() + self.ids.len() + self.h_tick.len() + 1
    }

    /// Bytes of record data.
    pub fn bytes(&self) -> usize {
        self.meta.len()
            + self.galaxy.as_ref().map_or(0, Vec::len)
            + self.data.iter().map(Vec::len).sum::<usize>()
            + self.h_data.iter().map(Vec::len).sum::<usize>()
    }
}

fn to_i64(v: u64, what: &str) -> Result<i64, String> {
    i64::try_from(v).map_err(|_| format!("{what} {v} does not fit a BIGINT"))
}

/// The entity rows the table holds, as far as a writer knows: those it was given at start (a
/// restored world's) and those it has written since, less those it has deleted. Bounded by
/// the live entities. Kept sorted: a batch's sorted ids are looked up in one walk (a hash
/// set's lookups, cache misses in a set of a whole world's ids, cost ~0.25 µs each).
#[derive(Debug, Default)]
pub struct Written(Vec<i64>);

impl Written {
    /// The rows a database holds, by id (any order; duplicates are ignored): what a restore
    /// read.
    pub fn from_ids(mut ids: Vec<i64>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        Written(ids)
    }

    /// Records that `b` was applied (or that the database already held it).
    pub fn note(&mut self, b: &EncodedBatch) {
        if b.replace {
            self.0.clear();
        }
        if !b.deletes.is_empty() {
            let mut deletes = b.deletes.clone();
            deletes.sort_unstable();
            self.0.retain(|id| deletes.binary_search(id).is_err());
        }
        // The rows after `existing` were not in the list when the batch was encoded (the rows
        // before it were, and stay); merged into the sorted list in one pass.
        let mut add: Vec<i64> =
            b.ids[b.existing.min(b.ids.len())..].iter().copied().filter(|id| !self.contains(*id)).collect();
        if add.is_empty() {
            return;
        }
        add.sort_unstable();
        add.dedup();
        let mut add = add.into_iter().peekable();
        let old = std::mem::take(&mut self.0);
        self.0.reserve(old.len() + add.len());
        for id in old {
            while let Some(a) = add.next_if(|a| *a < id) {
                self.0.push(a);
            }
            self.0.push(id);
        }
        self.0.extend(add);
    }

    /// Whether the table holds row `id`, as far as the writer knows.
    pub fn contains(&self, id: i64) -> bool {
        self.0.binary_search(&id).is_ok()
    }
}

/// Encodes `batch`: the entities `written` holds first, then the others, each part sorted by
/// id (so statements touch rows in one order).
pub fn encode_batch(batch: &Batch, written: &Written) -> Result<EncodedBatch, String> {
    let mut out = EncodedBatch {
        id: to_i64(batch.id, "batch id")?,
        tick: to_i64(batch.meta.tick, "tick")?,
        meta: rows::encode(&batch.meta),
        galaxy: batch.galaxy.as_deref().map(rows::encode),
        ..EncodedBatch::default()
    };
    let push = |out: &mut EncodedBatch, id: i64, r: &rows::Record| -> Result<(), String> {
        out.ids.push(id);
        out.kinds.push(r.kind().code());
        out.owners.push(r.owner().map(|o| to_i64(o.0, "owner id")).transpose()?);
        out.data.push(r.encode());
        Ok(())
    };
    // The entries are sorted by id: the rows the table holds in this pass, the others (few
    // in a steady state) after it.
    let mut others = Vec::new();
    let mut known = written.0.iter().copied().peekable();
    for (id, record) in batch.entities.newest() {
        let id = to_i64(id.0, "entity id")?;
        while known.next_if(|k| *k < id).is_some() {}
        match record {
            None => out.deletes.push(id),
            Some(r) if known.peek() == Some(&id) => push(&mut out, id, r)?,
            Some(r) => others.push((id, r)),
        }
    }
    out.existing = out.ids.len();
    for (id, r) in others {
        push(&mut out, id, r)?;
    }
    for h in &batch.history {
        out.h_tick.push(to_i64(h.tick, "history tick")?);
        out.h_kind.push(h.event.code());
        out.h_seq.push(i32::try_from(h.seq).map_err(|_| format!("history seq {} too large", h.seq))?);
        out.h_data.push(h.event.encode());
    }
    Ok(out)
}

/// Rows per statement (Postgres arrays / SQLite `VALUES` lists). A steady-state batch (~26,000
/// rows in the persistbench world) goes in one Postgres statement; a whole-world batch in a few.
const PG_CHUNK: usize = 50_000;
const SQLITE_CHUNK: usize = 500;

/// What [`apply`] did with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The database already held this batch or a newer one: nothing changed.
    AlreadyHeld,
    /// Written: on Postgres appended to the journal or, with a fold, into `entities` (see
    /// [`apply_with`]); on SQLite into `entities`.
    Written {
        /// Entity rows updated in place in `entities` (Postgres, batches written there: rows
        /// the writer knew the table held), the others upserted.
        in_place: u64,
        /// Journal rows folded into `entities` by this transaction (0: no fold).
        folded: u64,
    },
}

impl Applied {
    /// Whether the batch was written by this call.
    pub fn written(self) -> bool {
        matches!(self, Applied::Written { .. })
    }
}

/// Journal rows at which a batch's transaction folds the journal into `entities`
/// ([`WriterOptions::journal_fold_rows`]'s default). Bounds the journal (and what a restore
/// reads besides `entities`) to fewer rows than this; in the persistbench world (16,000 rows a
/// second) a fold every ~12 s.
pub const JOURNAL_FOLD_ROWS: u64 = 200_000;

/// Applies `batch` in one transaction ([`apply_with`] at [`JOURNAL_FOLD_ROWS`]).
pub async fn apply(db: &Db, batch: &EncodedBatch) -> Result<Applied, sqlx::Error> {
    apply_with(db, batch, JOURNAL_FOLD_ROWS).await
}

/// Applies `batch` in one transaction. On Postgres a batch is appended to the journal, which
/// the transaction then folds into `entities` if it holds `fold_at` rows or more; a batch of
/// `fold_at` rows or more, or one that replaces the world, is written into `entities` after a
/// fold (so `fold_at` 0 means no journal).
pub async fn apply_with(db: &Db, batch: &EncodedBatch, fold_at: u64) -> Result<Applied, sqlx::Error> {
    match db {
        Db::Postgres(pool) => apply_pg(pool, batch, fold_at).await,
        Db::Sqlite(pool) => apply_sqlite(pool, batch).await,
    }
}

/// Postgres: a batch that does not replace the world is *appended* to `journal` (its entity
/// rows, and a row with no data per deleted id): an append costs about a third of an in-place
/// update of a scattered row (no primary-key lookup, no page pruning; measured 20-40 ms
/// against 65-110 ms for 16,187 rows, docs/PERFORMANCE.md, issue 4, ninth pass). When the
/// journal reaches `fold_at` rows with a batch, that batch's transaction also folds the journal
/// into `entities` ([`fold_pg`]: an entity that changed in every batch since the last fold is
/// written there once). A batch of `fold_at` rows or more (a whole world, or the changes of an
/// outage) is not appended but written into `entities` after a fold, as is a batch that
/// replaces the world. Either way the world the
/// database holds is `entities` overlaid with the journal's newest row per id (the view
/// `entities_current`), and it changes only at the commit.
///
/// The arrays are unnested in the select list (`SELECT UNNEST($1), UNNEST($2), ..`), not with
/// `FROM UNNEST($1, $2, ..)`: the `FROM` form is a function scan that first copies every row
/// into a tuplestore (spilling to a temp file beyond `work_mem`, which a 20,000-row chunk of
/// ~100-byte records did), while the select-list form streams the rows into the statement.
/// Both zip equal-length arrays row by row. Measured on a 236,000-row table, 25,700 scattered
/// rows per transaction: upsert 5-10 % faster (docs/PERFORMANCE.md, issue 4).
async fn apply_pg(pool: &PgPool, b: &EncodedBatch, fold_at: u64) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let stored: Option<(i64, i64)> = sqlx::query_as("SELECT batch, journal_rows FROM world WHERE id = 1 FOR UPDATE")
        .fetch_optional(&mut *tx)
        .await?;
    if stored.is_some_and(|(s, _)| s >= b.id) {
        tx.rollback().await?;
        return Ok(Applied::AlreadyHeld);
    }
    let mut journal = stored.map_or(0, |(_, j)| u64::try_from(j).unwrap_or(0));
    let (mut in_place, mut folded) = (0, 0);
    let rows = (b.ids.len() + b.deletes.len()) as u64;
    if b.replace || rows >= fold_at {
        // Straight into `entities`, after the journal (older) is folded there. Folded even if
        // the count says it is empty: rows left in it would hide the newer ones written here.
        folded = fold_pg(&mut tx).await?;
        journal = 0;
        if b.replace {
            // Only the rows the batch does not hold: the others are updated in place below (a
            // `DELETE` of every row and an insert would leave the whole table as dead rows).
            sqlx::query(
                "DELETE FROM entities e WHERE NOT EXISTS \
                 (SELECT 1 FROM UNNEST($1::int8[]) AS k(id) WHERE k.id = e.id)",
            )
            .bind(&b.ids)
            .execute(&mut *tx)
            .await?;
        }
        if !b.deletes.is_empty() {
            sqlx::query("DELETE FROM entities WHERE id = ANY($1)").bind(&b.deletes).execute(&mut *tx).await?;
        }
        for (part, existing) in [(0..b.existing, true), (b.existing..b.ids.len(), false)] {
            for range in chunks(part) {
                in_place += write_entities_pg(&mut tx, b, range, existing).await?;
            }
        }
    } else {
        for range in chunks(0..b.ids.len()) {
            sqlx::query(
                "INSERT INTO journal (batch, id, kind, owner, data) \
                 SELECT $1, UNNEST($2::int8[]), UNNEST($3::int2[]), UNNEST($4::int8[]), UNNEST($5::bytea[])",
            )
            .bind(b.id)
            .bind(&b.ids[range.clone()])
            .bind(&b.kinds[range.clone()])
            .bind(&b.owners[range.clone()])
            .bind(&b.data[range])
            .execute(&mut *tx)
            .await?;
        }
        for range in chunks(0..b.deletes.len()) {
            sqlx::query("INSERT INTO journal (batch, id) SELECT $1, UNNEST($2::int8[])")
                .bind(b.id)
                .bind(&b.deletes[range])
                .execute(&mut *tx)
                .await?;
        }
        journal += rows;
        if journal >= fold_at {
            folded = fold_pg(&mut tx).await?;
            journal = 0;
        }
    }
    for range in chunks(0..b.h_tick.len()) {
        sqlx::query(
            "INSERT INTO history (tick, kind, seq, data) \
             SELECT UNNEST($1::int8[]), UNNEST($2::int2[]), UNNEST($3::int4[]), UNNEST($4::bytea[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&b.h_tick[range.clone()])
        .bind(&b.h_kind[range.clone()])
        .bind(&b.h_seq[range.clone()])
        .bind(&b.h_data[range])
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO world (id, format, batch, tick, meta, galaxy, journal_rows) VALUES (1, $1, $2, $3, $4, $5, $7) \
         ON CONFLICT (id) DO UPDATE SET format = EXCLUDED.format, batch = EXCLUDED.batch, tick = EXCLUDED.tick, \
         meta = EXCLUDED.meta, galaxy = CASE WHEN $6 THEN EXCLUDED.galaxy ELSE world.galaxy END, \
         journal_rows = EXCLUDED.journal_rows, saved_at = now()",
    )
    .bind(FORMAT)
    .bind(b.id)
    .bind(b.tick)
    .bind(&b.meta)
    .bind(b.galaxy.as_deref().unwrap_or_default())
    .bind(b.galaxy.is_some())
    .bind(i64::try_from(journal).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Applied::Written { in_place, folded })
}

/// `range` in pieces of at most [`PG_CHUNK`] rows (none if it is empty).
fn chunks(range: std::ops::Range<usize>) -> impl Iterator<Item = std::ops::Range<usize>> {
    range.clone().step_by(PG_CHUNK).map(move |start| start..(start + PG_CHUNK).min(range.end))
}

/// Folds the journal into `entities` inside the caller's transaction: for each id, its newest
/// journal row replaces the entity's row (an `UPDATE` in place, an `INSERT` for an entity new
/// since the last fold), or deletes it if the entity was despawned; then the journal is
/// emptied. Returns the journal rows folded. Settings it changes for the statement are reset
/// before it returns to the session's defaults (`TO DEFAULT`), so a caller must not have
/// changed them earlier in the transaction (no caller does: `apply_pg` folds first).
///
/// One statement: the newest rows are sorted once (in memory: `work_mem` is raised; a
/// 200,000-row journal is ~25 MB) into a materialized CTE that the delete, the update and the
/// insert read; they see the same snapshot, so the insert's `NOT EXISTS` finds exactly the
/// entities new since the last fold. Joins are nested loops probing the primary key once per
/// row (see `write_entities_pg`). Then the journal is emptied by `TRUNCATE` (no dead rows to
/// vacuum; the journal is never vacuumed, migration 4), which needs the journal to itself: if
/// a reader holds it (a `pg_dump` in progress, a long query on `entities_current`, a manual
/// `VACUUM`) for more than 200 ms, by `DELETE` instead (its dead rows go at the next
/// `TRUNCATE`), so a fold never waits on a backup.
pub async fn fold_pg(tx: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM journal").fetch_one(&mut *tx).await?;
    if rows == 0 {
        return Ok(0);
    }
    sqlx::raw_sql(
        "SET LOCAL work_mem = '64MB'; SET LOCAL enable_mergejoin = off; SET LOCAL enable_hashjoin = off; \
         WITH newest AS MATERIALIZED \
                 (SELECT DISTINCT ON (id) id, kind, owner, data FROM journal ORDER BY id, batch DESC), \
             gone AS (DELETE FROM entities e USING newest n WHERE n.data IS NULL AND e.id = n.id), \
             updated AS (UPDATE entities e SET kind = n.kind, owner = n.owner, data = n.data \
                         FROM newest n WHERE n.data IS NOT NULL AND e.id = n.id) \
         INSERT INTO entities (id, kind, owner, data) \
             SELECT id, kind, owner, data FROM newest n \
             WHERE n.data IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = n.id); \
         SET LOCAL work_mem TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT; \
         SET LOCAL enable_hashjoin TO DEFAULT",
    )
    .execute(&mut *tx)
    .await?;
    let truncated = sqlx::raw_sql("SAVEPOINT fold_truncate; SET LOCAL lock_timeout = '200ms'; TRUNCATE journal")
        .execute(&mut *tx)
        .await;
    match truncated {
        Ok(_) => {
            sqlx::raw_sql("RELEASE SAVEPOINT fold_truncate; SET LOCAL lock_timeout TO DEFAULT")
                .execute(&mut *tx)
                .await?
        }
        // lock_not_available: someone reads the journal.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT fold_truncate; DELETE FROM journal; RELEASE SAVEPOINT fold_truncate")
                .execute(&mut *tx)
                .await?
        }
        Err(e) => return Err(e),
    };
    Ok(rows as u64)
}

/// Folds the journal into `entities` in a transaction of its own (Postgres; nothing to do on
/// SQLite): after it, `entities` alone holds the saved world. Returns the journal rows folded.
/// Takes the `world` row's lock first, as a batch does, so it never runs beside one.
pub async fn fold(db: &Db) -> Result<u64, sqlx::Error> {
    let Db::Postgres(pool) = db else { return Ok(0) };
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM world WHERE id = 1 FOR UPDATE").fetch_optional(&mut *tx).await?;
    let folded = fold_pg(&mut tx).await?;
    sqlx::query("UPDATE world SET journal_rows = 0 WHERE id = 1").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(folded)
}

/// Writes the entity rows `range` of `b`: an `UPDATE` if they are `existing` rows (see
/// [`EncodedBatch::existing`]), an upsert otherwise or if the `UPDATE` did not find them all.
///
/// Nearly every row of a steady-state batch exists already (an entity that changed). An
/// `INSERT .. ON CONFLICT DO UPDATE` of such a row first locks the conflicting row (a WAL
/// record of its own, the row's page dirtied twice) and then updates it; a plain `UPDATE`
/// only updates it. Measured with 16,400 scattered rows of a 236,000-row table: 39,515 WAL
/// records against 23,060, the statement 10-30 % faster (docs/PERFORMANCE.md, issue 4, sixth
/// pass). The batch's ids are unique (one entry per entity), so each row is updated once. If
/// the table lacks some of them (rows removed behind the writer's back), the upsert of the
/// same rows writes them: the result is always the upsert's. Returns the rows updated in place
/// (0 if the rows were upserted).
async fn write_entities_pg(
    tx: &mut sqlx::PgConnection,
    b: &EncodedBatch,
    range: std::ops::Range<usize>,
    existing: bool,
) -> Result<u64, sqlx::Error> {
    let bind = |sql: &'static str| {
        sqlx::query(sql)
            .bind(&b.ids[range.clone()])
            .bind(&b.kinds[range.clone()])
            .bind(&b.owners[range.clone()])
            .bind(&b.data[range.clone()])
    };
    if existing {
        // Without this the planner, which sees the arrays' lengths, joins a large batch by a
        // merge join over the whole primary key (measured: 180 ms against 132 ms for 16,400
        // rows of a 236,000-row table); the nested loop probes the index once per row. For
        // the rest of this transaction: a statement that needs a hash join (the replacing
        // `DELETE` in `apply_pg`) must run before it.
        sqlx::raw_sql("SET LOCAL enable_mergejoin = off; SET LOCAL enable_hashjoin = off").execute(&mut *tx).await?;
        let updated = bind(
            "UPDATE entities e SET kind = v.kind, owner = v.owner, data = v.data \
             FROM (SELECT UNNEST($1::int8[]) AS id, UNNEST($2::int2[]) AS kind, \
                          UNNEST($3::int8[]) AS owner, UNNEST($4::bytea[]) AS data) v \
             WHERE e.id = v.id",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == range.len() as u64 {
            return Ok(updated);
        }
        warn!(
            missing = range.len() as u64 - updated,
            "persistence: rows the writer knew in the entities table are gone; writing them again"
        );
    }
    bind(
        "INSERT INTO entities (id, kind, owner, data) \
         SELECT UNNEST($1::int8[]), UNNEST($2::int2[]), UNNEST($3::int8[]), UNNEST($4::bytea[]) \
         ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, owner = EXCLUDED.owner, data = EXCLUDED.data",
    )
    .execute(&mut *tx)
    .await?;
    Ok(0)
}

fn placeholders(rows: usize, per_row: usize) -> String {
    let row = format!("({})", vec!["?"; per_row].join(", "));
    vec![row; rows].join(", ")
}

async fn apply_sqlite(pool: &SqlitePool, b: &EncodedBatch) -> Result<Applied, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT batch FROM world WHERE id = 1").fetch_optional(&mut *tx).await?;
    if stored.is_some_and(|s| s >= b.id) {
        tx.rollback().await?;
        return Ok(Applied::AlreadyHeld);
    }
    if b.replace {
        sqlx::query("DELETE FROM entities").execute(&mut *tx).await?;
    }
    for chunk in b.deletes.chunks(SQLITE_CHUNK) {
        let sql = format!("DELETE FROM entities WHERE id IN ({})", vec!["?"; chunk.len()].join(", "));
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut *tx).await?;
    }
    let mut start = 0;
    while start < b.ids.len() {
        let end = (start + SQLITE_CHUNK).min(b.ids.len());
        let sql = format!(
            "INSERT INTO entities (id, kind, owner, data) VALUES {} \
             ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, owner = excluded.owner, data = excluded.data",
            placeholders(end - start, 4)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for i in start..end {
            q = q.bind(b.ids[i]).bind(b.kinds[i]).bind(b.owners[i]).bind(&b.data[i]);
        }
        q.execute(&mut *tx).await?;
        start = end;
    }
    let mut start = 0;
    while start < b.h_tick.len() {
        let end = (start + SQLITE_CHUNK).min(b.h_tick.len());
        let sql = format!(
            "INSERT INTO history (tick, kind, seq, data) VALUES {} ON CONFLICT DO NOTHING",
            placeholders(end - start, 4)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for i in start..end {
            q = q.bind(b.h_tick[i]).bind(b.h_kind[i]).bind(b.h_seq[i]).bind(&b.h_data[i]);
        }
        q.execute(&mut *tx).await?;
        start = end;
    }
    sqlx::query(
        "INSERT INTO world (id, format, batch, tick, meta, galaxy) VALUES (1, ?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (id) DO UPDATE SET format = excluded.format, batch = excluded.batch, tick = excluded.tick, \
         meta = excluded.meta, galaxy = CASE WHEN ?6 THEN excluded.galaxy ELSE world.galaxy END, \
         saved_at = CURRENT_TIMESTAMP",
    )
    .bind(FORMAT)
    .bind(b.id)
    .bind(b.tick)
    .bind(&b.meta)
    .bind(b.galaxy.as_deref().unwrap_or_default())
    .bind(b.galaxy.is_some())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    // SQLite has no row lock to save: every row is upserted.
    Ok(Applied::Written { in_place: 0, folded: 0 })
}

/// Whether retrying `error` later may succeed without anyone changing anything: the database
/// is unreachable, restarting, overloaded or busy.
pub fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // Postgres SQLSTATE classes: 08 connection exception, 53 insufficient resources
            // (disk full, out of memory, too many connections), 57P0x server shutting down or
            // starting, 40001/40P01 serialization failure / deadlock, 55P03 lock not available.
            // SQLite result codes: 5 BUSY, 6 LOCKED (and their extended codes), 10 IOERR, 13 FULL.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || matches!(code.as_ref(), "40001" | "40P01" | "55P03")
                || code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13))
        }
        _ => false,
    }
}

/// How the writer behaves.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Batches queued between the simulation and the writer (beyond the one being written).
    pub queue: usize,
    /// First wait after a transient failure; doubles per attempt.
    pub backoff_min: Duration,
    /// Longest wait between attempts after transient failures.
    pub backoff_max: Duration,
    /// Wait between attempts while the writer is [`WriterState::Failed`].
    pub failed_retry: Duration,
    /// One attempt (the whole transaction) taking longer than this counts as a transient
    /// failure (a stalled connection never answers).
    pub attempt_timeout: Duration,
    /// Postgres: journal rows at which a batch's transaction folds the journal into
    /// `entities` ([`apply_with`]; default [`JOURNAL_FOLD_ROWS`]).
    pub journal_fold_rows: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            queue: 1,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            failed_retry: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(60),
            journal_fold_rows: JOURNAL_FOLD_ROWS,
        }
    }
}

/// The writer's condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterState {
    /// Keeping up.
    Healthy,
    /// A batch failed for a transient reason and is being retried with backoff.
    Retrying {
        /// Attempts that failed so far for the current batch.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// A batch failed for a reason that retrying alone will not fix; it is retried slowly.
    Failed {
        /// The error.
        error: String,
    },
}

/// What the writer has done, shared with the simulation and `/metrics`.
#[derive(Debug)]
pub struct WriterStatus {
    inner: Mutex<StatusSnapshot>,
}

/// A copy of [`WriterStatus`].
#[derive(Clone, Debug, PartialEq)]
pub struct StatusSnapshot {
    /// Current condition.
    pub state: WriterState,
    /// Newest batch in the database.
    pub confirmed_batch: u64,
    /// Its tick.
    pub confirmed_tick: u64,
    /// Batches applied by this writer.
    pub batches: u64,
    /// Rows written by this writer.
    pub rows: u64,
    /// Of those, entity rows updated in place in `entities` by batches written there (Postgres:
    /// batches of `journal_fold_rows` rows or more, or replacing the world; rows it knew the
    /// table held; the others are upserts, which cost more).
    pub rows_in_place: u64,
    /// Journal folds (Postgres; see [`apply_with`]).
    pub folds: u64,
    /// Journal rows folded into `entities`.
    pub rows_folded: u64,
    /// Record bytes written by this writer.
    pub bytes: u64,
    /// Failed attempts (transient or not).
    pub failures: u64,
    /// Duration of the last successful transaction (ms).
    pub last_flush_ms: f64,
}

impl WriterStatus {
    fn new(confirmed_batch: u64, confirmed_tick: u64) -> Self {
        WriterStatus {
            inner: Mutex::new(StatusSnapshot {
                state: WriterState::Healthy,
                confirmed_batch,
                confirmed_tick,
                batches: 0,
                rows: 0,
                rows_in_place: 0,
                folds: 0,
                rows_folded: 0,
                bytes: 0,
                failures: 0,
                last_flush_ms: 0.0,
            }),
        }
    }

    fn update(&self, f: impl FnOnce(&mut StatusSnapshot)) {
        // Plain counters: a panic while holding the lock cannot leave them inconsistent.
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// A batch the database now holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Confirmation {
    /// Its id.
    pub batch: u64,
    /// Its tick.
    pub tick: u64,
    /// Rows written.
    pub rows: usize,
    /// Time from the first attempt's start to the commit (includes retries).
    pub elapsed: Duration,
    /// Duration of the successful transaction alone (a journal fold included).
    pub transaction: Duration,
    /// Journal rows the transaction folded into `entities` (0: no fold).
    pub folded: u64,
}

/// The simulation's handle on the writer task.
#[derive(Debug)]
pub struct Writer {
    tx: mpsc::Sender<Batch>,
    confirmations: Mutex<std::sync::mpsc::Receiver<Confirmation>>,
    status: Arc<WriterStatus>,
    spare: Arc<Mutex<Vec<Vec<Entry>>>>,
}

/// Emptied entity buffers the writer keeps for the collection to reuse.
pub const SPARE_BUFFERS: usize = 4;

impl Writer {
    /// Starts the writer task on `runtime`. `confirmed_batch`/`confirmed_tick` describe what the
    /// database holds already (from a restore; 0 for a new database), `written` the entity rows
    /// it holds (from a restore: their first write is an update in place, not an upsert).
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        db: Db,
        options: WriterOptions,
        confirmed_batch: u64,
        confirmed_tick: u64,
        written: Written,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let (confirm_tx, confirmations) = std::sync::mpsc::channel();
        let status = Arc::new(WriterStatus::new(confirmed_batch, confirmed_tick));
        let spare = Arc::new(Mutex::new(Vec::new()));
        runtime.spawn(run(db, rx, confirm_tx, status.clone(), spare.clone(), options, written));
        Writer { tx, confirmations: Mutex::new(confirmations), status, spare }
    }

    /// Emptied buffers of written batches, for reuse.
    pub fn take_spare(&self) -> Vec<Vec<Entry>> {
        std::mem::take(&mut *self.spare.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A place in the queue for the next batch; `None` if the queue is full (the writer lags)
    /// or the writer has stopped.
    pub fn reserve(&self) -> Option<mpsc::Permit<'_, Batch>> {
        self.tx.try_reserve().ok()
    }

    /// Whether the writer task has stopped (it only stops if it panicked).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Confirmations received since the last call.
    pub fn confirmations(&self) -> Vec<Confirmation> {
        self.confirmations.lock().unwrap_or_else(PoisonError::into_inner).try_iter().collect()
    }

    /// The shared status.
    pub fn status(&self) -> &Arc<WriterStatus> {
        &self.status
    }
}

async fn run(
    db: Db,
    mut rx: mpsc::Receiver<Batch>,
    confirmations: std::sync::mpsc::Sender<Confirmation>,
    status: Arc<WriterStatus>,
    spare: Arc<Mutex<Vec<Vec<Entry>>>>,
    options: WriterOptions,
    mut written: Written,
) {
    // Entries of recent batches (the larger of the last one and half the one before).
    let mut typical = 0usize;
    while let Some(batch) = rx.recv().await {
        let first_attempt = Instant::now();
        let encoded = match encode_batch(&batch, &written) {
            Ok(e) => e,
            Err(reason) => {
                // Nothing can write this batch; hold the line rather than skip it.
                let error = format!("batch {} cannot be encoded: {reason}", batch.id);
                error!("persistence: {error}; the simulation is halted (see docs/OPERATIONS.md)");
                status.update(|s| {
                    s.failures += 1;
                    s.state = WriterState::Failed { error };
                });
                std::future::pending::<()>().await;
                return;
            }
        };
        // Only the encoded rows are needed from here on (retries included): free the records
        // now rather than holding two copies of the batch through an outage, and hand the
        // emptied buffers back for the next collection. A buffer far larger than recent batches
        // (a whole world, after a start or an outage) is freed here rather than by the
        // collection that would drop it: unmapping tens of megabytes on the tick that flushes
        // cost ~5 ms.
        let Batch { id: batch_id, meta, entities, history, galaxy } = batch;
        let batch_tick = meta.tick;
        drop((meta, history, galaxy));
        let entries = entities.len();
        let (keep, free): (Vec<_>, Vec<_>) = entities
            .into_buffers()
            .into_iter()
            .filter(|b| b.capacity() > 0)
            .partition(|b| !crate::oversized(b, typical));
        let surplus = {
            let mut s = spare.lock().unwrap_or_else(PoisonError::into_inner);
            let room = SPARE_BUFFERS.saturating_sub(s.len());
            let mut keep = keep;
            let surplus = keep.split_off(room.min(keep.len()));
            s.extend(keep);
            surplus
        };
        // Outside the lock: the collection takes spares on the tick.
        drop((free, surplus));
        // Decays slowly, so one small batch (a flush right after another) does not make the
        // next normal batch's buffers look oversized.
        typical = entries.max(typical / 2);
        let mut backoff = options.backoff_min;
        let mut attempts = 0u32;
        loop {
            let start = Instant::now();
            let result =
                tokio::time::timeout(options.attempt_timeout, apply_with(&db, &encoded, options.journal_fold_rows))
                    .await;
            let (error, transient) = match result {
                Ok(Ok(applied)) => {
                    let transaction = start.elapsed();
                    written.note(&encoded);
                    if attempts > 0 {
                        info!(batch = batch_id, attempts, "persistence: the database is back; batch written");
                    }
                    let rows = encoded.rows();
                    status.update(|s| {
                        s.state = WriterState::Healthy;
                        s.confirmed_batch = batch_id;
                        s.confirmed_tick = batch_tick;
                        if let Applied::Written { in_place, folded } = applied {
                            s.batches += 1;
                            s.rows += rows as u64;
                            s.rows_in_place += in_place;
                            s.folds += u64::from(folded > 0);
                            s.rows_folded += folded;
                            s.bytes += encoded.bytes() as u64;
                        }
                        s.last_flush_ms = transaction.as_secs_f64() * 1000.0;
                    });
                    let _ = confirmations.send(Confirmation {
                        batch: batch_id,
                        tick: batch_tick,
                        rows,
                        elapsed: first_attempt.elapsed(),
                        transaction,
                        folded: match applied {
                            Applied::Written { folded, .. } => folded,
                            Applied::AlreadyHeld => 0,
                        },
                    });
                    break;
                }
                Ok(Err(e)) => {
                    let transient = is_transient(&e);
                    (e.to_string(), transient)
                }
                Err(_) => (format!("no answer within {:?}", options.attempt_timeout), true),
            };
            attempts += 1;
            let wait = if transient {
                if attempts == 1 || attempts.is_power_of_two() {
                    warn!(batch = batch_id, attempts, "persistence: write failed, retrying in {backoff:?}: {error}");
                }
                let state = WriterState::Retrying { attempts, error };
                status.update(|s| {
                    s.failures += 1;
                    s.state = state;
                });
                let wait = backoff;
                backoff = (backoff * 2).min(options.backoff_max);
                wait
            } else {
                error!(
                    batch = batch_id,
                    "persistence: write failed and retrying will not fix it: {error}; the simulation is halted \
                     until it succeeds (retried every {:?}; see docs/OPERATIONS.md)",
                    options.failed_retry
                );
                status.update(|s| {
                    s.failures += 1;
                    s.state = WriterState::Failed { error };
                });
                options.failed_retry
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_problems_are_transient_and_others_are_not() {
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(is_transient(&sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::ColumnNotFound("x".into())));
    }

    #[test]
    fn placeholders_have_one_group_per_row() {
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
    }
}
