//! The checks every datagram and every decrypted renet packet passes before a dependency parses
//! it. Pure functions over bytes: what renetcode 2.0.0 and renet 2.0.1 would index, slice or
//! allocate from is checked here first (both panic on some malformed input, see
//! `docs/OPERATIONS.md`, "Hostile traffic").
//!
//! Layouts (netcode 1.02, renet 2.0.1) are in `docs/PROTOCOL.md` §3–4.

use crate::protocol::{MAX_CLIENT_MESSAGE_BYTES, channel};

/// Why a datagram, packet or message from a client was dropped: exactly one metric label each
/// (`starforge_invalid_packets_total{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// A datagram too short or too long for its netcode packet type.
    DatagramSize,
    /// A netcode prefix byte with an unknown packet type, a type only servers send, or more
    /// than 8 sequence bytes; or a sequence number of 2^56 or more (no client sends that many).
    NetcodePrefix,
    /// A netcode packet type that is not valid from this address now (a payload from an address
    /// with no connection, a handshake packet from a connected one).
    NetcodeUnexpected,
    /// Well-formed, but netcode refused it: a connect token that is invalid, expired, for
    /// another server or already used from another address; a packet that does not decrypt
    /// with the connection's key; a replayed packet.
    NetcodeRejected,
    /// More authenticated packets from one connection in one frame than
    /// [`MAX_PACKETS_PER_FRAME`]: the excess is dropped unread (the connection stays).
    Flood,
    /// A decrypted payload that is not a renet packet (unknown type, truncated, trailing bytes).
    RenetMalformed,
    /// A renet packet for a channel the client may not send on.
    Channel,
    /// A message over [`MAX_CLIENT_MESSAGE_BYTES`], or a sliced message (only messages larger
    /// than renet's 1,200-byte slice are sliced, so a client never needs one).
    Oversized,
    /// A packet without messages, or a message shorter than [`MIN_MESSAGE_BYTES`] (no
    /// `IntentPacket` or `Command` is).
    MessageSize,
    /// A reliable message id [`RELIABLE_WINDOW`] or more ahead of the first one not yet
    /// received.
    MessageWindow,
    /// A renet packet sequence number more than [`SEQUENCE_WINDOW`] below the newest one
    /// (renet would keep acknowledging it, growing its list of ranges).
    PacketSequence,
    /// An acknowledgement with impossible ranges.
    AckRange,
    /// Handling the packet panicked inside a dependency (caught; the client is dropped).
    Panic,
    /// A message that is not a valid `IntentPacket` or `Command`.
    Malformed,
    /// An `IntentPacket` with more than `MAX_INPUTS_PER_PACKET` inputs.
    TooManyInputs,
    /// A pilot input beyond the per-tick allowance: acknowledged, not applied (the client
    /// stays).
    ExcessInputs,
}

impl Reason {
    /// Every reason, in label order.
    pub const ALL: [Reason; 16] = [
        Reason::DatagramSize,
        Reason::NetcodePrefix,
        Reason::NetcodeUnexpected,
        Reason::NetcodeRejected,
        Reason::Flood,
        Reason::RenetMalformed,
        Reason::Channel,
        Reason::Oversized,
        Reason::MessageSize,
        Reason::MessageWindow,
        Reason::PacketSequence,
        Reason::AckRange,
        Reason::Panic,
        Reason::Malformed,
        Reason::TooManyInputs,
        Reason::ExcessInputs,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::DatagramSize => "datagram_size",
            Reason::NetcodePrefix => "netcode_prefix",
            Reason::NetcodeUnexpected => "netcode_unexpected",
            Reason::NetcodeRejected => "netcode_rejected",
            Reason::Flood => "flood",
            Reason::RenetMalformed => "renet_malformed",
            Reason::Channel => "channel",
            Reason::Oversized => "oversized",
            Reason::MessageSize => "message_size",
            Reason::MessageWindow => "message_window",
            Reason::PacketSequence => "packet_sequence",
            Reason::AckRange => "ack_range",
            Reason::Panic => "panic",
            Reason::Malformed => "malformed",
            Reason::TooManyInputs => "too_many_inputs",
            Reason::ExcessInputs => "excess_inputs",
        }
    }

    /// Whether an authenticated client that sent this is disconnected. Datagram-level reasons
    /// never disconnect anyone: UDP source addresses can be forged.
    pub fn disconnects(self) -> bool {
        !matches!(
            self,
            Reason::DatagramSize
                | Reason::NetcodePrefix
                | Reason::NetcodeUnexpected
                | Reason::NetcodeRejected
                | Reason::Flood
                | Reason::ExcessInputs
        )
    }
}

