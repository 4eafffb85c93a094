//! The placement in the database: `placement`, `shards` and `system_owners` (Postgres only:
//! the shards of a galaxy share one database). [`apply`] writes a checked
//! [`Placement`] in one transaction; [`read`] reads what is there. See docs/SHARDING.md.

use std::collections::BTreeMap;

use sqlx::{PgConnection, Row};
use starforge_components::placement::Placement;

use crate::db::{Backend, Db, DbError};

/// What [`apply`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Systems that had no owner before.
    pub assigned: u32,
    /// Systems that changed owner (their epoch went up by one).
    pub moved: u32,
    /// Systems whose owner stayed.
    pub unchanged: u32,
    /// Shards added to the `shards` table.
    pub new_shards: Vec<String>,
}

/// One shard as the database holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardRow {
    /// Name.
    pub name: String,
    /// Ordinal.
    pub ordinal: u16,
    /// The systems it owns, in id order (empty for a retired shard).
    pub systems: Vec<u32>,
}

/// The placement in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Current {
    /// The galaxy's name.
    pub galaxy: String,
    /// The exchange shard.
    pub exchange: String,
    /// Every shard, by ordinal.
    pub shards: Vec<ShardRow>,
    /// The epoch of every system, by id.
    pub epochs: Vec<(u32, i64)>,
}

/// Why a placement cannot be applied to this database (nothing was changed).
fn refused(reason: String) -> DbError {
    DbError::Query { backend: Backend::Postgres, what: "applying the placement", reason }
}

