//! Starforge wire protocol and client SDK: plain Rust, no Bevy, no database, no async
//! runtime, so any client (or a bot, or a tool) can use it.
//!
//! - [`protocol`]: channels and messages; [`snapshot`]: the bit-packed delta snapshots
//!   (built on [`bits`] and [`quant`]); [`wire`]: the one place messages are encoded.
//! - The SDK: [`client`] (login over HTTP, connect, intents, commands, events),
//!   [`mirror`] (the client's copy of what it sees), [`interp`] (render behind the newest
//!   snapshot), [`http`] (a minimal HTTP/1.1 client for the login call).
//!
//! - [`ingress`]: the server's input path (checks every datagram and packet before renet
//!   parses it); here so the fuzz targets build without the server.
//!
//! `docs/PROTOCOL.md` documents every byte.

pub mod bits;
pub mod client;
pub mod http;
pub mod ingress;
pub mod interp;
pub mod mirror;
pub mod protocol;
pub mod quant;
pub mod snapshot;
pub mod wire;

/// Version of the wire protocol; a client and server must agree on it.
pub const PROTOCOL_VERSION: u32 = 1;
