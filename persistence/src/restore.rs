//! Restore: load the world the database holds and rebuild it in an empty Bevy world.
//!
//! [`load`] reads the `world` row and every entity row (ordered by id; on Postgres from the view
//! `entities_current`: `entities` with the journal's newest rows) and decodes them,
//! failing with a message that names the bad row rather than starting from half a world.
//! [`apply`] inserts the resources (tick, seed, id allocator, ledger, counters, engagements,
//! galaxy, market with its orders and tickers) and spawns every entity under its old
//! [`EntityId`] with exactly the components a freshly spawned one has; derived state (entity
//! index, spatial grid, obstacle world, census) is rebuilt by the simulation as usual.

use bevy_ecs::prelude::*;
use starforge_components::galaxy::Galaxy;
use starforge_components::prelude::*;

use crate::db::{Db, DbError};
use crate::rows::{self, FORMAT, Record, RowError, WorldMeta};

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
    /// The world row was written by another version of the row format.
    #[error("the saved world has format {found}; this server reads format {FORMAT} (use a matching server version)")]
    Format {
        /// The stored format.
        found: i32,
    },
    /// The rows contradict each other.
    #[error("the saved world is inconsistent: {0}")]
    Inconsistent(String),
}

type EntityRow = (i64, i16, Vec<u8>);
type WorldRow = (i32, i64, Vec<u8>, Vec<u8>);

/// The world the database holds, or `None` for a database without one.
pub async fn load(db: &Db) -> Result<Option<LoadedWorld>, RestoreError> {
    let backend = db.backend();
    let q = |what: &'static str| move |e: sqlx::Error| DbError::query(backend, what, e);
    let world: Option<WorldRow> = match db {
        Db::Postgres(pool) => sqlx::query_as("SELECT format, batch, meta, galaxy FROM world WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(q("reading the world row"))?,
        Db::Sqlite(pool) => sqlx::query_as("SELECT format, batch, meta, galaxy FROM world WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(q("reading the world row"))?,
    };
    let Some((format, batch, meta, galaxy)) = world else { return Ok(None) };
    if format != FORMAT {
        return Err(RestoreError::Format { found: format });
    }
    let meta: WorldMeta = rows::decode(&meta).map_err(|reason| RowError::World { what: "meta", reason })?;
    let galaxy: Galaxy = rows::decode(&galaxy).map_err(|reason| RowError::World { what: "galaxy", reason })?;
    let rows: Vec<EntityRow> = match db {
        // `entities` overlaid with the journal's newest row per id (see the writer).
        Db::Postgres(pool) => sqlx::query_as("SELECT id, kind, data FROM entities_current ORDER BY id")
            .fetch_all(pool)
            .await
            .map_err(q("reading entities"))?,
        Db::Sqlite(pool) => sqlx::query_as("SELECT id, kind, data FROM entities ORDER BY id")
            .fetch_all(pool)
            .await
            .map_err(q("reading entities"))?,
    };
    let mut records = Vec::with_capacity(rows.len());
    for (id, kind, data) in rows {
        let id = u64::try_from(id).map_err(|_| RestoreError::Inconsistent(format!("negative entity id {id}")))?;
        records.push((EntityId(id), Record::decode(id, kind, &data)?));
    }
    let batch = u64::try_from(batch).map_err(|_| RestoreError::Inconsistent(format!("negative batch id {batch}")))?;
    Ok(Some(LoadedWorld { batch, meta, galaxy, records }))
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
