//! Tests of the input path, on an in-memory socket with a real netcode handshake.

use super::loopback::{CLIENT, CLIENT_ID, Loopback, slice};
use super::*;

fn reasons(reports: &[Report]) -> Vec<(Reason, bool)> {
    reports
        .iter()
        .filter_map(|r| match r {
            Report::Dropped { reason, disconnected, .. } => Some((*reason, *disconnected)),
            _ => None,
        })
        .collect()
}

fn connected() -> Loopback {
    Loopback::connected().expect("the handshake completes")
}

#[test]
fn a_real_client_connects_and_its_messages_arrive() {
    let mut lb = connected();
    let mut client = renet::RenetClient::new(crate::protocol::connection_config());
    client.set_connected();
    client.send_message(crate::protocol::channel::COMMANDS, vec![9u8; 20]);
    for p in client.get_packets_to_send() {
        let d = lb.seal(&p).expect("sealed");
        lb.deliver(CLIENT, d);
    }
    lb.step();
    assert_eq!(
        lb.renet.receive_message(CLIENT_ID, crate::protocol::channel::COMMANDS).as_deref(),
        Some(&[9u8; 20][..])
    );
    assert_eq!(reasons(&lb.ingress.take_reports()), vec![]);
}

#[test]
fn the_three_crash_packets_are_dropped_and_counted() {
    let mut lb = connected();
    // 1. Sequence length 14, from the client's address.
    let mut d = vec![0u8; 18];
    d[0] = 0xe1;
    lb.deliver(CLIENT, d);
    // 2. A payload shorter than its MAC, from the client's address.
    let mut d = vec![0u8; 18];
    d[0] = 0x85;
    lb.deliver(CLIENT, d);
    lb.step();
    assert_eq!(
        reasons(&lb.ingress.take_reports()),
        vec![(Reason::NetcodePrefix, false), (Reason::DatagramSize, false)]
    );
    assert!(lb.renet.is_connected(CLIENT_ID), "forgeable datagrams disconnect no one");
    // 3. An authenticated slice with index 1000 of 3.
    let d = lb.seal(&slice(0, crate::protocol::channel::COMMANDS, 1000, 3, 1200, false)).expect("sealed");
    lb.deliver(CLIENT, d);
    lb.step();
    assert_eq!(reasons(&lb.ingress.take_reports()), vec![(Reason::Oversized, true)]);
    lb.step();
    assert!(!lb.renet.is_connected(CLIENT_ID), "the sender of a bad authenticated packet is dropped");
    assert_eq!(lb.ingress.connected(), 0);
}

#[test]
fn a_panic_is_caught_with_its_message_and_place() {
    let got = isolate(|| -> u32 { panic!("boom {}", 7) });
    let message = got.expect_err("the panic is caught");
    assert!(message.starts_with("boom 7 at "), "{message}");
    assert!(message.contains("tests.rs"), "{message}");
    assert_eq!(isolate(|| 5), Ok(5));
}

#[test]
fn junk_from_strangers_is_counted_by_reason() {
    let mut lb = connected();
    let stranger: SocketAddr = "10.0.0.9:1234".parse().expect("addr");
    let mut payload = vec![0u8; 40];
    payload[0] = 0x15;
    lb.deliver(stranger, payload);
    lb.deliver(stranger, vec![0u8; 1078]); // a connection request whose token does not decrypt
    lb.deliver(stranger, vec![0xff; 3]);
    lb.deliver(stranger, vec![0; 2000]); // cut to 1,401 bytes by the receive buffer
    lb.step();
    assert_eq!(
        reasons(&lb.ingress.take_reports()),
        vec![
            (Reason::NetcodeUnexpected, false),
            (Reason::NetcodeRejected, false),
            (Reason::NetcodePrefix, false),
            (Reason::DatagramSize, false),
        ]
    );
    assert!(lb.renet.is_connected(CLIENT_ID));
}

