//! Tests of the checks, byte by byte.

use super::*;
use crate::ingress::loopback::{slice, varint};

fn datagram(prefix: u8, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len];
    d[0] = prefix;
    d
}

#[test]
fn the_two_netcode_panics_are_refused() {
    // Sequence length 14 (prefix 0xe1, type 1) and 9 (0x95, a payload): renetcode would index
    // an 8-byte array with them.
    assert_eq!(check_datagram(&datagram(0xe1, 18), Peer::Connected), Err(Reason::NetcodePrefix));
    assert_eq!(check_datagram(&datagram(0x95, 40), Peer::Connected), Err(Reason::NetcodePrefix));
    // A payload with 8 sequence bytes and 9 bytes after them: shorter than its MAC.
    assert_eq!(check_datagram(&datagram(0x85, 18), Peer::Connected), Err(Reason::DatagramSize));
    assert_eq!(check_datagram(&datagram(0x85, 18), Peer::Pending), Err(Reason::NetcodeUnexpected));
}

#[test]
fn sequences_no_client_reaches_are_refused() {
    // Renetcode's replay check computes `sequence + 256`, which overflows near 2^64.
    let mut d = datagram(0x85, 1 + 8 + 20 + 16);
    d[1..9].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(check_datagram(&d, Peer::Connected), Err(Reason::NetcodePrefix));
    d[1..9].copy_from_slice(&((1u64 << 56) - 1).to_le_bytes());
    assert_eq!(check_datagram(&d, Peer::Connected), Ok(Kind::Payload));
}

#[test]
fn sizes_follow_the_packet_type() {
    // Payload with a 2-byte sequence: 1 + 2 + content + 16.
    assert_eq!(check_datagram(&datagram(0x25, 1 + 2 + 1 + 16), Peer::Connected), Ok(Kind::Payload));
    assert_eq!(check_datagram(&datagram(0x25, 1 + 2 + 16), Peer::Connected), Err(Reason::DatagramSize));
    assert_eq!(check_datagram(&datagram(0x25, 1 + 2 + 1300 + 16), Peer::Connected), Ok(Kind::Payload));
    assert_eq!(check_datagram(&datagram(0x25, 1 + 2 + 1301 + 16), Peer::Connected), Err(Reason::DatagramSize));
    // Sequence 0 is written with no bytes.
    assert_eq!(check_datagram(&datagram(0x04, 1 + 8 + 16), Peer::Connected), Ok(Kind::KeepAlive));
    assert_eq!(check_datagram(&datagram(0x14, 1 + 1 + 9 + 16), Peer::Connected), Err(Reason::DatagramSize));
    assert_eq!(check_datagram(&datagram(0x16, 1 + 1 + 16), Peer::Connected), Ok(Kind::Disconnect));
    assert_eq!(check_datagram(&datagram(0x13, 1 + 1 + 308 + 16), Peer::Pending), Ok(Kind::Response));
    assert_eq!(check_datagram(&datagram(0x00, CONNECTION_REQUEST_BYTES), Peer::Unknown), Ok(Kind::Request));
    assert_eq!(check_datagram(&datagram(0x00, CONNECTION_REQUEST_BYTES - 1), Peer::Unknown), Err(Reason::DatagramSize));
    assert_eq!(check_datagram(&datagram(0x00, MAX_DATAGRAM_BYTES + 1), Peer::Unknown), Err(Reason::DatagramSize));
    assert_eq!(check_datagram(&[], Peer::Unknown), Err(Reason::DatagramSize));
}

#[test]
fn types_follow_the_peer() {
    let request = datagram(0x00, CONNECTION_REQUEST_BYTES);
    let payload = datagram(0x15, 1 + 1 + 10 + 16);
    assert_eq!(check_datagram(&payload, Peer::Unknown), Err(Reason::NetcodeUnexpected));
    assert_eq!(check_datagram(&request, Peer::Connected), Err(Reason::NetcodeUnexpected));
    assert_eq!(check_datagram(&request, Peer::Pending), Ok(Kind::Request));
    // Types only servers send (denied, challenge), unknown types, a request with sequence bits.
    for prefix in [0x11, 0x12, 0x17, 0x1f, 0x10] {
        assert_eq!(check_datagram(&datagram(prefix, 60), Peer::Connected), Err(Reason::NetcodePrefix), "{prefix:#x}");
    }
}

