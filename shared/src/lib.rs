//! Starforge wire protocol and client SDK: plain Rust, no Bevy, no database, no async
//! runtime, so any client (or a bot, or a tool) can use it.
//!
//! So far: the protocol version, the one place where messages are encoded (`wire`, so the
//! encoding can be swapped without touching callers), and the building blocks of compact
//! snapshots: bit packing (`bits`) and quantization (`quant`). The message types, the
//! client mirror and the SDK come with the network issue (`docs/PROTOCOL.md`).

pub mod bits;
pub mod protocol;
pub mod quant;
pub mod snapshot;
pub mod wire;

/// Version of the wire protocol; a client and server must agree on it.
pub const PROTOCOL_VERSION: u32 = 1;
