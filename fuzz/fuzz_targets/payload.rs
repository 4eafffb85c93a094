//! Arbitrary decrypted payloads of an established session: each record is sealed with the
//! connected client's real session key and delivered, so it takes the server's whole path —
//! netcode decryption, the renet packet checks, renet itself — and then every message renet
//! delivers is read as the server reads it. Any panic, caught or not, is a finding.
//!
//! Input: records of `[length: u16 LE][bytes]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use starforge_shared::ingress::loopback::{CLIENT, CLIENT_ID, Loopback};
use starforge_shared::ingress::{Reason, Report};
use starforge_shared::protocol::{Command, IntentPacket, channel};
use starforge_shared::wire;

fuzz_target!(|data: &[u8]| {
    let Some(mut lb) = Loopback::connected() else { panic!("the handshake must complete") };
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        if let Some(datagram) = lb.seal(&rest[2..2 + len]) {
            lb.deliver(CLIENT, datagram);
        }
        rest = &rest[2 + len..];
    }
    lb.step();
    while let Some(m) = lb.renet.receive_message(CLIENT_ID, channel::INTENTS) {
        let _ = wire::decode::<IntentPacket>(&m);
    }
    while let Some(m) = lb.renet.receive_message(CLIENT_ID, channel::COMMANDS) {
        let _ = wire::decode::<Command>(&m);
    }
    lb.step();
    for r in lb.ingress.take_reports() {
        if let Report::Dropped { reason: Reason::Panic, detail, .. } = r {
            panic!("a dependency panicked: {detail:?}");
        }
    }
});
