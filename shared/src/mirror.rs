//! The client's mirror of what it can see: the newest decoded snapshot plus the recent ones a
//! server may still encode deltas against.

use std::collections::VecDeque;

use crate::snapshot::{self, EntityState, Header, Record, SnapshotError};

/// Snapshots kept by default (1.6 s at 20 Hz); the server keeps as many.
pub const DEFAULT_HISTORY: usize = 32;

/// What [`Mirror::apply`] did with a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// It became the newest snapshot.
    Newer(Header),
    /// It is not newer than the newest one (a duplicate or late packet) and was ignored.
    Stale(Header),
}

/// Recent snapshots, newest last.
#[derive(Debug, Clone)]
pub struct Mirror {
    history: VecDeque<(u32, Vec<Record>)>,
    capacity: usize,
    last_input_seq: u32,
}

impl Default for Mirror {
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY)
    }
}

impl Mirror {
    /// An empty mirror keeping `capacity` snapshots (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { history: VecDeque::new(), capacity: capacity.max(1), last_input_seq: 0 }
    }

    /// Decodes a snapshot against the baseline it names and, if it is newer than the newest,
    /// makes it the newest. A snapshot whose baseline is no longer (or never was) here is an
    /// error; the client keeps acknowledging its newest tick and the server re-bases.
    pub fn apply(&mut self, bytes: &[u8]) -> Result<Applied, SnapshotError> {
        let header = snapshot::read_header(bytes)?;
        if self.history.back().is_some_and(|(t, _)| header.tick <= *t) {
            return Ok(Applied::Stale(header));
        }
        let base: &[Record] = match header.baseline {
            None => &[],
            Some(b) => match self.history.iter().find(|(t, _)| *t == b) {
                Some((_, records)) => records,
                None => return Err(SnapshotError::MissingBaseline { tick: header.tick, baseline: b }),
            },
        };
        let (header, records) = snapshot::decode(bytes, base)?;
        self.history.push_back((header.tick, records));
        while self.history.len() > self.capacity {
            self.history.pop_front();
        }
        self.last_input_seq = header.last_input_seq;
        Ok(Applied::Newer(header))
    }

    /// Tick of the newest snapshot.
    pub fn tick(&self) -> Option<u32> {
        self.history.back().map(|(t, _)| *t)
    }

    /// The tick to acknowledge: the newest, or 0 before the first snapshot.
    pub fn ack_tick(&self) -> u32 {
        self.tick().unwrap_or(0)
    }

    /// Newest pilot-input sequence number the server says it applied.
    pub fn last_input_seq(&self) -> u32 {
        self.last_input_seq
    }

    /// Entities of the newest snapshot, sorted by id.
    pub fn entities(&self) -> &[Record] {
        self.history.back().map_or(&[], |(_, r)| r.as_slice())
    }

    /// One entity of the newest snapshot.
    pub fn get(&self, id: u64) -> Option<&Record> {
        let e = self.entities();
        e.binary_search_by_key(&id, |r| r.id).ok().map(|i| &e[i])
    }

    /// The snapshot at `tick`, if still kept.
    pub fn at(&self, tick: u32) -> Option<&[Record]> {
        self.history.iter().find(|(t, _)| *t == tick).map(|(_, r)| r.as_slice())
    }

    /// Ships of the newest snapshot.
    pub fn ships(&self) -> impl Iterator<Item = (u64, &snapshot::ShipState)> {
        self.entities().iter().filter_map(|r| match &r.state {
            EntityState::Ship(s) => Some((r.id, s)),
            _ => None,
        })
    }

    /// Keeps `capacity` snapshots from now on (at least 1).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.history.len() > self.capacity {
            self.history.pop_front();
        }
    }

    /// Forgets everything (a reconnect starts from a full snapshot).
    pub fn clear(&mut self) {
        self.history.clear();
        self.last_input_seq = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{ColonyState, encode};

    fn colony(pop: u64) -> EntityState {
        EntityState::Colony(ColonyState { owner: 1, system: 2, planet: 0, population: pop })
    }

    #[test]
    fn applies_in_order_ignores_stale_and_needs_its_baseline() {
        let mut m = Mirror::new(4);
        let (full, server1) = encode(&Header { tick: 1, baseline: None, last_input_seq: 0 }, &[], &[(5, colony(10))]);
        assert!(matches!(m.apply(&full), Ok(Applied::Newer(_))));
        assert_eq!(m.entities(), server1.as_slice());
        let (d2, server2) =
            encode(&Header { tick: 2, baseline: Some(1), last_input_seq: 4 }, &server1, &[(5, colony(11))]);
        let (d3, server3) = encode(
            &Header { tick: 3, baseline: Some(1), last_input_seq: 5 },
            &server1,
            &[(5, colony(12)), (9, colony(1))],
        );
        // Reordered: 3 arrives before 2; 2 is then stale; a duplicate of 3 too.
        assert!(matches!(m.apply(&d3), Ok(Applied::Newer(_))));
        assert!(matches!(m.apply(&d2), Ok(Applied::Stale(_))));
        assert!(matches!(m.apply(&d3), Ok(Applied::Stale(_))));
        assert_eq!(m.entities(), server3.as_slice());
        assert_eq!((m.ack_tick(), m.last_input_seq()), (3, 5));
        let _ = server2;
        // A delta against a baseline the client never had.
        let (d9, _) = encode(&Header { tick: 9, baseline: Some(7), last_input_seq: 5 }, &[], &[]);
        assert_eq!(m.apply(&d9), Err(SnapshotError::MissingBaseline { tick: 9, baseline: 7 }));
        assert_eq!(m.tick(), Some(3), "an undecodable snapshot changes nothing");
    }
}