#[test]
fn forged_payloads_from_the_clients_address_are_refused_by_netcode() {
    let mut lb = connected();
    let mut d = lb.seal(&[1, 0, 0, 0, 1, 3, 7, 7, 7]).expect("sealed");
    let last = d.len() - 1;
    d[last] ^= 1; // the MAC no longer matches
    lb.deliver(CLIENT, d.clone());
    lb.step();
    assert_eq!(reasons(&lb.ingress.take_reports()), vec![(Reason::NetcodeRejected, false)]);
    assert!(lb.renet.is_connected(CLIENT_ID));
}

#[test]
fn a_flood_is_cut_at_the_per_frame_allowance() {
    let mut lb = connected();
    let intent = [1u8, 0, 0, 0, 1, 3, 7, 7, 7]; // SmallUnreliable, channel 0, one 3-byte message
    for _ in 0..check::MAX_PACKETS_PER_FRAME + 10 {
        let d = lb.seal(&intent).expect("sealed");
        lb.deliver(CLIENT, d);
    }
    lb.step();
    let r = reasons(&lb.ingress.take_reports());
    assert_eq!(r, vec![(Reason::Flood, false); 10]);
    assert!(lb.renet.is_connected(CLIENT_ID));
}

#[test]
fn the_dependencies_still_panic_on_these_packets_and_isolation_catches_it() {
    // Why the checks exist: renetcode 2.0.0 and renet 2.0.1 panic on these bytes. If one of
    // these assertions fails after an upgrade, the dependency was fixed: keep the checks anyway.
    let mut lb = connected();
    let mut sequence = vec![0u8; 18];
    sequence[0] = 0xe1;
    let got = isolate(|| {
        lb.ingress.netcode.process_packet(CLIENT, &mut sequence);
    });
    assert!(got.as_ref().is_err_and(|m| m.contains("out of range")), "{got:?}");
    let mut short = vec![0u8; 18];
    short[0] = 0x85;
    let got = isolate(|| {
        lb.ingress.netcode.process_packet(CLIENT, &mut short);
    });
    assert!(got.is_err(), "a payload shorter than its MAC");
    let bad = slice(0, crate::protocol::channel::COMMANDS, 1000, 3, 1200, false);
    let got = isolate(|| lb.renet.process_packet_from(&bad, CLIENT_ID));
    assert!(got.as_ref().is_err_and(|m| m.contains("index out of bounds")), "{got:?}");
    // And the process, the session and the input path carry on.
    lb.step();
    assert!(lb.ingress.conns.contains_key(&CLIENT));
}

#[test]
fn a_forged_keep_alive_is_counted_even_after_an_accepted_packet() {
    let mut lb = connected();
    // A real payload, then a keep-alive-shaped datagram that does not decrypt, in one frame.
    let real = lb.seal(&[1, 0, 0, 0, 1, 3, 7, 7, 7]).expect("sealed");
    lb.deliver(CLIENT, real);
    let mut forged = vec![0u8; 1 + 1 + 8 + 16];
    forged[0] = 0x14;
    forged[1] = 200;
    lb.deliver(CLIENT, forged.clone());
    lb.deliver(CLIENT, forged);
    lb.step();
    assert_eq!(reasons(&lb.ingress.take_reports()), vec![(Reason::NetcodeRejected, false); 2]);
}

#[test]
fn forged_datagrams_do_not_use_up_a_players_allowance() {
    let mut lb = connected();
    // 200 keep-alive-shaped forgeries from the player's address, then its real intents.
    let mut forged = vec![0u8; 1 + 1 + 8 + 16];
    forged[0] = 0x14;
    for _ in 0..200 {
        lb.deliver(CLIENT, forged.clone());
    }
    for _ in 0..10 {
        let d = lb.seal(&[1, 0, 0, 0, 1, 3, 7, 7, 7]).expect("sealed");
        lb.deliver(CLIENT, d);
    }
    lb.step();
    let r = reasons(&lb.ingress.take_reports());
    assert_eq!(r, vec![(Reason::NetcodeRejected, false); 200], "no flood: the real packets all went in");
}
