//! A hostile client for the network tests: logs in and completes the real netcode handshake
//! over loopback UDP with renetcode's own client, then sends whatever bytes a test wants — raw
//! datagrams from its address, or renet packets encrypted with its session keys.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use renetcode::{ClientAuthentication, ConnectToken, NetcodeClient};

use crate::net::Server;

pub use starforge_shared::ingress::loopback::{slice, small_reliable, small_unreliable, varint};

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
