//! The spatial index: a uniform grid of cells per star system, for neighbour queries.
//!
//! Each cell lists the ships in it with their owner and allegiance, so a query can skip a
//! cell without touching any entity (e.g. combat skips cells with no hostile ship).
//! Ships in hyperspace are not in the grid.

use bevy_ecs::prelude::*;
use glam::Vec2;
use starforge_components::ids::FastMap;
use starforge_components::prelude::*;

/// One ship filed in a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridEntry {
    /// The ship.
    pub entity: Entity,
    /// Its stable id.
    pub id: EntityId,
    /// Its owner.
    pub owner: EntityId,
    /// Its owner's kind.
    pub allegiance: EmpireKind,
}

/// Cell key: star system and cell coordinates packed into a `u64`.
pub fn cell_key(system: SystemId, pos: Vec2, cell_size: f32) -> u64 {
    let cx = floor_i32(pos.x / cell_size) as i16 as u16 as u64;
    let cy = floor_i32(pos.y / cell_size) as i16 as u16 as u64;
    ((system.0 as u64) << 32) | (cx << 16) | cy
}

/// `floor` to an integer without a call into the maths library (hot path).
fn floor_i32(x: f32) -> i32 {
    let i = x as i32;
    if (i as f32) > x { i - 1 } else { i }
}

/// The key of the cell `dx`, `dy` cells away from `key`.
pub fn neighbour_key(key: u64, dx: i16, dy: i16) -> u64 {
    let cx = ((key >> 16) as u16 as i16).wrapping_add(dx) as u16 as u64;
    let cy = (key as u16 as i16).wrapping_add(dy) as u16 as u64;
    (key & 0xFFFF_FFFF_0000_0000) | (cx << 16) | cy
}

/// Slot of a side in per-side tables.
pub fn side_slot(k: EmpireKind) -> usize {
    match k {
        EmpireKind::Player => 0,
        EmpireKind::Npc(Faction::Pirates) => 1,
        EmpireKind::Npc(Faction::Traders) => 2,
        EmpireKind::Npc(Faction::Patrol) => 3,
    }
}

/// The sides whose ships a ship of side `k` may be hostile to (by [`side_slot`]).
pub fn hostile_sides(k: EmpireKind) -> [bool; 4] {
    let all = [
        EmpireKind::Player,
        EmpireKind::Npc(Faction::Pirates),
        EmpireKind::Npc(Faction::Traders),
        EmpireKind::Npc(Faction::Patrol),
    ];
    // Players are hostile to other players (different owners), so a side may include itself.
    all.map(|o| k.hostile_to(o) || (k == o && k == EmpireKind::Player))
}

/// One cell: its ships, grouped by side (by [`side_slot`]), so a hostile scan reads only
/// the ships of the sides it could fight.
#[derive(Debug, Default)]
struct Cell {
    sides: [Vec<GridEntry>; 4],
}

impl Cell {
    fn is_empty(&self) -> bool {
        self.sides.iter().all(Vec::is_empty)
    }
    fn len(&self) -> usize {
        self.sides.iter().map(Vec::len).sum()
    }
    fn iter(&self) -> impl Iterator<Item = &GridEntry> {
        self.sides.iter().flatten()
    }
}

/// The grid. Cell contents are in insertion order, which is deterministic; readers that
/// need an order independent of history sort by [`GridEntry::id`].
#[derive(Resource, Debug, Default)]
pub struct SpatialGrid {
    /// Cell size (metres) the keys were computed with.
    pub cell_size: f32,
    cells: FastMap<u64, Cell>,
}

impl SpatialGrid {
    /// An empty grid with this cell size.
    pub fn new(cell_size: f32) -> Self {
        Self { cell_size, cells: FastMap::default() }
    }

    /// Files `entry` under `key`.
    pub fn insert(&mut self, key: u64, entry: GridEntry) {
        self.cells.entry(key).or_default().sides[side_slot(entry.allegiance)].push(entry);
    }

    /// Removes `entity` from cell `key`.
    pub fn remove(&mut self, key: u64, entity: Entity) {
        if let Some(cell) = self.cells.get_mut(&key) {
            for side in &mut cell.sides {
                if let Some(i) = side.iter().position(|e| e.entity == entity) {
                    side.remove(i);
                    break;
                }
            }
            if cell.is_empty() {
                self.cells.remove(&key);
            }
        }
    }

    /// Ships in cell `key` (grouped by side, each side in insertion order).
    pub fn cell(&self, key: u64) -> impl Iterator<Item = &GridEntry> {
        self.cells.get(&key).into_iter().flat_map(Cell::iter)
    }

    /// Ships of the sides in `sides` (see [`hostile_sides`]) in the cells up to `rings` cells
    /// around `key` (1 = the 3×3 block): a hostile scan never walks a ship of a friendly side.
    pub fn around_sides(&self, key: u64, rings: i16, sides: [bool; 4]) -> impl Iterator<Item = &GridEntry> {
        (-rings..=rings)
            .flat_map(move |dx| (-rings..=rings).map(move |dy| neighbour_key(key, dx, dy)))
            .filter_map(move |k| self.cells.get(&k))
            .flat_map(move |c| c.sides.iter().zip(sides).filter(|(_, want)| *want).flat_map(|(v, _)| v.iter()))
    }

    /// Ships in the 3×3 cells around `key`.
    pub fn around(&self, key: u64) -> impl Iterator<Item = &GridEntry> {
        (-1i16..=1)
            .flat_map(move |dx| (-1i16..=1).map(move |dy| neighbour_key(key, dx, dy)))
            .flat_map(move |k| self.cell(k))
    }

    /// Number of ships filed.
    pub fn len(&self) -> usize {
        self.cells.values().map(Cell::len).sum()
    }

    /// True when no ship is filed.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Drops everything (e.g. the cell size changed).
    pub fn clear(&mut self, cell_size: f32) {
        self.cells.clear();
        self.cell_size = cell_size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_systems_and_cells_and_neighbours_are_adjacent() {
        let a = cell_key(SystemId(1), Vec2::new(10.0, 10.0), 100.0);
        let b = cell_key(SystemId(2), Vec2::new(10.0, 10.0), 100.0);
        assert_ne!(a, b, "same point in two systems must be two cells");
        let left = cell_key(SystemId(1), Vec2::new(-10.0, 10.0), 100.0);
        assert_eq!(neighbour_key(a, -1, 0), left, "negative coordinates must be adjacent to positive ones");
        let up = cell_key(SystemId(1), Vec2::new(10.0, 150.0), 100.0);
        assert_eq!(neighbour_key(a, 0, 1), up);
    }

    #[test]
    fn around_finds_neighbours_but_not_far_ships() {
        let mut grid = SpatialGrid::new(100.0);
        let mut world = World::new();
        let mk = |world: &mut World, id| GridEntry {
            entity: world.spawn_empty().id(),
            id: EntityId(id),
            owner: EntityId(100),
            allegiance: EmpireKind::Player,
        };
        let near = mk(&mut world, 1);
        let far = mk(&mut world, 2);
        let k = cell_key(SystemId(0), Vec2::ZERO, 100.0);
        grid.insert(neighbour_key(k, 1, 1), near);
        grid.insert(neighbour_key(k, 3, 0), far);
        let found: Vec<u64> = grid.around(k).map(|e| e.id.0).collect();
        assert_eq!(found, vec![1], "only the diagonal neighbour is within 3x3");
        grid.remove(neighbour_key(k, 1, 1), near.entity);
        assert_eq!(grid.around(k).count(), 0, "removed ship must be gone");
        assert_eq!(grid.len(), 1);
    }
}
