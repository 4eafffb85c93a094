//! Starforge persistence: collects what changed in the simulation for the database writer.
//!
//! This first piece is the collection side: after every tick, the ids of entities whose
//! persisted components were added or changed, and of entities that were despawned, are
//! merged into [`PendingChanges`]. Merging is by id, so however far a writer lags, the
//! pending set never holds more than one entry per entity (memory bounded by the entity
//! count) and no change is dropped. The writer task, the Postgres/SQLite/Redis backends and
//! restore come with the persistence issue.
//!
//! [`db`] connects to Postgres or SQLite and runs the embedded migrations; [`accounts`] keeps
//! player accounts in the database.

pub mod accounts;
pub mod cache;
pub mod db;
pub mod profiles;

pub use accounts::AccountError;
pub use cache::{CacheError, CacheOptions, PlayerProfile, RedisCache};
pub use db::{Backend, Db, DbError, DbTarget};
pub use profiles::{CacheCounts, CacheStats, Profiles};

use std::collections::BTreeSet;

use bevy_app::prelude::*;
use bevy_ecs::event::EntityEvent;
use bevy_ecs::prelude::*;
use starforge_components::prelude::*;

/// The persistence stage; runs in `FixedUpdate` after the whole simulation tick.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersistSystems {
    /// Merge this tick's changes into [`PendingChanges`] (`FixedUpdate`, after the tick).
    Collect,
}

/// Entities with unsaved state, by stable id.
#[derive(Resource, Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingChanges {
    /// Added or changed since the last take (and not removed since).
    pub upserts: BTreeSet<EntityId>,
    /// Despawned since the last take.
    pub removed: BTreeSet<EntityId>,
}

impl PendingChanges {
    /// Takes everything pending, leaving the set empty (what a flush hands to the writer).
    pub fn take(&mut self) -> PendingChanges {
        std::mem::take(self)
    }

    /// Number of pending entries.
    pub fn len(&self) -> usize {
        self.upserts.len() + self.removed.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Collects changes of persisted components after each tick.
pub struct PersistencePlugin;

impl Plugin for PersistencePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<PendingChanges>()
            .configure_sets(FixedUpdate, PersistSystems::Collect.after(PersistAfter))
            .add_systems(FixedUpdate, collect_changes.in_set(PersistSystems::Collect))
            .add_observer(record_despawn);
    }
}

/// The set persistence runs after. Persistence depends on `components` only, so the server
/// places this label after the simulation: `configure_sets(FixedUpdate,
/// PersistAfter.after(SimSystems::Bookkeeping))`.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersistAfter;

/// Everything a restore needs, watched for changes.
type Persisted = Or<(
    Changed<Empire>,
    Changed<Credits>,
    Changed<Stockpile>,
    Changed<Ship>,
    Changed<Position>,
    Changed<Motion>,
    Changed<Hull>,
    Changed<Weapon>,
    Changed<Cargo>,
    Changed<ShipOrder>,
    Changed<Transit>,
    Changed<Fleet>,
    Or<(Changed<Colony>, Changed<Buildings>, Changed<ConstructionQueue>, Changed<ShipyardQueue>)>,
    Or<(Changed<ShipCensus>, Changed<NpcBrain>)>,
)>;

/// Merges this tick's added/changed persisted components into [`PendingChanges`].
pub fn collect_changes(mut pending: ResMut<PendingChanges>, changed: Query<&EntityId, Persisted>) {
    for id in &changed {
        pending.removed.remove(id);
        pending.upserts.insert(*id);
    }
}

/// A despawned entity's id moves from "upsert" to "removed".
fn record_despawn(ev: On<Remove<EntityId>>, ids: Query<&EntityId>, mut pending: ResMut<PendingChanges>) {
    if let Ok(id) = ids.get(ev.event_target()) {
        pending.upserts.remove(id);
        pending.removed.insert(*id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy_app::FixedMain;
    use starforge_systems::prelude::*;
    use starforge_systems::spawn::*;

    /// The simulation with persistence collecting after it, in a generated world.
    fn app(systems: u32, ships: u32, colonies: u32) -> App {
        let mut app = App::new();
        app.insert_resource(Tuning::default());
        app.add_plugins((SimulationPlugin, PersistencePlugin));
        app.configure_sets(FixedUpdate, PersistAfter.after(SimSystems::Bookkeeping));
        app.finish();
        app.cleanup();
        let params = GenParams {
            seed: 2,
            systems: Some(systems),
            ships: Some(ships),
            colonies: Some(colonies),
            resting_orders: 0,
        };
        generate_world(app.world_mut(), &params);
        app
    }

    #[test]
    fn pending_changes_stay_bounded_by_entity_count_and_track_despawns() {
        let mut app = app(20, 600, 40);
        let mut all_removed = BTreeSet::new();
        for _ in 0..1500 {
            app.world_mut().run_schedule(FixedMain);
            let pending = app.world().resource::<PendingChanges>();
            let live = app.world().resource::<EntityIndex>().len();
            assert!(pending.upserts.len() <= live, "upserts ({}) exceed live entities ({live})", pending.upserts.len());
            assert!(pending.upserts.is_disjoint(&pending.removed), "an id is both upserted and removed");
            all_removed.extend(pending.removed.iter().copied());
        }
        let pending = app.world().resource::<PendingChanges>().clone();
        assert!(!pending.upserts.is_empty(), "a living galaxy changes");
        let destroyed = app.world().resource::<SimStats>().ships_destroyed;
        assert!(destroyed > 0, "the run should destroy ships");
        for id in &pending.removed {
            assert!(app.world().resource::<EntityIndex>().get(*id).is_none(), "removed id {id:?} is still live");
        }
        assert!(pending.removed.len() as u64 >= destroyed, "every destroyed ship is pending removal");
        let taken = app.world_mut().resource_mut::<PendingChanges>().take();
        assert_eq!(taken, pending);
        assert!(app.world().resource::<PendingChanges>().is_empty(), "take empties the set");
    }

    #[test]
    fn a_build_order_at_a_colony_at_its_cap_is_collected() {
        let mut app = app(5, 0, 0);
        let world = app.world_mut();
        let mut stock = ResourceAmounts::default();
        *stock.get_mut(ResourceKind::Minerals) = 1_000_000;
        let empire = spawn_empire(world, "P", EmpireKind::Player, 1_000_000_000, stock);
        // Population exactly at the base cap: the colony itself does not change.
        let cap = (Tuning::default().economy.base_population_cap * 1000.0) as i64;
        let colony = spawn_colony(world, empire, "Capped", SystemId(0), 0, cap, Buildings::default());
        app.world_mut().run_schedule(FixedMain);
        app.world_mut().resource_mut::<PendingChanges>().take();
        app.world_mut().resource_mut::<IntentQueue>().0.push(QueuedIntent {
            empire,
            client_ref: 1,
            intent: Intent::Build { colony, building: BuildingKind::Mine },
        });
        app.world_mut().run_schedule(FixedMain);
        let pending = app.world_mut().resource_mut::<PendingChanges>().take();
        assert!(pending.upserts.contains(&colony), "the queued building must be collected: {pending:?}");
        assert!(pending.upserts.contains(&empire), "and the credits it cost");
    }
}
