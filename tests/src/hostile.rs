//! A hostile client for the network tests: logs in and completes the real netcode handshake
//! over loopback UDP with renetcode's own client, then sends whatever bytes a test wants — raw
//! datagrams from its address, or renet packets encrypted with its session keys.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};

use crate::net::Server;

/// A netcode-level client that speaks no renet of its own.
pub struct RawClient {
    /// Its socket (its address is what the server knows it by).
    pub socket: UdpSocket,
    netcode: NetcodeClient,
    server: SocketAddr,
    last: Instant,
}

impl RawClient {
    /// Logs `user` in on `server` and completes the handshake, stepping the server meanwhile.
    pub fn connect(server: &mut Server, user: &str) -> RawClient {
        let reply = server.login(user, "test-password").expect("login");
        let token = ConnectToken::read(&mut reply.connect_token.as_slice()).expect("token");
        let netcode = NetcodeClient::new(Duration::ZERO, ClientAuthentication::Secure { connect_token: token })
            .expect("netcode client");
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_nonblocking(true).expect("nonblocking");
        let mut c = RawClient { socket, netcode, server: reply.udp_addr, last: Instant::now() };
        for _ in 0..2000 {
            server.step();
            std::thread::sleep(Duration::from_millis(1));
            c.pump();
            if c.netcode.is_connected() {
                return c;
            }
        }
        panic!("{user}: the handshake did not complete");
    }

    /// Sends what netcode wants to send (handshake, keep-alives) and reads what arrived.
    pub fn pump(&mut self) {
        let now = Instant::now();
        let dt = now - self.last;
        self.last = now;
        if let Some((packet, to)) = self.netcode.update(dt) {
            let _ = self.socket.send_to(packet, to);
        }
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            let _ = self.netcode.process_packet(&mut buf[..n]);
        }
    }

    /// Whether netcode still considers the connection open.
    pub fn is_connected(&self) -> bool {
        self.netcode.is_connected()
    }

    /// Sends raw bytes from this client's address.
    pub fn send_datagram(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).expect("send");
    }

    /// Sends a renet packet, encrypted with the session's key.
    pub fn send_payload(&mut self, payload: &[u8]) {
        let (to, datagram) = self.netcode.generate_payload_packet(payload).expect("payload packet");
        self.socket.send_to(datagram, to).expect("send");
    }
}

/// Appends a QUIC variable-length integer (renet's encoding).
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
    let mut p = vec![0u8];
    varint(&mut p, sequence);
    p.push(channel);
    p.extend_from_slice(&(messages.len() as u16).to_be_bytes());
    for (k, m) in messages.iter().enumerate() {
        varint(&mut p, first_id + k as u64);
        varint(&mut p, m.len() as u64);
        p.extend_from_slice(m);
    }
    p
}

/// A renet ReliableSlice packet (`unreliable`: an UnreliableSlice) with `len` payload bytes.
pub fn slice(sequence: u64, channel: u8, index: u64, count: u64, len: usize, unreliable: bool) -> Vec<u8> {
    let mut p = vec![if unreliable { 3 } else { 2 }];
    for v in [sequence, u64::from(channel), 0, index, count, len as u64] {
        varint(&mut p, v);
    }
    p.extend(std::iter::repeat_n(0u8, len));
    p
}
