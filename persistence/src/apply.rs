//! One batch, one transaction: [`apply`] writes a batch's [`Rows`] into every table.
//!
//! Order inside the transaction: lock this shard's `world` row and skip the batch if the
//! database holds it or a newer one (so re-applying a batch after an ambiguous failure, a lost
//! `COMMIT` acknowledgement, changes nothing); the galaxy if the batch carries it; a batch that
//! replaces the world (a spill file) deletes every saved entity first; deletions of despawned
//! entities; upserts keyed by id (a deleted colony's buildings and queues go, and so do those of a
//! colony whose children changed, its new ones following);
//! engagements replaced; tickers upserted; history appended (`ON CONFLICT DO NOTHING`); the
//! `world` row last. Postgres: one statement per table, every column bound as one array and
//! unnested. SQLite: the same statements with multi-row `VALUES`.

use sqlx::{AssertSqlSafe, PgConnection, SqliteConnection};

use crate::db::Db;
use crate::tables::Table;
use crate::tables::schema::{self, Rows, Write};

/// What [`apply`] did with a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The database already held this batch or a newer one: nothing changed.
    AlreadyHeld,
    /// Written.
    Written,
}

/// The saved entity tables (a replacing batch empties them all).
const ENTITY_TABLES: [&str; 8] =
    ["empires", "fleets", "ships", "colonies", "buildings", "construction_queue", "shipyard_queue", "market_orders"];

/// A colony's rows in other tables: replaced when they changed, deleted with the colony.
const COLONY_CHILDREN: [&str; 3] = ["buildings", "construction_queue", "shipyard_queue"];

/// Colonies whose child rows go: the deleted ones and those whose new children follow.
fn colonies_replaced(r: &Rows) -> Vec<i64> {
    if r.replace {
        return Vec::new(); // the tables were emptied
    }
    r.deletes.colonies.iter().chain(&r.children_replaced).copied().collect()
}

/// Writes `rows` in one transaction.
pub async fn apply(db: &Db, rows: &Rows) -> Result<Applied, sqlx::Error> {
    match db {
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            let applied = apply_pg(&mut tx, rows).await?;
            tx.commit().await?;
            Ok(applied)
        }
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await?;
            let applied = apply_sqlite(&mut tx, rows).await?;
            tx.commit().await?;
            Ok(applied)
        }
    }
}

const UPSERT_ID: Write = Write::Upsert(&["id"]);

async fn apply_pg(tx: &mut PgConnection, r: &Rows) -> Result<Applied, sqlx::Error> {
    let held: Option<i64> = sqlx::query_scalar("SELECT batch FROM world WHERE shard = $1 FOR UPDATE")
        .bind(r.shard())
        .fetch_optional(&mut *tx)
        .await?;
    if held.is_some_and(|b| b >= r.batch()) {
        return Ok(Applied::AlreadyHeld);
    }
    write_pg(tx, &r.systems, UPSERT_ID).await?;
    write_pg(tx, &r.planets, Write::Upsert(&["system_id", "planet"])).await?;
    write_pg(tx, &r.lanes, UPSERT_ID).await?;
    if r.replace {
        for table in ENTITY_TABLES {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *tx).await?;
        }
    }
    let d = &r.deletes;
    for (table, ids) in [
        ("market_orders", &d.orders),
        ("colonies", &d.colonies),
        ("ships", &d.ships),
        ("fleets", &d.fleets),
        ("empires", &d.empires),
    ] {
        if !ids.is_empty() {
            let sql = format!("DELETE FROM {table} WHERE id = ANY($1)");
            sqlx::query(AssertSqlSafe(sql)).bind(ids).execute(&mut *tx).await?;
        }
    }
    write_pg(tx, &r.empires, UPSERT_ID).await?;
    write_pg(tx, &r.fleets, UPSERT_ID).await?;
    write_pg(tx, &r.ships, UPSERT_ID).await?;
    write_pg(tx, &r.colonies, UPSERT_ID).await?;
    let replaced = colonies_replaced(r);
    if !replaced.is_empty() {
        for table in COLONY_CHILDREN {
            let sql = format!("DELETE FROM {table} WHERE colony_id = ANY($1)");
            sqlx::query(AssertSqlSafe(sql)).bind(&replaced).execute(&mut *tx).await?;
        }
    }
    write_pg(tx, &r.buildings, Write::Insert).await?;
    write_pg(tx, &r.construction, Write::Insert).await?;
    write_pg(tx, &r.shipyard, Write::Insert).await?;
    write_pg(tx, &r.orders, UPSERT_ID).await?;
    sqlx::query("DELETE FROM engagements").execute(&mut *tx).await?;
    write_pg(tx, &r.engagements, Write::Insert).await?;
    write_pg(tx, &r.tickers, Write::Upsert(&["resource"])).await?;
    write_pg(tx, &r.trades, Write::Append).await?;
    write_pg(tx, &r.reports, Write::Append).await?;
    write_pg(tx, &r.world, Write::Upsert(&["shard"])).await?;
    sqlx::query("UPDATE world SET saved_at = now() WHERE shard = $1").bind(r.shard()).execute(&mut *tx).await?;
    Ok(Applied::Written)
}

