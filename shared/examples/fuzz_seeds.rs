//! Writes the fuzz targets' seed corpus (`fuzz/corpus/<target>/`) from real packets: what the
//! SDK's renet client sends (intents, commands, a sliced message, acknowledgements), real
//! netcode datagrams (a connection request, keep-alives, payloads) and the packets that used to
//! crash the server.
//!
//! `cargo run --release -p starforge-shared --example fuzz_seeds -- fuzz/corpus`

use std::path::{Path, PathBuf};

use renet::{RenetClient, RenetServer};
use starforge_shared::ingress::loopback::Loopback;
use starforge_shared::protocol::{
    Building, Command, CommandKind, IntentPacket, PilotInput, Resource, ShipClass, Side, channel, connection_config,
};
use starforge_shared::wire;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write a seed");
}

fn commands() -> Vec<Command> {
    let kinds = [
        CommandKind::MoveTo { fleet: 7, x: 100.0, y: -50.0 },
        CommandKind::Jump { fleet: 7, system: 3 },
        CommandKind::Attack { fleet: 7, target: 99 },
        CommandKind::Patrol { fleet: 7, points: vec![[0.0, 0.0], [500.0, 500.0]] },
        CommandKind::Stop { fleet: 7 },
        CommandKind::Build { colony: 11, building: Building::Shipyard },
        CommandKind::Upgrade { colony: 11, building: Building::Mine },
        CommandKind::QueueShip { colony: 11, class: ShipClass::Cruiser, fleet: Some(7) },
        CommandKind::PlaceOrder {
            resource: Resource::Minerals,
            side: Side::Buy,
            price: 1500,
            quantity: 20,
            expires_in: Some(100),
        },
        CommandKind::CancelOrder { order: 12 },
    ];
    kinds.into_iter().enumerate().map(|(i, kind)| Command { id: i as u32 + 1, kind }).collect()
}

fn intents() -> Vec<IntentPacket> {
    let input = PilotInput { ship: 5, thrust: 1.0, turn: -0.5, fire: true };
    vec![
        IntentPacket { seq: 0, ack_tick: 0, inputs: vec![] },
        IntentPacket { seq: 17, ack_tick: 340, inputs: vec![input] },
        IntentPacket { seq: 900, ack_tick: 4000, inputs: vec![input; 8] },
    ]
}

/// `[length: u16 LE][bytes]` records.
fn records(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        out.extend_from_slice(&(p.len() as u16).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// `[source: u8][length: u16 LE][bytes]` records.
fn sourced(datagrams: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (source, d) in datagrams {
        out.push(*source);
        out.extend_from_slice(&(d.len() as u16).to_le_bytes());
        out.extend_from_slice(d);
    }
    out
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let [messages, payload, datagram] = ["messages", "payload", "datagram"].map(|t| root.join(t));
    for dir in [&messages, &payload, &datagram] {
        std::fs::create_dir_all(dir).expect("create the corpus folder");
    }

    for (i, c) in commands().iter().enumerate() {
        write(&messages, &format!("command-{i}"), &wire::encode(c).expect("encodes"));
    }
    for (i, p) in intents().iter().enumerate() {
        write(&messages, &format!("intents-{i}"), &wire::encode(p).expect("encodes"));
    }

    // What a real renet client sends: intents, commands, then (after hearing from the server)
    // an acknowledgement; and a message large enough to be sliced.
    let mut server = RenetServer::new(connection_config());
    let mut client = server.new_local_client(1);
    for p in intents() {
        client.send_message(channel::INTENTS, wire::encode(&p).expect("encodes"));
    }
    for c in commands() {
        client.send_message(channel::COMMANDS, wire::encode(&c).expect("encodes"));
    }
    let first = client.get_packets_to_send();
    write(&payload, "messages", &records(&first));
    server.send_message(1, channel::EVENTS, vec![1u8; 100]);
    server.send_message(1, channel::SNAPSHOTS, vec![2u8; 100]);
    for p in server.get_packets_to_send(1).expect("connected") {
        client.process_packet(&p);
    }
    client.send_message(channel::INTENTS, wire::encode(&intents()[1]).expect("encodes"));
    write(&payload, "ack", &records(&client.get_packets_to_send()));
    let mut big = RenetClient::new(connection_config());
    big.set_connected();
    big.send_message(channel::COMMANDS, vec![0u8; 2000]);
    write(&payload, "sliced", &records(&big.get_packets_to_send()));

    // Real datagrams: a client's keep-alives and payloads (sealed with a throwaway session's
    // key: they teach the fuzzer the framing, not the key), a connection request, crash packets.
    let mut lb = Loopback::connected().expect("the handshake completes");
    let sealed: Vec<(u8, Vec<u8>)> = first.iter().filter_map(|p| lb.seal(p)).map(|d| (0, d)).collect();
    write(&datagram, "payloads", &sourced(&sealed));
    let mut request = vec![0u8; starforge_shared::ingress::check::CONNECTION_REQUEST_BYTES];
    request[1..14].copy_from_slice(b"NETCODE 1.02\0");
    write(&datagram, "request", &sourced(&[(1, request)]));
    let crash = |prefix: u8, len: usize| {
        let mut d = vec![0u8; len];
        d[0] = prefix;
        d
    };
    write(&datagram, "crash-sequence", &sourced(&[(0, crash(0xe1, 18))]));
    write(&datagram, "crash-mac", &sourced(&[(0, crash(0x85, 18))]));
    write(&datagram, "keep-alive", &sourced(&[(0, crash(0x14, 1 + 1 + 8 + 16))]));
    println!("seeds written to {}", root.display());
}
