//! Starforge wire protocol and client SDK: plain Rust, no Bevy, no database, no async
//! runtime, so any client (or a bot, or a tool) can use it.
//!
//! This first piece fixes the protocol version and the one place where messages are
//! encoded, so the encoding can be swapped without touching callers. The message types,
//! the client mirror and the SDK come with the network issue (`docs/PROTOCOL.md`).

pub mod wire;

/// Version of the wire protocol; a client and server must agree on it.
pub const PROTOCOL_VERSION: u32 = 1;