async fn write_pg<T: Table>(tx: &mut PgConnection, rows: &T, how: Write) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let sql = schema::pg_write::<T>(how);
    rows.bind_pg(sqlx::query(AssertSqlSafe(sql))).execute(&mut *tx).await?;
    Ok(())
}

async fn apply_sqlite(tx: &mut SqliteConnection, r: &Rows) -> Result<Applied, sqlx::Error> {
    // SQLite has no row locks: the write lock a transaction takes at its first write covers it,
    // and one server writes a database (see `lock`).
    let held: Option<i64> =
        sqlx::query_scalar("SELECT batch FROM world WHERE shard = ?1").bind(r.shard()).fetch_optional(&mut *tx).await?;
    if held.is_some_and(|b| b >= r.batch()) {
        return Ok(Applied::AlreadyHeld);
    }
    write_sqlite(tx, &r.systems, UPSERT_ID).await?;
    write_sqlite(tx, &r.planets, Write::Upsert(&["system_id", "planet"])).await?;
    write_sqlite(tx, &r.lanes, UPSERT_ID).await?;
    if r.replace {
        for table in ENTITY_TABLES {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {table}"))).execute(&mut *tx).await?;
        }
    }
    let d = &r.deletes;
    let colonies = colonies_replaced(r);
    for (table, column, ids) in [
        ("market_orders", "id", &d.orders[..]),
        ("colonies", "id", &d.colonies[..]),
        ("ships", "id", &d.ships[..]),
        ("fleets", "id", &d.fleets[..]),
        ("empires", "id", &d.empires[..]),
        (COLONY_CHILDREN[0], "colony_id", &colonies[..]),
        (COLONY_CHILDREN[1], "colony_id", &colonies[..]),
        (COLONY_CHILDREN[2], "colony_id", &colonies[..]),
    ] {
        for chunk in ids.chunks(SQLITE_IDS) {
            let sql = format!("DELETE FROM {table} WHERE {column} IN ({})", vec!["?"; chunk.len()].join(", "));
            let q = chunk.iter().fold(sqlx::query(AssertSqlSafe(sql)), |q, id| q.bind(*id));
            q.execute(&mut *tx).await?;
        }
    }
    write_sqlite(tx, &r.empires, UPSERT_ID).await?;
    write_sqlite(tx, &r.fleets, UPSERT_ID).await?;
    write_sqlite(tx, &r.ships, UPSERT_ID).await?;
    write_sqlite(tx, &r.colonies, UPSERT_ID).await?;
    write_sqlite(tx, &r.buildings, Write::Insert).await?;
    write_sqlite(tx, &r.construction, Write::Insert).await?;
    write_sqlite(tx, &r.shipyard, Write::Insert).await?;
    write_sqlite(tx, &r.orders, UPSERT_ID).await?;
    sqlx::query("DELETE FROM engagements").execute(&mut *tx).await?;
    write_sqlite(tx, &r.engagements, Write::Insert).await?;
    write_sqlite(tx, &r.tickers, Write::Upsert(&["resource"])).await?;
    write_sqlite(tx, &r.trades, Write::Append).await?;
    write_sqlite(tx, &r.reports, Write::Append).await?;
    write_sqlite(tx, &r.world, Write::Upsert(&["shard"])).await?;
    sqlx::query("UPDATE world SET saved_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE shard = ?1")
        .bind(r.shard())
        .execute(&mut *tx)
        .await?;
    Ok(Applied::Written)
}

/// Ids per SQLite `IN (..)` list.
const SQLITE_IDS: usize = 10_000;

async fn write_sqlite<T: Table>(tx: &mut SqliteConnection, rows: &T, how: Write) -> Result<(), sqlx::Error> {
    let chunk = schema::sqlite_chunk::<T>();
    let mut start = 0;
    while start < rows.len() {
        let end = (start + chunk).min(rows.len());
        let sql = schema::sqlite_write::<T>(how, end - start);
        let q = (start..end).fold(sqlx::query(AssertSqlSafe(sql)), |q, i| rows.bind_sqlite(q, i));
        q.execute(&mut *tx).await?;
        start = end;
    }
    Ok(())
}
