//! Restore: load the world the database holds and rebuild it in an empty Bevy world.
//!
//! [`load`] reads this server's `world` row and every table (ordered by key) into
//! [`crate::tables::schema::Rows`] and decodes them ([`crate::tables::map::decode`]), failing
//! with a message that names the bad row rather than starting from half a world. [`apply`]
//! inserts the resources (tick, seed, id allocator, ledger, counters, engagements, galaxy,
//! market with its orders and tickers) and spawns every entity under its old [`EntityId`] with
//! exactly the components a freshly spawned one has; derived state (entity index, spatial
//! grid, obstacle world, census) is rebuilt by the simulation as usual.

use bevy_ecs::prelude::*;
use sqlx::AssertSqlSafe;
use starforge_components::galaxy::Galaxy;
use starforge_components::prelude::*;

use crate::db::{Db, DbError};
use crate::rows::{self, Record, WorldMeta};
use crate::tables::Table;
use crate::tables::map::{self, RowError};
use crate::tables::schema::{self, Rows};

/// A world read from the database.
#[derive(Debug)]
pub struct LoadedWorld {
    /// The newest batch it holds.
    pub batch: u64,
    /// Resources at that batch's tick.
    pub meta: WorldMeta,
    /// The galaxy.
    pub galaxy: Galaxy,
    /// Every entity, in id order.
    pub records: Vec<(EntityId, Record)>,
}

/// Why a world could not be restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A row does not decode.
    #[error("the saved world is unreadable: {0}")]
    Row(#[from] RowError),
    /// The rows contradict each other.
    #[error("the saved world is inconsistent: {0}")]
    Inconsistent(String),
}

/// The world the database holds for this server ([`crate::SHARD`]), or `None` for a database
/// without one.
pub async fn load(db: &Db) -> Result<Option<LoadedWorld>, RestoreError> {
    let mut rows = Rows::default();
    let held = match db {
        Db::Postgres(pool) => {
            let mut c = pool.acquire().await.map_err(|e| DbError::query(db.backend(), "reading the world", e))?;
            read_all_pg(&mut c, &mut rows).await
        }
        Db::Sqlite(pool) => {
            let mut c = pool.acquire().await.map_err(|e| DbError::query(db.backend(), "reading the world", e))?;
            read_all_sqlite(&mut c, &mut rows).await
        }
    };
    let held = held.map_err(|(table, e)| DbError::query(db.backend(), table, e))?;
    if !held {
        return Ok(None);
    }
    Ok(Some(map::decode(rows)?))
}

type ReadError = (&'static str, sqlx::Error);

/// Reads every table but `world` with `$read(connection, table, order)`, each in key order.
macro_rules! read_tables {
    ($read:ident, $c:expr, $rows:expr) => {
        $read($c, &mut $rows.systems, "id").await?;
        $read($c, &mut $rows.planets, "system_id, planet").await?;
        $read($c, &mut $rows.lanes, "id").await?;
        $read($c, &mut $rows.empires, "id").await?;
        $read($c, &mut $rows.fleets, "id").await?;
        $read($c, &mut $rows.ships, "id").await?;
        $read($c, &mut $rows.colonies, "id").await?;
        $read($c, &mut $rows.buildings, "colony_id, building").await?;
        $read($c, &mut $rows.construction, "colony_id, position").await?;
        $read($c, &mut $rows.shipyard, "colony_id, position").await?;
        $read($c, &mut $rows.orders, "id").await?;
        $read($c, &mut $rows.tickers, "resource").await?;
        $read($c, &mut $rows.engagements, "system_id").await?;
    };
}

/// Reads every table into `rows`; false if this shard has no world row.
async fn read_all_pg(c: &mut sqlx::PgConnection, rows: &mut Rows) -> Result<bool, ReadError> {
    async fn read<T: Table>(c: &mut sqlx::PgConnection, t: &mut T, order: &str) -> Result<(), ReadError> {
        let sql = schema::select::<T>(true, "", order);
        for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *c).await.map_err(|e| (T::NAME, e))? {
            t.push_pg(&row).map_err(|e| (T::NAME, e))?;
        }
        Ok(())
    }
    let sql = schema::select::<schema::WorldRows>(true, " WHERE shard = $1", "shard");
    for row in sqlx::query(AssertSqlSafe(sql)).bind(crate::SHARD).fetch_all(&mut *c).await.map_err(|e| ("world", e))? {
        rows.world.push_pg(&row).map_err(|e| ("world", e))?;
    }
    if rows.world.is_empty() {
        return Ok(false);
    }
    read_tables!(read, c, rows);
    Ok(true)
}

