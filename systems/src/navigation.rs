//! Hyperlane route finding.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use starforge_components::prelude::*;

/// Shortest route by lane length from `from` to `to`: the systems to visit after `from`,
/// ending with `to` (empty if `from == to`), or `None` if unreachable or unknown.
///
/// Ties are broken by system id, so the route is deterministic.
pub fn route(galaxy: &Galaxy, from: SystemId, to: SystemId) -> Option<Vec<SystemId>> {
    let n = galaxy.systems.len();
    if from.0 as usize >= n || to.0 as usize >= n {
        return None;
    }
    if from == to {
        return Some(Vec::new());
    }
    let mut dist = vec![f32::INFINITY; n];
    let mut prev = vec![u32::MAX; n];
    let mut heap = BinaryHeap::new();
    dist[from.0 as usize] = 0.0;
    // Distances are non-negative floats; their bit patterns order the same way.
    heap.push(Reverse((0f32.to_bits(), from.0)));
    while let Some(Reverse((d_bits, s))) = heap.pop() {
        let d = f32::from_bits(d_bits);
        if d > dist[s as usize] {
            continue;
        }
        if s == to.0 {
            break;
        }
        for &l in &galaxy.systems[s as usize].lanes {
            let lane = &galaxy.lanes[l as usize];
            let Some(next) = lane.other(SystemId(s)) else { continue };
            let nd = d + lane.length;
            if nd < dist[next.0 as usize] {
                dist[next.0 as usize] = nd;
                prev[next.0 as usize] = s;
                heap.push(Reverse((nd.to_bits(), next.0)));
            }
        }
    }
    if prev[to.0 as usize] == u32::MAX {
        return None;
    }
    let mut path = vec![to];
    let mut at = to.0;
    while prev[at as usize] != from.0 {
        at = prev[at as usize];
        path.push(SystemId(at));
    }
    path.reverse();
    Some(path)
}

/// Systems within `max_jumps` lane hops of `from` (excluding it), nearest first, ties by id.
pub fn within_jumps(galaxy: &Galaxy, from: SystemId, max_jumps: u32) -> Vec<(SystemId, u32)> {
    let mut seen = vec![false; galaxy.systems.len()];
    let Some(s) = seen.get_mut(from.0 as usize) else { return Vec::new() };
    *s = true;
    let mut out = Vec::new();
    let mut frontier = vec![from];
    for hop in 1..=max_jumps {
        let mut next = Vec::new();
        for &s in &frontier {
            for n in galaxy.neighbours(s) {
                if !seen[n.0 as usize] {
                    seen[n.0 as usize] = true;
                    next.push(n);
                }
            }
        }
        next.sort();
        out.extend(next.iter().map(|&s| (s, hop)));
        frontier = next;
    }
    out
}
