//! Bit packing for snapshot and delta payloads: values are written with exactly as many bits
//! as their quantized range needs, least significant bit first, into a byte buffer.
//!
//! The layout is simple enough to reimplement in any language: bits fill each byte from its
//! least significant bit upwards; a value of `n` bits is written least significant bit first;
//! the final byte is padded with zero bits.

/// Why a read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BitError {
    /// The buffer ended before the value did.
    #[error("payload ended early: needed {needed} more bits")]
    Truncated {
        /// Bits that were missing.
        needed: u32,
    },
    /// A field width outside 0..=64 bits.
    #[error("invalid field width of {0} bits")]
    Width(u32),
}

/// Writes values bit by bit.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the low `bits` bits of `value` (0 to 64). Higher bits of `value` are ignored.
    pub fn write(&mut self, value: u64, bits: u32) {
        assert!(bits <= 64, "a field is at most 64 bits");
        let mut value = if bits == 64 { value } else { value & ((1u64 << bits) - 1) };
        let mut left = bits;
        while left > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let room = 8 - self.used;
            let take = room.min(left);
            let last = self.bytes.len() - 1;
            self.bytes[last] |= ((value & ((1u64 << take) - 1)) as u8) << self.used;
            value >>= take;
            left -= take;
            self.used = (self.used + take) % 8;
        }
    }

    /// Writes one flag bit.
    pub fn write_bool(&mut self, flag: bool) {
        self.write(u64::from(flag), 1);
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        if self.used == 0 { self.bytes.len() * 8 } else { (self.bytes.len() - 1) * 8 + self.used as usize }
    }

    /// The packed bytes (the last one zero-padded).
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads values written by [`BitWriter`]. Never panics on any input.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    /// Bit position from the start.
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Reads a `bits`-bit value (0 to 64).
    pub fn read(&mut self, bits: u32) -> Result<u64, BitError> {
        if bits > 64 {
            return Err(BitError::Width(bits));
        }
        let available = self.bytes.len() * 8 - self.pos;
        if (bits as usize) > available {
            return Err(BitError::Truncated { needed: bits - available as u32 });
        }
        let mut value = 0u64;
        let mut got = 0u32;
        while got < bits {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let take = (8 - offset).min(bits - got);
            let chunk = (u64::from(byte) >> offset) & ((1u64 << take) - 1);
            value |= chunk << got;
            got += take;
            self.pos += take as usize;
        }
        Ok(value)
    }

    /// Reads one flag bit.
    pub fn read_bool(&mut self) -> Result<bool, BitError> {
        Ok(self.read(1)? == 1)
    }

    /// Bits not read yet (including padding).
    pub fn remaining(&self) -> usize {
        self.bytes.len() * 8 - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_lsb_first_and_zero_padded() {
        let mut w = BitWriter::new();
        w.write(0b101, 3);
        w.write(0b11, 2);
        w.write(0x1FF, 9);
        assert_eq!(w.bit_len(), 14);
        // byte 0: bits 0-2 = 101, bits 3-4 = 11, bits 5-7 = low 3 bits of 0x1FF = 111 → 0b1111_1101
        // byte 1: remaining 6 bits of 0x1FF = 111111, then 2 padding zeros → 0b0011_1111
        assert_eq!(w.finish(), vec![0b1111_1101, 0b0011_1111]);
    }

    #[test]
    fn every_width_round_trips() {
        let mut w = BitWriter::new();
        // Alternating bits in each width, so a shifted or truncated read cannot pass.
        let values: Vec<(u64, u32)> = (0..=64u32)
            .map(|b| {
                let mask = if b == 0 { 0 } else { u64::MAX >> (64 - b) };
                (0xAAAA_AAAA_AAAA_AAAA & mask, b)
            })
            .collect();
        for &(v, b) in &values {
            w.write(v, b);
            w.write_bool(b % 2 == 0);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for &(v, b) in &values {
            assert_eq!(r.read(b).expect("in range"), v, "width {b}");
            assert_eq!(r.read_bool().expect("flag"), b % 2 == 0, "flag after width {b}");
        }
        assert!(r.remaining() < 8, "only padding is left");
    }

    #[test]
    fn truncated_or_bad_input_is_an_error_not_a_panic() {
        let mut r = BitReader::new(&[0xFF]);
        assert_eq!(r.read(6), Ok(0x3F));
        assert_eq!(r.read(4), Err(BitError::Truncated { needed: 2 }));
        assert_eq!(r.read(65), Err(BitError::Width(65)));
        let mut empty = BitReader::new(&[]);
        assert_eq!(empty.read(1), Err(BitError::Truncated { needed: 1 }));
        assert_eq!(empty.read(0), Ok(0));
    }
}
