//! Stable identities: [`EntityId`] survives restarts, Bevy's `Entity` does not.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

/// Stable 64-bit identity of every persisted or replicated entity.
///
/// Allocated by [`IdAllocator`]; never reused. Sorting by `EntityId` is the canonical
/// order for anything that must be deterministic.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityId(pub u64);

/// Identity of a star system (index into [`crate::galaxy::Galaxy::systems`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SystemId(pub u32);

/// Hands out [`EntityId`]s. Part of the persisted world state: after a restore it
/// continues where it stopped, so ids are never reused.
#[derive(Resource, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdAllocator {
    /// The next id to hand out. Id 0 is never allocated (it means "none" on the wire).
    pub next: u64,
}

impl Default for IdAllocator {
    fn default() -> Self {
        Self { next: 1 }
    }
}

impl IdAllocator {
    /// Allocates a fresh id.
    pub fn allocate(&mut self) -> EntityId {
        let id = EntityId(self.next);
        self.next += 1;
        id
    }
}

/// Multiplicative hasher for integer keys (ids, packed cell keys). Much cheaper than SipHash;
/// fine because keys are not attacker-chosen in bulk and maps using it are only used for
/// point lookups, never iterated where order matters.
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Multiply, then fold the well-mixed high half into the low half: hash tables index
        // by the low bits, and a bare multiply leaves those depending on the key's low bits
        // only (packed cell keys differ mostly in their middle and high bits).
        let x = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }
}

/// A `HashMap` with [`FastHasher`], for point lookups by integer key.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Lookup from [`EntityId`] to the live Bevy [`Entity`].
///
/// Only ever used for point lookups; nothing iterates it (its order is not deterministic).
#[derive(Resource, Default, Debug)]
pub struct EntityIndex {
    map: FastMap<EntityId, Entity>,
}

impl EntityIndex {
    /// Records that `id` lives in `entity`.
    pub fn insert(&mut self, id: EntityId, entity: Entity) {
        self.map.insert(id, entity);
    }

    /// Forgets `id` (the entity was despawned).
    pub fn remove(&mut self, id: EntityId) -> Option<Entity> {
        self.map.remove(&id)
    }

    /// The live entity for `id`, if any.
    pub fn get(&self, id: EntityId) -> Option<Entity> {
        self.map.get(&id).copied()
    }

    /// Number of live indexed entities.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