/// Bytes of a netcode MAC (Poly1305 tag).
pub const MAC_BYTES: usize = 16;
/// Largest datagram accepted (netcode's maximum packet).
pub const MAX_DATAGRAM_BYTES: usize = 1400;
/// Exact size of a netcode connection request.
pub const CONNECTION_REQUEST_BYTES: usize = 1 + 13 + 8 + 8 + 24 + 1024;
/// Largest payload inside a netcode payload packet.
pub const MAX_PAYLOAD_BYTES: usize = 1300;
/// Most authenticated packets handed to renet per connection per frame; more are dropped unread
/// ([`Reason::Flood`]). A frame is a few milliseconds; a client sends a few dozen packets a
/// second. Counted after decryption, so forged datagrams cannot use up a player's allowance.
pub const MAX_PACKETS_PER_FRAME: u32 = 64;
/// Shortest message: the smallest `IntentPacket` and `Command` encode to 3 bytes.
pub const MIN_MESSAGE_BYTES: u64 = 3;
/// How far ahead of the first reliable message not yet received a message id may be (a
/// client's burst of commands with a lost packet stays well inside it).
pub const RELIABLE_WINDOW: u64 = 4096;
/// How far below the newest renet packet sequence number a packet may be (reordering on the
/// way never comes close).
pub const SEQUENCE_WINDOW: u64 = 1024;

/// Netcode packet types.
const REQUEST: u8 = 0;
const RESPONSE: u8 = 3;
const KEEP_ALIVE: u8 = 4;
const PAYLOAD: u8 = 5;
const DISCONNECT: u8 = 6;

/// What the server knows of the address a datagram came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// No connection and no handshake in progress.
    Unknown,
    /// Sent a connection request that was answered with a challenge.
    Pending,
    /// A connected client.
    Connected,
}

/// A netcode packet type a client may send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Connection request (unencrypted, carries the private connect token).
    Request,
    /// Challenge response.
    Response,
    /// Keep-alive.
    KeepAlive,
    /// Payload (a renet packet).
    Payload,
    /// Disconnect.
    Disconnect,
}

/// Checks a datagram's netcode framing: prefix, sequence length, size for its type, and that the
/// type is one `peer` may send. Renetcode may then decrypt and parse it without panicking.
pub fn check_datagram(bytes: &[u8], peer: Peer) -> Result<Kind, Reason> {
    let Some(&prefix) = bytes.first() else { return Err(Reason::DatagramSize) };
    if bytes.len() > MAX_DATAGRAM_BYTES {
        return Err(Reason::DatagramSize);
    }
    let (kind, sequence_len) = (prefix & 0x0f, usize::from(prefix >> 4));
    let kind = match kind {
        REQUEST if sequence_len == 0 => Kind::Request,
        RESPONSE => Kind::Response,
        KEEP_ALIVE => Kind::KeepAlive,
        PAYLOAD => Kind::Payload,
        DISCONNECT => Kind::Disconnect,
        _ => return Err(Reason::NetcodePrefix),
    };
    if sequence_len > 8 {
        return Err(Reason::NetcodePrefix);
    }
    // No client sends 2^56 packets; renetcode's replay check overflows near 2^64.
    if sequence_len == 8 && bytes.get(8).is_some_and(|top| *top != 0) {
        return Err(Reason::NetcodePrefix);
    }
    let allowed = match peer {
        Peer::Unknown => kind == Kind::Request,
        Peer::Pending => matches!(kind, Kind::Request | Kind::Response),
        Peer::Connected => matches!(kind, Kind::KeepAlive | Kind::Payload | Kind::Disconnect),
    };
    if !allowed {
        return Err(Reason::NetcodeUnexpected);
    }
    let size_ok = match kind {
        Kind::Request => bytes.len() == CONNECTION_REQUEST_BYTES,
        _ => {
            let content = bytes.len().checked_sub(1 + sequence_len + MAC_BYTES);
            match kind {
                Kind::Response => content == Some(8 + 300),
                Kind::KeepAlive => content == Some(8),
                Kind::Payload => content.is_some_and(|n| (1..=MAX_PAYLOAD_BYTES).contains(&n)),
                _ => content == Some(0),
            }
        }
    };
    if size_ok { Ok(kind) } else { Err(Reason::DatagramSize) }
}