/// [`read_all_pg`] on SQLite.
async fn read_all_sqlite(c: &mut sqlx::SqliteConnection, rows: &mut Rows) -> Result<bool, ReadError> {
    async fn read<T: Table>(c: &mut sqlx::SqliteConnection, t: &mut T, order: &str) -> Result<(), ReadError> {
        let sql = schema::select::<T>(false, "", order);
        for row in sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut *c).await.map_err(|e| (T::NAME, e))? {
            t.push_sqlite(&row).map_err(|e| (T::NAME, e))?;
        }
        Ok(())
    }
    let sql = schema::select::<schema::WorldRows>(false, " WHERE shard = ?1", "shard");
    for row in sqlx::query(AssertSqlSafe(sql)).bind(crate::SHARD).fetch_all(&mut *c).await.map_err(|e| ("world", e))? {
        rows.world.push_sqlite(&row).map_err(|e| ("world", e))?;
    }
    if rows.world.is_empty() {
        return Ok(false);
    }
    read_tables!(read, c, rows);
    Ok(true)
}

/// Rebuilds `loaded` in `world`, which must hold the simulation's resources and no entities
/// with an [`EntityId`] yet. On error `world` may hold part of the world: discard it.
pub fn apply(world: &mut World, loaded: LoadedWorld) -> Result<(), RestoreError> {
    let LoadedWorld { meta, galaxy, records, .. } = loaded;
    if world.query::<&EntityId>().iter(world).next().is_some() {
        return Err(RestoreError::Inconsistent("restore needs an empty world".into()));
    }
    if let Some((id, _)) = records.iter().find(|(id, _)| id.0 == 0 || id.0 >= meta.next_id) {
        return Err(RestoreError::Inconsistent(format!(
            "entity {} is outside the allocated ids (next id {})",
            id.0, meta.next_id
        )));
    }
    world.insert_resource(SimTick(meta.tick));
    world.insert_resource(WorldSeed(meta.seed));
    world.insert_resource(IdAllocator { next: meta.next_id });
    world.insert_resource(meta.ledger);
    world.insert_resource(meta.stats);
    world.insert_resource(meta.engagements);
    world.insert_resource(galaxy);
    let tracking = world.get_resource::<Market>().is_some_and(Market::is_tracking);
    let mut market = Market::default();
    market.restore_stats(meta.market);
    let mut orders = Vec::new();
    let mut targets = Vec::new();
    for (id, record) in &records {
        match record {
            Record::Order(o) => orders.push(*o),
            other => {
                let e = rows::spawn(world, *id, other).ok_or_else(|| RestoreError::Inconsistent("spawn".into()))?;
                if let Record::Ship(s) = other
                    && let Some(t) = s.target
                {
                    targets.push((e, t));
                }
            }
        }
    }
    let rejected = market.restore(orders);
    if let Some(o) = rejected.first() {
        return Err(RestoreError::Inconsistent(format!("market order {} cannot rest: {o:?}", o.id.0)));
    }
    market.track_changes(tracking);
    world.insert_resource(market);
    for (e, t) in targets {
        // A target destroyed in the tick it was chosen is still named (the ship then looks for
        // another one at once); a placeholder entity keeps that behaviour: it never resolves.
        let te = world.resource::<EntityIndex>().get(t).unwrap_or(Entity::PLACEHOLDER);
        world.entity_mut(e).insert(Target(Some((t, te))));
    }
    Ok(())
}

/// Player ids of all accounts (for [`Db`] users that reconcile accounts with the world).
pub async fn account_ids(db: &Db) -> Result<Vec<(u64, String)>, DbError> {
    const WHAT: &str = "listing accounts";
    let backend = db.backend();
    let rows: Vec<(i64, String)> = match db {
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT player_id, username FROM players ORDER BY player_id").fetch_all(pool).await
        }
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT player_id, username FROM players ORDER BY player_id").fetch_all(pool).await
        }
    }
    .map_err(|e| DbError::query(backend, WHAT, e))?;
    rows.into_iter()
        .map(|(id, name)| {
            u64::try_from(id)
                .map(|id| (id, name))
                .map_err(|_| DbError::query(backend, WHAT, format_args!("negative player_id {id}")))
        })
        .collect()
}
