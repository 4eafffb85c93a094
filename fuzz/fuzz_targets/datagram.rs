//! Arbitrary datagrams into the server's input path (`Ingress::update`, the code the server runs
//! on every datagram), from a connected client's address, a stranger's, or a third address, with
//! one client connected through a real handshake. Any panic that escapes — or one the input path
//! catches (it reports `Reason::Panic`) — is a finding.
//!
//! Input: records of `[source: u8][length: u16 LE][bytes]`; source 0 = the connected client,
//! 1 = a stranger, anything else = a third address.

#![no_main]

use libfuzzer_sys::fuzz_target;
use starforge_shared::ingress::loopback::{CLIENT, Loopback};
use starforge_shared::ingress::{Reason, Report};

fuzz_target!(|data: &[u8]| {
    let Some(mut lb) = Loopback::connected() else { panic!("the handshake must complete") };
    let stranger = "10.1.2.3:4000".parse().expect("addr");
    let third = "[::1]:4000".parse().expect("addr");
    let mut rest = data;
    while rest.len() >= 3 {
        let from = match rest[0] {
            0 => CLIENT,
            1 => stranger,
            _ => third,
        };
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        lb.deliver(from, rest[3..3 + len].to_vec());
        rest = &rest[3 + len..];
    }
    lb.step();
    lb.step();
    for r in lb.ingress.take_reports() {
        if let Report::Dropped { reason: Reason::Panic, detail, .. } = r {
            panic!("a dependency panicked: {detail:?}");
        }
    }
});