/// A renet SmallReliable (kind 0) or SmallUnreliable (kind 1) packet, ids given per message.
fn small(kind: u8, channel: u8, messages: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut p = vec![kind];
    varint(&mut p, 7);
    p.push(channel);
    p.extend_from_slice(&(messages.len() as u16).to_be_bytes());
    for (id, m) in messages {
        if kind == 0 {
            varint(&mut p, *id);
        }
        varint(&mut p, m.len() as u64);
        p.extend_from_slice(m);
    }
    p
}

#[test]
fn what_renet_itself_writes_passes() {
    use renet::RenetClient;
    // A real renet client's packets (messages on both channels and an ack) pass the checks.
    let mut client = RenetClient::new(crate::protocol::connection_config());
    client.set_connected();
    client.send_message(channel::INTENTS, vec![1u8; 40]);
    client.send_message(channel::COMMANDS, vec![2u8; 30]);
    client.send_message(channel::COMMANDS, vec![3u8; MAX_CLIENT_MESSAGE_BYTES]);
    let mut window = Window::default();
    let packets = client.get_packets_to_send();
    assert!(packets.len() >= 2, "{} packets", packets.len());
    for p in &packets {
        assert_eq!(check_payload(p, &mut window), Ok(()), "{p:?}");
    }
    assert_eq!(window.next, 2, "both commands noted");
}

#[test]
fn the_slice_panic_and_sliced_messages_are_refused() {
    // Slice index 1000 of 3, 1,200 bytes, reliable and unreliable.
    for unreliable in [false, true] {
        let p = slice(0, channel::COMMANDS, 1000, 3, 1200, unreliable);
        assert_eq!(check_payload(&p, &mut Window::default()), Err(Reason::Oversized));
    }
}

#[test]
fn messages_are_bounded() {
    let w = &mut Window::default();
    assert_eq!(check_payload(&small(1, channel::INTENTS, &[(0, vec![1; 1024])]), w), Ok(()));
    assert_eq!(check_payload(&small(1, channel::INTENTS, &[(0, vec![1; 1025])]), w), Err(Reason::Oversized));
    assert_eq!(check_payload(&small(1, channel::INTENTS, &[(0, vec![])]), w), Err(Reason::MessageSize));
    assert_eq!(check_payload(&small(1, channel::INTENTS, &[(0, vec![1, 2])]), w), Err(Reason::MessageSize));
    assert_eq!(check_payload(&small(1, channel::INTENTS, &[]), w), Err(Reason::MessageSize));
    // As many as fit: a packet's size is the only bound on its count.
    let many: Vec<_> = (0..200).map(|i| (i, vec![1, 2, 3])).collect();
    assert_eq!(check_payload(&small(1, channel::INTENTS, &many), w), Ok(()));
    // Wrong channels: commands are reliable, intents unreliable; channel 9 does not exist.
    assert_eq!(check_payload(&small(1, channel::COMMANDS, &[(0, vec![1; 3])]), w), Err(Reason::Channel));
    assert_eq!(check_payload(&small(0, channel::INTENTS, &[(0, vec![1; 3])]), w), Err(Reason::Channel));
    assert_eq!(check_payload(&small(0, 9, &[(0, vec![1; 3])]), w), Err(Reason::Channel));
    // Truncated, trailing bytes, unknown packet type.
    let good = small(1, channel::INTENTS, &[(0, vec![1, 2, 3])]);
    assert_eq!(check_payload(&good[..good.len() - 1], w), Err(Reason::RenetMalformed));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(check_payload(&trailing, w), Err(Reason::RenetMalformed));
    assert_eq!(check_payload(&[5, 0, 0], w), Err(Reason::RenetMalformed));
    assert_eq!(check_payload(&[], w), Err(Reason::RenetMalformed));
}

