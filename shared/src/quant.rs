//! Quantization: a float in a known range becomes an integer of a fixed number of bits, so
//! snapshots carry only the precision a client needs (positions relative to their grid cell,
//! headings in ~10 bits, hull as a fraction).
//!
//! A [`Quantizer`] maps `[lo, hi]` onto `0 ..= 2^bits − 1` with round-to-nearest; values
//! outside the range are clamped and NaN encodes as `lo`. Decoding returns the centre of the
//! step, so the error is at most half a step: `(hi − lo) / (2^bits − 1) / 2`.

/// Maps a float range onto `bits`-bit integers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantizer {
    /// Lowest representable value.
    pub lo: f32,
    /// Highest representable value.
    pub hi: f32,
    /// Bits per value, 1 to 32.
    pub bits: u32,
}

impl Quantizer {
    /// A quantizer for `[lo, hi]` in `bits` bits (`lo < hi`, 1 ≤ bits ≤ 32).
    pub const fn new(lo: f32, hi: f32, bits: u32) -> Self {
        assert!(bits >= 1 && bits <= 32, "1 to 32 bits");
        assert!(lo < hi, "an empty range");
        Self { lo, hi, bits }
    }

    /// Largest encoded value.
    pub fn max_code(&self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// Size of one step.
    pub fn step(&self) -> f32 {
        (self.hi - self.lo) / self.max_code() as f32
    }

    /// The code for `v` (clamped to the range; NaN → the code of `lo`).
    pub fn encode(&self, v: f32) -> u64 {
        if v.is_nan() {
            return 0;
        }
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        ((t as f64) * self.max_code() as f64).round() as u64
    }

    /// The value of `code` (codes above the maximum decode as `hi`).
    pub fn decode(&self, code: u64) -> f32 {
        let code = code.min(self.max_code());
        self.lo + (self.hi - self.lo) * (code as f64 / self.max_code() as f64) as f32
    }
}

/// Headings (radians, (-π, π]) in 10 bits: ~0.35° steps.
pub const HEADING: Quantizer = Quantizer::new(-std::f32::consts::PI, std::f32::consts::PI, 10);
/// Hull as a fraction of the class maximum, in 8 bits.
pub const HULL_FRACTION: Quantizer = Quantizer::new(0.0, 1.0, 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_at_most_half_a_step_and_ends_are_exact() {
        for q in [HEADING, HULL_FRACTION, Quantizer::new(-500.0, 500.0, 12), Quantizer::new(0.0, 2000.0, 16)] {
            let half = q.step() / 2.0 * 1.0001 + f32::EPSILON * q.hi.abs().max(q.lo.abs());
            for i in 0..=10_000 {
                let v = q.lo + (q.hi - q.lo) * i as f32 / 10_000.0;
                let code = q.encode(v);
                assert!(code <= q.max_code(), "{q:?}: code {code} out of range");
                let back = q.decode(code);
                assert!((back - v).abs() <= half, "{q:?}: {v} → {code} → {back}, error above half a step {half}");
            }
            assert_eq!(q.decode(q.encode(q.lo)), q.lo);
            assert_eq!(q.decode(q.encode(q.hi)), q.hi);
        }
    }

    #[test]
    fn out_of_range_and_nan_are_clamped() {
        let q = HULL_FRACTION;
        assert_eq!(q.encode(-3.0), 0);
        assert_eq!(q.encode(7.0), 255);
        assert_eq!(q.encode(f32::NAN), 0);
        assert_eq!(q.encode(f32::INFINITY), 255);
        assert_eq!(q.decode(10_000), 1.0, "an impossible code decodes to the top of the range");
        assert_eq!(HEADING.max_code(), 1023);
        assert!((HEADING.step() - 2.0 * std::f32::consts::PI / 1023.0).abs() < 1e-6);
    }
}