/// Writes `placement` (already checked against the galaxy) in one transaction. Refused,
/// changing nothing: on SQLite; when it renames the galaxy; when it changes the ordinal of a
/// shard the database knows; when it gives a new shard an ordinal an old one had.
pub async fn apply(db: &Db, placement: &Placement) -> Result<Applied, DbError> {
    let Db::Postgres(pool) = db else {
        return Err(DbError::Query {
            backend: Backend::Sqlite,
            what: "applying the placement",
            reason: "a placement needs Postgres (DATABASE_URL): the shards of a galaxy share one database. A single \
                     server without --shard needs no placement"
                .into(),
        });
    };
    let q = |e: sqlx::Error| DbError::query(Backend::Postgres, "applying the placement", e);
    let mut tx = pool.begin().await.map_err(q)?;
    // One placement at a time; shards read these tables without waiting on it.
    sqlx::query("LOCK TABLE placement, shards, system_owners IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .map_err(q)?;
    let applied = apply_in(&mut tx, placement).await?;
    tx.commit().await.map_err(q)?;
    Ok(applied)
}

async fn apply_in(tx: &mut PgConnection, p: &Placement) -> Result<Applied, DbError> {
    let q = |e: sqlx::Error| DbError::query(Backend::Postgres, "applying the placement", e);
    let galaxy: Option<String> =
        sqlx::query_scalar("SELECT galaxy FROM placement").fetch_optional(&mut *tx).await.map_err(q)?;
    if let Some(g) = galaxy.filter(|g| *g != p.galaxy) {
        return Err(refused(format!(
            "this database holds galaxy {g:?}, the file names {:?}: a galaxy is never renamed (its NATS streams \
             carry the name)",
            p.galaxy
        )));
    }
    let known: Vec<(String, i32)> =
        sqlx::query_as("SELECT name, ordinal FROM shards").fetch_all(&mut *tx).await.map_err(q)?;
    let mut new_shards = Vec::new();
    for shard in &p.shards {
        let ordinal = i32::from(shard.ordinal);
        match known.iter().find(|(n, _)| *n == shard.name) {
            Some((_, o)) if *o != ordinal => {
                return Err(refused(format!(
                    "shard {:?} has ordinal {o} in the database, the file says {ordinal}: an ordinal never changes \
                     (its entity ids carry it)",
                    shard.name
                )));
            }
            Some(_) => {}
            None => {
                if let Some((other, _)) = known.iter().find(|(_, o)| *o == ordinal) {
                    return Err(refused(format!(
                        "ordinal {ordinal} of new shard {:?} belonged to shard {other:?}: an ordinal is never reused",
                        shard.name
                    )));
                }
                new_shards.push(shard.name.clone());
            }
        }
    }
    let names: Vec<&str> = p.shards.iter().map(|s| s.name.as_str()).collect();
    let ordinals: Vec<i32> = p.shards.iter().map(|s| i32::from(s.ordinal)).collect();
    sqlx::query(
        "INSERT INTO shards (name, ordinal) SELECT * FROM UNNEST($1::text[], $2::int4[]) ON CONFLICT DO NOTHING",
    )
    .bind(&names)
    .bind(&ordinals)
    .execute(&mut *tx)
    .await
    .map_err(q)?;

    let owners = p.owners();
    let rows: Vec<(i32, String)> =
        sqlx::query_as("SELECT system_id, shard FROM system_owners").fetch_all(&mut *tx).await.map_err(q)?;
    // Owner of each system before (a galaxy may have up to 100,000 systems: no linear search).
    let before: BTreeMap<usize, String> = rows.into_iter().map(|(s, shard)| (s as usize, shard)).collect();
    let saved: i64 = sqlx::query_scalar("SELECT count(*) FROM star_systems").fetch_one(&mut *tx).await.map_err(q)?;
    let placed = before.last_key_value().map_or(0, |(s, _)| s + 1);
    for (what, n) in [("holds a galaxy of", saved as usize), ("places", placed)] {
        if n > 0 && n != owners.len() {
            return Err(refused(format!(
                "the database {what} {n} systems, the file places {}: a galaxy's size never changes (check --systems)",
                owners.len()
            )));
        }
    }
    let mut applied = Applied { new_shards, ..Applied::default() };
    for (system, shard) in owners.iter().enumerate() {
        match before.get(&system) {
            None => applied.assigned += 1,
            Some(old) if old == shard => applied.unchanged += 1,
            Some(_) => applied.moved += 1,
        }
    }
    let systems: Vec<i32> = (0..owners.len() as i32).collect();
    // New systems start at epoch 1; a system whose owner changes gets the next epoch.
    sqlx::query(
        "INSERT INTO system_owners (system_id, shard, epoch) SELECT s, o, 1 FROM UNNEST($1::int4[], $2::text[]) AS \
         u(s, o) ON CONFLICT (system_id) DO UPDATE SET shard = excluded.shard, epoch = system_owners.epoch + 1 \
         WHERE system_owners.shard <> excluded.shard",
    )
    .bind(&systems)
    .bind(&owners)
    .execute(&mut *tx)
    .await
    .map_err(q)?;
    sqlx::query(
        "INSERT INTO placement (galaxy, exchange) VALUES ($1, $2) ON CONFLICT (galaxy) DO UPDATE SET exchange = \
         excluded.exchange, applied_at = now()",
    )
    .bind(&p.galaxy)
    .bind(&p.exchange)
    .execute(&mut *tx)
    .await
    .map_err(q)?;
    Ok(applied)
}

/// The placement in the database; `None` if none was applied, if the database has no
/// placement tables yet, or on SQLite. One snapshot: an `apply` committing meanwhile is seen
/// whole or not at all.
pub async fn read(db: &Db) -> Result<Option<Current>, DbError> {
    let Db::Postgres(pool) = db else { return Ok(None) };
    let q = |e: sqlx::Error| DbError::query(Backend::Postgres, "reading the placement", e);
    let mut tx = pool.begin().await.map_err(q)?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await.map_err(q)?;
    let tables: bool =
        sqlx::query_scalar("SELECT to_regclass('placement') IS NOT NULL").fetch_one(&mut *tx).await.map_err(q)?;
    if !tables {
        return Ok(None);
    }
    let Some((galaxy, exchange)): Option<(String, String)> =
        sqlx::query_as("SELECT galaxy, exchange FROM placement").fetch_optional(&mut *tx).await.map_err(q)?
    else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT s.name, s.ordinal, COALESCE(array_agg(o.system_id ORDER BY o.system_id) FILTER (WHERE o.system_id IS \
         NOT NULL), '{}') AS systems FROM shards s LEFT JOIN system_owners o ON o.shard = s.name GROUP BY s.name, \
         s.ordinal ORDER BY s.ordinal",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(q)?;
    let shards = rows
        .iter()
        .map(|r| {
            let systems: Vec<i32> = r.try_get("systems")?;
            let ordinal: i32 = r.try_get("ordinal")?;
            Ok(ShardRow {
                name: r.try_get("name")?,
                // The column's CHECK keeps it within 1..=65535.
                ordinal: u16::try_from(ordinal)
                    .map_err(|_| sqlx::Error::Decode(format!("ordinal {ordinal}").into()))?,
                systems: systems.into_iter().map(|s| s as u32).collect(),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(q)?;
    let epochs: Vec<(i32, i64)> = sqlx::query_as("SELECT system_id, epoch FROM system_owners ORDER BY system_id")
        .fetch_all(&mut *tx)
        .await
        .map_err(q)?;
    tx.commit().await.map_err(q)?;
    Ok(Some(Current { galaxy, exchange, shards, epochs: epochs.into_iter().map(|(s, e)| (s as u32, e)).collect() }))
}