#[test]
fn reliable_ids_stay_in_the_window() {
    let w = &mut Window::default();
    let at = |id: u64| small(0, channel::COMMANDS, &[(id, vec![1; 3])]);
    assert_eq!(check_payload(&at(RELIABLE_WINDOW - 1), w), Ok(()));
    assert_eq!(check_payload(&at(RELIABLE_WINDOW), w), Err(Reason::MessageWindow));
    for id in 0..10 {
        assert_eq!(check_payload(&at(id), w), Ok(()));
    }
    assert_eq!(w.next, 10);
    assert_eq!(check_payload(&at(3), w), Ok(()), "a resend");
    assert_eq!(check_payload(&at(10 + RELIABLE_WINDOW - 1), w), Ok(()));
    assert_eq!(check_payload(&at(10 + RELIABLE_WINDOW), w), Err(Reason::MessageWindow));
    // A refused packet notes none of its ids.
    let mixed = small(0, channel::COMMANDS, &[(11, vec![1; 3]), (100_000, vec![1; 3])]);
    assert_eq!(check_payload(&mixed, w), Err(Reason::MessageWindow));
    assert_eq!(check_payload(&at(10), w), Ok(()));
    assert_eq!(w.next, 11, "11 was not noted");
}

#[test]
fn a_burst_of_commands_from_a_real_client_passes() {
    use renet::RenetClient;
    // 300 commands queued at once: renet packs them by bytes, far more than a few per packet.
    let mut client = RenetClient::new(crate::protocol::connection_config());
    client.set_connected();
    for i in 0..300u32 {
        let c = crate::protocol::Command { id: i, kind: crate::protocol::CommandKind::Stop { fleet: 7 } };
        client.send_message(channel::COMMANDS, crate::wire::encode(&c).expect("encodes"));
    }
    let mut window = Window::default();
    let packets = client.get_packets_to_send();
    // Delivered out of order, the first packet last (as after a loss and a resend).
    for p in packets.iter().skip(1).chain(packets.iter().take(1)) {
        assert_eq!(check_payload(p, &mut window), Ok(()));
    }
    assert_eq!(window.next, 300);
}

#[test]
fn packet_sequences_far_behind_the_newest_are_refused() {
    let w = &mut Window::default();
    let at = |seq: u64| {
        let mut p = vec![1u8];
        varint(&mut p, seq);
        p.extend_from_slice(&[channel::INTENTS, 0, 1, 3, 1, 2, 3]);
        p
    };
    assert_eq!(check_payload(&at(5000), w), Ok(()));
    assert_eq!(check_payload(&at(5000 - SEQUENCE_WINDOW), w), Ok(()), "reordered");
    assert_eq!(check_payload(&at(5000 - SEQUENCE_WINDOW - 1), w), Err(Reason::PacketSequence));
    assert_eq!(check_payload(&at(6000), w), Ok(()));
}

fn ack(end: u64, size: u64, rest: &[(u64, u64)], declared: Option<u64>) -> Vec<u8> {
    let mut p = vec![4u8];
    for v in [0, end, size, declared.unwrap_or(rest.len() as u64)] {
        varint(&mut p, v);
    }
    for (gap, size) in rest {
        varint(&mut p, *gap);
        varint(&mut p, *size);
    }
    p
}

#[test]
fn acknowledgements_are_sane() {
    let w = &mut Window::default();
    assert_eq!(check_payload(&ack(20, 5, &[(3, 4)], None), w), Ok(()));
    assert_eq!(check_payload(&ack(4, 5, &[], None), w), Err(Reason::AckRange));
    assert_eq!(check_payload(&ack(20, 5, &[(14, 0)], None), w), Err(Reason::AckRange));
    assert_eq!(check_payload(&ack(20, 5, &[(3, 100)], None), w), Err(Reason::AckRange));
    // Many ranges are fine (renet keeps more than 64 under loss and reordering).
    let ranges: Vec<(u64, u64)> = (0..100).map(|_| (1, 0)).collect();
    assert_eq!(check_payload(&ack(1000, 0, &ranges, None), w), Ok(()));
    assert_eq!(check_payload(&ack(20, 5, &[(3, 4)], Some(2)), w), Err(Reason::RenetMalformed));
}
