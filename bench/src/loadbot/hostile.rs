//! What `hostilebot` sends: unauthenticated junk datagrams ([`Junk`]) and authenticated renet
//! packets that break the protocol ([`Bad`]), each built from a seeded ChaCha stream. Pure
//! functions over bytes; the connection and the sending are in `bin/hostilebot.rs`.
//!
//! Renet packets are built with `shared::ingress::loopback`'s builders (the tests' own);
//! the encoding is in `docs/PROTOCOL.md` §4.

use rand_chacha::ChaCha8Rng;
use rand_core::Rng;
use starforge_shared::ingress::loopback::{slice, small_reliable, small_unreliable};
use starforge_shared::protocol::{Command, CommandKind, IntentPacket, PilotInput, channel};
use starforge_shared::wire;

/// Random datagrams are 0 to this many bytes (exclusive).
pub const MAX_RANDOM_BYTES: usize = 1500;

/// A datagram sent from the client's own (connected) address without the session key: the
/// server must drop it without disconnecting anyone (its source could be forged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Junk {
    /// Random bytes of random length (0 to 1,499).
    RandomBytes,
    /// A copy of one of the client's real datagrams with a random prefix byte.
    RandomPrefix,
    /// 18 bytes with prefix 0xe1 (an unknown type with 14 sequence bytes; used to panic
    /// renetcode).
    CrashE1,
    /// 18 bytes with prefix 0x85 (a payload shorter than its MAC; used to panic renetcode).
    Crash85,
    /// A real datagram cut short at a random length.
    Truncated,
    /// A real datagram with 1 to 64 random bytes appended.
    Extended,
    /// A real datagram sent again unchanged.
    Replay,
}

impl Junk {
    /// The label in `by_kind`.
    pub fn label(self) -> &'static str {
        match self {
            Junk::RandomBytes => "random_bytes",
            Junk::RandomPrefix => "random_prefix",
            Junk::CrashE1 => "crash_e1",
            Junk::Crash85 => "crash_85",
            Junk::Truncated => "truncated",
            Junk::Extended => "extended",
            Junk::Replay => "replay",
        }
    }

    /// Draws a kind: random bytes, random prefixes and replays 20 % each, truncated and extended
    /// copies 15 % each, each crash packet 5 %.
    pub fn pick(rng: &mut ChaCha8Rng) -> Junk {
        match below(rng, 20) {
            0..4 => Junk::RandomBytes,
            4..8 => Junk::RandomPrefix,
            8 => Junk::CrashE1,
            9 => Junk::Crash85,
            10..13 => Junk::Truncated,
            13..16 => Junk::Extended,
            _ => Junk::Replay,
        }
    }

    /// Builds the datagram from the client's recent real datagrams (`real` must not be empty).
    pub fn build(self, rng: &mut ChaCha8Rng, real: &[Vec<u8>]) -> Vec<u8> {
        let copy = |rng: &mut ChaCha8Rng| real[below(rng, real.len())].clone();
        match self {
            Junk::RandomBytes => {
                let len = below(rng, MAX_RANDOM_BYTES);
                random_bytes(rng, len)
            }
            Junk::RandomPrefix => {
                let mut b = copy(rng);
                b[0] = rng.next_u32() as u8;
                b
            }
            Junk::CrashE1 => crash(0xe1),
            Junk::Crash85 => crash(0x85),
            Junk::Truncated => {
                let mut b = copy(rng);
                b.truncate(below(rng, b.len()));
                b
            }
            Junk::Extended => {
                let mut b = copy(rng);
                let extra = 1 + below(rng, 64);
                b.extend(random_bytes(rng, extra));
                b
            }
            Junk::Replay => copy(rng),
        }
    }
}

/// A renet packet sealed with the session key that breaks the protocol: the server should
/// drop the client that sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    /// A ReliableSlice on the commands channel: message 0, slice 1,000 of 3, 1,200 bytes.
    Slice,
    /// A SmallReliable command with message id 10,000 (far past the window).
    FarAhead,
    /// A SmallReliable with one empty message.
    EmptyMessage,
    /// A valid intent packet (renet SmallUnreliable) with 1 to 3 random bits flipped.
    FlippedIntent,
}

impl Bad {
    /// The label in `by_kind`.
    pub fn label(self) -> &'static str {
        match self {
            Bad::Slice => "auth_slice",
            Bad::FarAhead => "auth_far_ahead",
            Bad::EmptyMessage => "auth_empty_message",
            Bad::FlippedIntent => "auth_flipped_intent",
        }
    }

    /// Draws a kind, each a quarter of the time.
    pub fn pick(rng: &mut ChaCha8Rng) -> Bad {
        [Bad::Slice, Bad::FarAhead, Bad::EmptyMessage, Bad::FlippedIntent][below(rng, 4)]
    }

    /// Builds the renet packet (to be sealed) with renet packet sequence `sequence`.
    pub fn build(self, rng: &mut ChaCha8Rng, sequence: u64) -> Vec<u8> {
        match self {
            Bad::Slice => slice(sequence, channel::COMMANDS, 1000, 3, 1200, false),
            Bad::FarAhead => small_reliable(sequence, channel::COMMANDS, 10_000, &[command(1)]),
            Bad::EmptyMessage => small_reliable(sequence, channel::COMMANDS, 0, &[Vec::new()]),
            Bad::FlippedIntent => {
                let input = PilotInput { ship: 1, thrust: 0.5, turn: -0.25, fire: true };
                let msg = intent(sequence as u32, vec![input]);
                let mut p = small_unreliable(sequence, channel::INTENTS, &[msg]);
                for _ in 0..1 + below(rng, 3) {
                    let bit = below(rng, p.len() * 8);
                    p[bit / 8] ^= 1 << (bit % 8);
                }
                p
            }
        }
    }
}

/// An encoded intent packet (what a client sends on the intents channel).
pub fn intent(seq: u32, inputs: Vec<PilotInput>) -> Vec<u8> {
    wire::encode(&IntentPacket { seq, ack_tick: 0, inputs }).expect("an intent packet encodes")
}

/// A uniform draw in `0..n` (`n` > 0; the modulo bias is irrelevant here).
pub fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

fn random_bytes(rng: &mut ChaCha8Rng, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    rng.fill_bytes(&mut b);
    b
}

/// 18 bytes: `prefix` then zeros (the shape of the two packets that used to panic renetcode).
fn crash(prefix: u8) -> Vec<u8> {
    let mut b = vec![0u8; 18];
    b[0] = prefix;
    b
}

fn command(id: u32) -> Vec<u8> {
    wire::encode(&Command { id, kind: CommandKind::MoveTo { fleet: 1, x: 0.0, y: 0.0 } }).expect("a command encodes")
}
