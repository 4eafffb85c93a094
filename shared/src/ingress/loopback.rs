//! An [`Ingress`] on an in-memory socket with a real netcode client connected to it, and
//! builders of raw renet packets: for the input path's tests, the hostile-client tests and bots,
//! and the fuzz targets (which then run the server's code from the first byte of a datagram, with
//! a session established by a real handshake).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use renet::RenetServer;
use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient, ServerAuthentication, ServerConfig};

use super::{Datagrams, Ingress};

/// Datagrams waiting to be read, and those sent.
#[derive(Debug, Default)]
pub struct MemSocket {
    /// Read by the server, oldest first.
    pub inbox: VecDeque<(Vec<u8>, SocketAddr)>,
    /// Sent by the server.
    pub outbox: Vec<(Vec<u8>, SocketAddr)>,
}

impl Datagrams for MemSocket {
    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (bytes, addr) = self.inbox.pop_front().ok_or(io::ErrorKind::WouldBlock)?;
        // Like a UDP socket: a datagram longer than the buffer is cut.
        let n = bytes.len().min(buf.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        Ok((n, addr))
    }

    fn send_to(&mut self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.outbox.push((buf.to_vec(), addr));
        Ok(buf.len())
    }
}

/// The server's address in a [`Loopback`].
pub const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5000);
/// The connected client's address in a [`Loopback`].
pub const CLIENT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 6000);
/// The connected client's id in a [`Loopback`].
pub const CLIENT_ID: u64 = 42;
const KEY: [u8; 32] = *b"loopback-key-not-for-production!";
const PROTOCOL_ID: u64 = 7;
/// Time passed per [`Loopback::step`]: more than netcode's send interval, so every step sends.
const STEP: Duration = Duration::from_millis(300);

/// A server input path with one client connected through the real netcode handshake.
pub struct Loopback {
    /// The server's input path.
    pub ingress: Ingress<MemSocket>,
    /// The server's renet.
    pub renet: RenetServer,
    /// The client's netcode.
    pub client: NetcodeClient,
    /// Datagrams the client sends with its next step.
    to_server: Vec<Vec<u8>>,
}

impl Loopback {
    /// Connects [`CLIENT_ID`] from [`CLIENT`]; `None` if the handshake does not complete.
    pub fn connected() -> Option<Loopback> {
        let config = ServerConfig {
            current_time: Duration::ZERO,
            max_clients: 8,
            protocol_id: PROTOCOL_ID,
            public_addresses: vec![SERVER],
            authentication: ServerAuthentication::Secure { private_key: KEY },
        };
        let token =
            ConnectToken::generate(Duration::ZERO, PROTOCOL_ID, 300, CLIENT_ID, 15, vec![SERVER], None, &KEY).ok()?;
        let client = NetcodeClient::new(Duration::ZERO, ClientAuthentication::Secure { connect_token: token }).ok()?;
        let mut lb = Loopback {
            ingress: Ingress::new(config, MemSocket::default()),
            renet: RenetServer::new(crate::protocol::connection_config()),
            client,
            to_server: Vec::new(),
        };
        for _ in 0..10 {
            lb.step();
            if lb.client.is_connected() && lb.renet.is_connected(CLIENT_ID) {
                lb.ingress.take_reports();
                return Some(lb);
            }
        }
        None
    }

    /// The client's encrypted payload packet carrying `payload` (a renet packet).
    pub fn seal(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        self.client.generate_payload_packet(payload).ok().map(|(_, d)| d.to_vec())
    }

    /// Queues a datagram from `from` for the server's next update.
    pub fn deliver(&mut self, from: SocketAddr, datagram: Vec<u8>) {
        self.ingress.socket_mut().inbox.push_back((datagram, from));
    }

    /// Advances both ends: the client's protocol packets and queued datagrams reach the server,
    /// the server updates (reads everything), its answers reach the client.
    pub fn step(&mut self) {
        if let Some((packet, _)) = self.client.update(STEP) {
            self.to_server.push(packet.to_vec());
        }
        for d in std::mem::take(&mut self.to_server) {
            self.deliver(CLIENT, d);
        }
        self.renet.update(STEP);
        // The in-memory socket cannot fail.
        let _ = self.ingress.update(STEP, &mut self.renet);
        self.ingress.send_packets(&mut self.renet);
        for (mut d, to) in std::mem::take(&mut self.ingress.socket_mut().outbox) {
            if to == CLIENT {
                self.client.process_packet(&mut d);
            }
        }
    }
}

/// Appends a QUIC variable-length integer (renet's integer encoding).
pub fn varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=63 => out.push(v as u8),
        64..=16383 => out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes()),
        16384..=0x3fff_ffff => out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// A renet SmallReliable packet on `channel` carrying `messages` with ids from `first_id` on.
pub fn small_reliable(sequence: u64, channel: u8, first_id: u64, messages: &[Vec<u8>]) -> Vec<u8> {
    small(0, sequence, channel, Some(first_id), messages)
}

/// A renet SmallUnreliable packet on `channel` carrying `messages`.
pub fn small_unreliable(sequence: u64, channel: u8, messages: &[Vec<u8>]) -> Vec<u8> {
    small(1, sequence, channel, None, messages)
}

fn small(kind: u8, sequence: u64, channel: u8, first_id: Option<u64>, messages: &[Vec<u8>]) -> Vec<u8> {
    let mut p = vec![kind];
    varint(&mut p, sequence);
    p.push(channel);
    p.extend_from_slice(&(messages.len() as u16).to_be_bytes());
    for (k, m) in messages.iter().enumerate() {
        if let Some(first) = first_id {
            varint(&mut p, first + k as u64);
        }
        varint(&mut p, m.len() as u64);
        p.extend_from_slice(m);
    }
    p
}

/// A renet ReliableSlice packet (`unreliable`: an UnreliableSlice) of message 0 with `len`
/// payload bytes.
pub fn slice(sequence: u64, channel: u8, index: u64, count: u64, len: usize, unreliable: bool) -> Vec<u8> {
    let mut p = vec![if unreliable { 3 } else { 2 }];
    for v in [sequence, u64::from(channel), 0, index, count, len as u64] {
        varint(&mut p, v);
    }
    p.extend(std::iter::repeat_n(0u8, len));
    p
}
