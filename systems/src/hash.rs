//! The world-state hash: every simulated component in [`EntityId`] order, plus the
//! resources that carry state. Equal hashes ⇔ (for all practical purposes) equal worlds.
//! Used by determinism tests, persistence round-trip tests and tools.

use std::hash::{Hash, Hasher};

use bevy_ecs::prelude::*;
use starforge_components::prelude::*;

use crate::combat::Engagements;

/// 64-bit FNV-1a: stable across runs, platforms and compiler versions (unlike `DefaultHasher`).
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64 {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn f(h: &mut Fnv64, v: f32) {
    h.write_u32(v.to_bits());
}

fn v2(h: &mut Fnv64, v: glam::Vec2) {
    f(h, v.x);
    f(h, v.y);
}

fn order(h: &mut Fnv64, o: &ShipOrder) {
    match o {
        ShipOrder::Idle => h.write_u8(0),
        ShipOrder::Manual { thrust, turn, fire, until } => {
            h.write_u8(1);
            f(h, *thrust);
            f(h, *turn);
            fire.hash(h);
            until.hash(h);
        }
        ShipOrder::MoveTo(p) => {
            h.write_u8(2);
            v2(h, *p);
        }
        ShipOrder::Jump { path, next } => {
            h.write_u8(3);
            path.hash(h);
            next.hash(h);
        }
        ShipOrder::Attack(t) => {
            h.write_u8(4);
            t.hash(h);
        }
        ShipOrder::Patrol { points, next, goal } => {
            h.write_u8(5);
            points.len().hash(h);
            points.iter().for_each(|p| v2(h, *p));
            next.hash(h);
            v2(h, *goal);
        }
    }
}

/// Hash of the whole simulation state.
pub fn world_hash(world: &mut World) -> u64 {
    let mut h = Fnv64::default();
    world.resource::<SimTick>().hash(&mut h);
    world.resource::<WorldSeed>().hash(&mut h);
    world.resource::<IdAllocator>().next.hash(&mut h);
    world.resource::<Ledger>().hash(&mut h);
    world.resource::<SimStats>().hash(&mut h);
    world.resource::<Engagements>().hash(&mut h);
    world.resource::<Market>().hash_into(&mut h);

    let mut q = world.query::<(
        &EntityId,
        (Option<&Empire>, Option<&Credits>, Option<&Stockpile>, Option<&ShipCensus>, Option<&NpcBrain>),
        (Option<&Ship>, Option<&Owner>, Option<&Position>, Option<&Motion>, Option<&Hull>, Option<&Weapon>),
        (
            Option<&Cargo>,
            Option<&FleetMember>,
            Option<&Transit>,
            Option<&ShipOrder>,
            Option<&Fleet>,
            Option<&Allegiance>,
        ),
        (Option<&Colony>, Option<&Buildings>, Option<&ConstructionQueue>, Option<&ShipyardQueue>, Option<&Target>),
    )>();
    let mut rows: Vec<_> = q.iter(world).collect();
    rows.sort_by_key(|r| *r.0);
    for (id, e, s, s2, c) in rows {
        id.hash(&mut h);
        if let Some(emp) = e.0 {
            emp.name.hash(&mut h);
            emp.kind.hash(&mut h);
        }
        e.1.hash(&mut h);
        e.2.hash(&mut h);
        e.3.hash(&mut h);
        e.4.hash(&mut h);
        s.0.hash(&mut h);
        s.1.hash(&mut h);
        if let Some(p) = s.2 {
            p.system.hash(&mut h);
            v2(&mut h, p.local);
        }
        if let Some(m) = s.3 {
            v2(&mut h, m.vel);
            f(&mut h, m.heading);
        }
        if let Some(hull) = s.4 {
            f(&mut h, hull.0);
        }
        s.5.hash(&mut h);
        s2.0.hash(&mut h);
        s2.1.hash(&mut h);
        s2.2.hash(&mut h);
        if let Some(o) = s2.3 {
            order(&mut h, o);
        }
        s2.4.hash(&mut h);
        s2.5.hash(&mut h);
        if let Some(col) = c.0 {
            col.name.hash(&mut h);
            col.system.hash(&mut h);
            col.planet.hash(&mut h);
            col.population.hash(&mut h);
        }
        c.1.hash(&mut h);
        c.2.hash(&mut h);
        c.3.hash(&mut h);
        // The target's id only: its `Entity` is not stable across a restore.
        c.4.map(|t| t.0.map(|(id, _)| id)).hash(&mut h);
    }
    h.finish()
}
