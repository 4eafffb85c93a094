//! Hostile clients against an in-process server over real loopback UDP: the three packets that
//! used to end the process inside renetcode and renet, and what one client can make the server
//! hold. In every case the server keeps ticking, the bystanders keep their connections and
//! their snapshots, and the drop is counted under its reason.

use starforge_components::prelude::*;
use starforge_shared::client::GameClient;
use starforge_shared::protocol::{Command, CommandKind, channel};
use starforge_shared::wire;
use starforge_tests::hostile::{RawClient, slice, small_reliable};
use starforge_tests::net::Server;

fn metric(server: &Server, name: &str) -> f64 {
    starforge_server::metrics::parse_metric(&server.net.metrics.render(), name).unwrap_or(0.0)
}

fn invalid(server: &Server, reason: &str) -> f64 {
    metric(server, &format!("starforge_invalid_packets_total{{reason=\"{reason}\"}}"))
}

fn dropped(server: &Server, reason: &str) -> f64 {
    metric(server, &format!("starforge_dropped_clients_total{{reason=\"{reason}\"}}"))
}

/// A server, two well-behaved clients with their first snapshot, and a hostile one.
fn scene() -> (Server, [GameClient; 2], RawClient) {
    let mut server = Server::start(12, Tuning::default());
    let bystanders = [server.connect("ann"), server.connect("bob")];
    let hostile = RawClient::connect(&mut server, "mallory");
    assert_eq!(server.net().connected(), 3);
    (server, bystanders, hostile)
}

/// Steps everyone for `frames` frames; the bystanders must stay connected and, over 30 frames
/// or more, keep receiving snapshots.
fn play_on(server: &mut Server, bystanders: &mut [GameClient; 2], hostile: &mut RawClient, frames: usize) {
    let before: Vec<u64> = bystanders.iter().map(|c| c.stats().snapshots).collect();
    for _ in 0..frames {
        server.step();
        std::thread::sleep(std::time::Duration::from_millis(1));
        hostile.pump();
        for c in bystanders.iter_mut() {
            let _ = c.update();
        }
    }
    for (c, b) in bystanders.iter().zip(before) {
        assert!(c.is_connected(), "a bystander was disconnected: {:?}", c.disconnect_reason());
        assert!(frames < 30 || c.stats().snapshots > b + 5, "a bystander stopped receiving snapshots");
    }
}

#[test]
fn a_sequence_length_over_eight_is_dropped_and_counted() {
    let (mut server, mut bystanders, mut hostile) = scene();
    let mut datagram = vec![0u8; 18];
    datagram[0] = 0xe1;
    hostile.send_datagram(&datagram);
    let mut longer = vec![0u8; 40];
    longer[0] = 0x95; // a payload with 9 sequence bytes
    hostile.send_datagram(&longer);
    play_on(&mut server, &mut bystanders, &mut hostile, 60);
    assert_eq!(invalid(&server, "netcode_prefix"), 2.0);
    assert_eq!(server.net().connected(), 3, "a forgeable datagram disconnects no one");
}

#[test]
fn a_payload_shorter_than_its_mac_is_dropped_and_counted() {
    let (mut server, mut bystanders, mut hostile) = scene();
    let mut datagram = vec![0u8; 18];
    datagram[0] = 0x85;
    hostile.send_datagram(&datagram);
    play_on(&mut server, &mut bystanders, &mut hostile, 60);
    assert_eq!(invalid(&server, "datagram_size"), 1.0);
    assert_eq!(server.net().connected(), 3);
}

#[test]
fn a_slice_index_past_its_count_drops_only_its_sender() {
    for unreliable in [false, true] {
        let (mut server, mut bystanders, mut hostile) = scene();
        let ch = if unreliable { channel::INTENTS } else { channel::COMMANDS };
        hostile.send_payload(&slice(0, ch, 1000, 3, 1200, unreliable));
        play_on(&mut server, &mut bystanders, &mut hostile, 60);
        assert_eq!(invalid(&server, "oversized"), 1.0, "unreliable={unreliable}");
        assert_eq!(dropped(&server, "oversized"), 1.0);
        assert_eq!(server.net().connected(), 2, "only the sender is gone");
        assert!(!hostile.is_connected(), "the sender was told");
    }
}

#[test]
fn partial_slices_cannot_make_the_server_allocate() {
    // Slice 0 of 1,000,000 (renet would reserve 1.2 GB for it, within its memory limit or not).
    let (mut server, mut bystanders, mut hostile) = scene();
    for i in 0..50 {
        hostile.send_payload(&slice(i, channel::COMMANDS, 0, 1_000_000, 1200, false));
    }
    play_on(&mut server, &mut bystanders, &mut hostile, 60);
    assert_eq!(dropped(&server, "oversized"), 1.0);
    assert_eq!(server.net().connected(), 2);
}

fn command(id: u32) -> Vec<u8> {
    wire::encode(&Command { id, kind: CommandKind::MoveTo { fleet: 1, x: 0.0, y: 0.0 } }).expect("encodes")
}

#[test]
fn reliable_messages_far_ahead_are_refused() {
    let (mut server, mut bystanders, mut hostile) = scene();
    hostile.send_payload(&small_reliable(0, channel::COMMANDS, 10_000, &[command(1)]));
    play_on(&mut server, &mut bystanders, &mut hostile, 60);
    assert_eq!(dropped(&server, "message_window"), 1.0);
    assert_eq!(server.net().connected(), 2);
}

#[test]
fn a_client_that_never_acknowledges_is_dropped_at_its_bound() {
    // Every command is answered on the reliable events channel; a client that never
    // acknowledges makes the server keep every answer until its channel is full.
    let (mut server, mut bystanders, mut hostile) = scene();
    let mut next = 0u64;
    let mut frames = 0;
    while hostile.is_connected() && frames < 2000 {
        for k in 0..4 {
            let msgs: Vec<Vec<u8>> = (0..60).map(|i| command((next + i) as u32)).collect();
            hostile.send_payload(&small_reliable(next + k, channel::COMMANDS, next, &msgs));
            next += 60;
        }
        play_on(&mut server, &mut bystanders, &mut hostile, 1);
        frames += 1;
    }
    play_on(&mut server, &mut bystanders, &mut hostile, 30);
    assert_eq!(dropped(&server, "unacknowledged"), 1.0, "after {next} commands");
    assert_eq!(server.net().connected(), 2);
}
