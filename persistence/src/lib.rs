//! Starforge persistence: the world saved in relational tables (Postgres, or an SQLite file)
//! without stalling the tick, and restored after a restart.
//!
//! The path of a change, start to end:
//! 1. [`collect`]: every flush interval (`world.flush_interval_s`), on the tick thread, the
//!    records of entities whose persisted components changed since the last collection
//!    ([`rows`]: one record type per kind), despawns and history become [`PendingChanges`].
//! 2. [`persister`]: they become a [`writer::Batch`] with the next batch id and go to the
//!    writer's bounded queue; with the queue full they stay pending and the next collection
//!    adds to them (newest state per id: memory bounded by the entity count).
//! 3. [`writer`]: a tokio task turns a batch into the rows of every table ([`tables`]) and
//!    writes them in one transaction, one set-based statement per table; confirms by batch id;
//!    retries transient failures with backoff; the simulation halts while a failure is not
//!    transient.
//! 4. At shutdown [`final_flush`] writes everything; if the database does not confirm it, the
//!    whole world goes to the [`spill`] file, written to the database at the next start.
//! 5. [`restore`] reads the tables back into a world.
//!
//! Around it: [`db`] (connect, migrations, refusing a database in an old format), [`lock`] (one
//! server per database), [`placement`] (which shard owns which system), [`accounts`] (the
//! players table), [`cache`] and [`profiles`] (Redis).

pub mod accounts;
pub mod apply;
pub mod bus;
pub mod cache;
pub mod collect;
pub mod db;
pub mod lock;
pub mod persister;
pub mod placement;
pub mod profiles;
pub mod restore;
pub mod rows;
pub mod spill;
pub mod tables;
pub mod writer;

pub use accounts::AccountError;
pub use cache::{CacheError, CacheOptions, PlayerProfile, RedisCache};
pub use collect::{Change, Changes, Entry, PendingChanges, collect_changes, collect_now, mark_saved, note_tick};
pub use db::{Backend, Db, DbError, DbTarget};
pub use lock::WorldLock;
pub use persister::{
    Persister, final_flush, flush, flush_now, spill_world, wait_confirmed, watch_writer, whole_world_batch,
};
pub use profiles::{BreakerOptions, CacheCounts, CacheStats, Profiles};

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;

/// The name this server's `world` row is kept under. One server writes one galaxy today; the
/// key lets several processes write disjoint parts of one galaxy to one database later.
pub const SHARD: &str = "main";

/// The persistence stage; runs in `FixedUpdate` after the whole simulation tick.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersistSystems {
    /// Note this tick's history and hyperspace exits; every flush interval, collect the
    /// changed entities into [`PendingChanges`] and flush.
    Collect,
}

/// The set persistence runs after. Persistence depends on `components` only, so the server
/// places this label after the simulation: `configure_sets(FixedUpdate,
/// PersistAfter.after(SimSystems::Bookkeeping))`.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersistAfter;

/// Notes changes every tick and, with a [`Persister`], collects and flushes them every flush
/// interval.
pub struct PersistencePlugin;

impl Plugin for PersistencePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PendingChanges>()
            .configure_sets(FixedUpdate, PersistSystems::Collect.after(PersistAfter))
            .add_systems(FixedUpdate, (note_tick, flush).chain().in_set(PersistSystems::Collect))
            .add_systems(First, watch_writer)
            .add_systems(Last, final_flush)
            .add_observer(collect::record_despawn);
        let collector = app.world_mut().register_system(collect_changes);
        app.insert_resource(collect::Collector(collector));
        app.world_mut().get_resource_or_init::<Market>().track_changes(true);
    }
}

#[cfg(test)]
mod tests;