/// The connection request's token expiry (seconds since the Unix epoch), from a datagram that
/// passed [`check_datagram`] as a [`Kind::Request`].
pub fn request_expiry(bytes: &[u8]) -> u64 {
    bytes.get(22..30).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Per-connection state of the checks: the newest packet sequence number, and which reliable
/// command ids have arrived.
#[derive(Debug)]
pub struct Window {
    /// The newest renet packet sequence number seen.
    newest: Option<u64>,
    /// The first command id not yet received.
    next: u64,
    /// Ids in `next..next + RELIABLE_WINDOW` received, one bit each at `id % RELIABLE_WINDOW`.
    ahead: Box<[u64; RELIABLE_WINDOW as usize / 64]>,
}

impl Default for Window {
    fn default() -> Self {
        Window { newest: None, next: 0, ahead: Box::new([0; RELIABLE_WINDOW as usize / 64]) }
    }
}

impl Window {
    /// Whether a command id is within the window (ids before it are resends).
    fn fits(&self, id: u64) -> bool {
        id < self.next || id - self.next < RELIABLE_WINDOW
    }

    fn bit(id: u64) -> (usize, u64) {
        let i = id % RELIABLE_WINDOW;
        ((i / 64) as usize, 1 << (i % 64))
    }

    /// Notes a command id within the window.
    fn note(&mut self, id: u64) {
        if id < self.next {
            return;
        }
        let (word, mask) = Self::bit(id);
        self.ahead[word] |= mask;
        loop {
            let (word, mask) = Self::bit(self.next);
            if self.ahead[word] & mask == 0 {
                break;
            }
            self.ahead[word] &= !mask;
            self.next += 1;
        }
    }

    /// Notes a packet sequence number; `false` if it is too far below the newest.
    fn sequence(&mut self, sequence: u64) -> bool {
        match self.newest {
            Some(newest) if sequence.saturating_add(SEQUENCE_WINDOW) < newest => false,
            Some(newest) if sequence <= newest => true,
            _ => {
                self.newest = Some(sequence);
                true
            }
        }
    }
}

/// A reader over renet's packet encoding (QUIC variable-length integers, big-endian fixed ones).
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Reason> {
        if n > self.bytes.len() {
            return Err(Reason::RenetMalformed);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Reason> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, Reason> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn varint(&mut self) -> Result<u64, Reason> {
        let first = *self.bytes.first().ok_or(Reason::RenetMalformed)?;
        let len = 1usize << (first >> 6);
        let b = self.take(len)?;
        let mut v = u64::from(b[0] & 0x3f);
        for byte in &b[1..] {
            v = (v << 8) | u64::from(*byte);
        }
        Ok(v)
    }
}

/// Checks a decrypted renet packet from an authenticated client: channel, message sizes,
/// reliable ids and packet sequence numbers within their windows, acknowledgement ranges,
/// nothing after the end. Notes what it accepted in `window`. Renet may then parse and store it
/// without panicking and without holding more than the channel limits.
pub fn check_payload(bytes: &[u8], window: &mut Window) -> Result<(), Reason> {
    let mut r = Reader { bytes };
    let kind = r.u8()?;
    if kind > 4 {
        return Err(Reason::RenetMalformed);
    }
    if kind == 2 || kind == 3 {
        // Reliable and unreliable slices: only messages over 1,200 bytes are sliced.
        return Err(Reason::Oversized);
    }
    let sequence = r.varint()?;
    match kind {
        0 | 1 => {
            let reliable = kind == 0;
            let expected = if reliable { channel::COMMANDS } else { channel::INTENTS };
            if r.u8()? != expected {
                return Err(Reason::Channel);
            }
            let count = usize::from(r.u16()?);
            if count == 0 {
                return Err(Reason::MessageSize);
            }
            // At most a few hundred fit in a payload; bounded by the packet's size.
            let mut ids = Vec::new();
            for _ in 0..count {
                if reliable {
                    ids.push(r.varint()?);
                }
                let len = r.varint()?;
                if len < MIN_MESSAGE_BYTES {
                    return Err(Reason::MessageSize);
                }
                if len > MAX_CLIENT_MESSAGE_BYTES as u64 {
                    return Err(Reason::Oversized);
                }
                r.take(len as usize)?;
            }
            if !r.bytes.is_empty() {
                return Err(Reason::RenetMalformed);
            }
            if !ids.iter().all(|id| window.fits(*id)) {
                return Err(Reason::MessageWindow);
            }
            if !window.sequence(sequence) {
                return Err(Reason::PacketSequence);
            }
            // Ids are noted only once the whole packet is known to be good.
            ids.iter().for_each(|id| window.note(*id));
            Ok(())
        }
        _ => {
            let end = r.varint()?;
            let size = r.varint()?;
            let more = r.varint()?;
            if end < size {
                return Err(Reason::AckRange);
            }
            let mut previous_start = end - size;
            for _ in 0..more {
                let gap = r.varint()?;
                let size = r.varint()?;
                let Some(range_end) = previous_start.checked_sub(gap).and_then(|v| v.checked_sub(2)) else {
                    return Err(Reason::AckRange);
                };
                if range_end < size {
                    return Err(Reason::AckRange);
                }
                previous_start = range_end - size;
            }
            if !r.bytes.is_empty() {
                return Err(Reason::RenetMalformed);
            }
            if !window.sequence(sequence) {
                return Err(Reason::PacketSequence);
            }
            Ok(())
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
