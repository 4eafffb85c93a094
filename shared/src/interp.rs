//! Interpolation: render ships a configurable delay behind the newest snapshot, moving
//! smoothly between the two snapshots around the render time.

use std::collections::{BTreeMap, VecDeque};

use crate::snapshot::{EntityState, Record, ShipState};

/// One ship to draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShipSample {
    /// Entity id.
    pub id: u64,
    /// System.
    pub system: u32,
    /// Position, metres.
    pub x: f32,
    /// Position, metres.
    pub y: f32,
    /// Heading, radians.
    pub heading: f32,
}

/// Recent ship states by tick, sampled at a fractional render tick.
#[derive(Debug, Clone)]
pub struct Interpolator {
    /// How far behind the newest snapshot to render, in ticks (2–3 snapshot intervals hide a
    /// lost packet).
    pub delay_ticks: f64,
    frames: VecDeque<(u32, BTreeMap<u64, ShipState>)>,
}

impl Interpolator {
    /// An interpolator rendering `delay_ticks` behind the newest snapshot.
    pub fn new(delay_ticks: f64) -> Self {
        Self { delay_ticks, frames: VecDeque::new() }
    }

    /// Records the ships of a new snapshot (older or duplicate ticks are ignored).
    pub fn push(&mut self, tick: u32, records: &[Record]) {
        if self.frames.back().is_some_and(|(t, _)| *t >= tick) {
            return;
        }
        let ships = records
            .iter()
            .filter_map(|r| match r.state {
                EntityState::Ship(s) => Some((r.id, s)),
                _ => None,
            })
            .collect();
        self.frames.push_back((tick, ships));
        while self.frames.len() > 64 {
            self.frames.pop_front();
        }
    }

    /// The render tick for "now": the newest tick plus the ticks elapsed since it arrived,
    /// minus the delay.
    pub fn render_tick(&self, seconds_since_newest: f64, tick_hz: u32) -> Option<f64> {
        let (newest, _) = self.frames.back()?;
        Some(f64::from(*newest) + seconds_since_newest * f64::from(tick_hz) - self.delay_ticks)
    }

    /// Ships at fractional tick `at`: interpolated between the frames around it (a ship in only
    /// one of them is drawn where that frame has it; before the oldest frame, the oldest).
    pub fn sample(&self, at: f64) -> Vec<ShipSample> {
        let Some(after) = self.frames.iter().position(|(t, _)| f64::from(*t) >= at) else {
            return self.frames.back().map(|(_, f)| frame_samples(f, None, 0.0)).unwrap_or_default();
        };
        if after == 0 {
            return frame_samples(&self.frames[0].1, None, 0.0);
        }
        let (t0, f0) = &self.frames[after - 1];
        let (t1, f1) = &self.frames[after];
        let alpha = ((at - f64::from(*t0)) / f64::from(t1 - t0)).clamp(0.0, 1.0) as f32;
        frame_samples(f1, Some(f0), alpha)
    }
}

fn frame_samples(
    next: &BTreeMap<u64, ShipState>,
    prev: Option<&BTreeMap<u64, ShipState>>,
    alpha: f32,
) -> Vec<ShipSample> {
    next.iter()
        .map(|(&id, s)| {
            let [x1, y1] = s.pos();
            let h1 = s.heading_rad();
            let (x, y, heading) = match prev.and_then(|p| p.get(&id)).filter(|p| p.system == s.system) {
                Some(p) => {
                    let [x0, y0] = p.pos();
                    let h0 = p.heading_rad();
                    let mut dh = h1 - h0;
                    if dh > std::f32::consts::PI {
                        dh -= std::f32::consts::TAU;
                    } else if dh < -std::f32::consts::PI {
                        dh += std::f32::consts::TAU;
                    }
                    (x0 + (x1 - x0) * alpha, y0 + (y1 - y0) * alpha, h0 + dh * alpha)
                }
                None => (x1, y1, h1),
            };
            ShipSample { id, system: s.system, x, y, heading }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ship_at(x: i64) -> Record {
        let s = ShipState {
            class: 0,
            owner: 1,
            fleet: 2,
            system: 0,
            transit_to: None,
            x,
            y: 0,
            vx: 0,
            vy: 0,
            heading: 512,
            hull: 255,
        };
        Record { id: 1, tick: 0, state: EntityState::Ship(s) }
    }

    #[test]
    fn interpolates_between_the_frames_around_the_render_tick() {
        let mut i = Interpolator::new(2.0);
        i.push(10, &[ship_at(0)]);
        i.push(12, &[ship_at(80)]);
        i.push(11, &[ship_at(999)]); // late: ignored
        assert_eq!(i.render_tick(0.05, 20), Some(11.0));
        let s = i.sample(11.0);
        assert_eq!(s.len(), 1);
        assert!((s[0].x - 40.0 * crate::snapshot::POS_STEP).abs() < 1e-4, "halfway: {}", s[0].x);
        assert!((i.sample(5.0)[0].x).abs() < 1e-6, "before the oldest frame: the oldest");
        assert!((i.sample(50.0)[0].x - 10.0).abs() < 1e-4, "after the newest: the newest");
    }
}
