//! The server's input path: every datagram from the game socket goes through [`Ingress`], which
//! checks it ([`check`]) before renetcode decrypts it, checks the decrypted renet packet before
//! renet parses it, and catches a panic in either so one client's bytes can never end the
//! process. It drives renetcode's `NetcodeServer` and hands payloads to a `RenetServer`, as
//! renet_netcode's `NetcodeServerTransport` does, with the checks in between.
//!
//! It lives in `shared` (not in the server crate) so the fuzz targets in `fuzz/` run exactly this
//! code without building the server's dependencies.
//!
//! What is dropped is reported, not logged: [`Ingress::take_reports`] after each frame; the
//! server counts and logs (rate-limited). Authenticated clients whose packets break the rules
//! ([`Reason::disconnects`]) are disconnected here.

pub mod check;
pub mod loopback;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;
use std::time::Duration;

use renet::RenetServer;
use renetcode::{NETCODE_USER_DATA_BYTES, NetcodeServer, ServerConfig, ServerResult};

pub use check::{Kind, Peer, Reason};
use check::{MAX_DATAGRAM_BYTES, MAX_PACKETS_PER_FRAME, Window};

/// Most datagrams read per [`Ingress::update`]; the rest wait in the kernel's buffer for the next
/// frame, so a flood cannot keep the tick from running.
pub const MAX_DATAGRAMS_PER_UPDATE: usize = 8192;

/// A datagram socket: the real UDP socket, or an in-memory one (fuzzing, tests).
pub trait Datagrams {
    /// Receives one datagram (non-blocking: `WouldBlock` when none is waiting).
    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    /// Sends one datagram.
    fn send_to(&mut self, buf: &[u8], addr: SocketAddr) -> io::Result<usize>;
}

impl Datagrams for UdpSocket {
    fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        UdpSocket::recv_from(self, buf)
    }

    fn send_to(&mut self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        UdpSocket::send_to(self, buf, addr)
    }
}

/// Something the input path dropped or ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// A datagram, packet or message dropped.
    Dropped {
        /// Why.
        reason: Reason,
        /// Where it came from.
        addr: SocketAddr,
        /// The authenticated client that sent it, if it was decrypted (or came from a connected
        /// client's address, for [`Reason::Flood`]).
        client: Option<u64>,
        /// Whether that client was disconnected for it.
        disconnected: bool,
        /// The panic message, for [`Reason::Panic`].
        detail: Option<String>,
    },
    /// A connection closed because the client went silent for its timeout.
    TimedOut {
        /// The client.
        client: u64,
    },
    /// A datagram could not be sent.
    SendFailed {
        /// To whom.
        addr: SocketAddr,
        /// The socket error.
        error: String,
    },
}

/// Per-connection state.
#[derive(Debug)]
struct Conn {
    id: u64,
    packets_this_frame: u32,
    window: Window,
}

/// The game socket's input path (and output: it encrypts what renet sends).
pub struct Ingress<S: Datagrams = UdpSocket> {
    socket: S,
    netcode: NetcodeServer,
    /// Connected clients by address (point lookups only).
    conns: HashMap<SocketAddr, Conn>,
    /// Addresses that were sent a challenge, with their token's expiry (Unix seconds).
    pending: HashMap<SocketAddr, u64>,
    reports: Vec<Report>,
    /// The receive buffer: one byte more than the largest datagram, so a larger one shows.
    buf: Vec<u8>,
}

impl<S: Datagrams> Ingress<S> {
    /// Wraps a non-blocking socket and a netcode configuration.
    pub fn new(config: ServerConfig, socket: S) -> Self {
        install_panic_hook();
        Self {
            socket,
            netcode: NetcodeServer::new(config),
            conns: HashMap::new(),
            pending: HashMap::new(),
            reports: Vec::new(),
            buf: vec![0; MAX_DATAGRAM_BYTES + 1],
        }
    }

    /// The socket.
    pub fn socket_mut(&mut self) -> &mut S {
        &mut self.socket
    }

    /// Advances time by `dt`, reads every waiting datagram, sends keep-alives, closes timed-out
    /// connections and those renet disconnected. Call once per frame, before reading messages.
    pub fn update(&mut self, dt: Duration, renet: &mut RenetServer) -> io::Result<()> {
        self.netcode.update(dt);
        let now = self.netcode.current_time().as_secs();
        self.pending.retain(|_, expiry| *expiry >= now);
        for conn in self.conns.values_mut() {
            conn.packets_this_frame = 0;
        }
        let mut buf = std::mem::take(&mut self.buf);
        let mut read = 0;
        let received = loop {
            if read == MAX_DATAGRAMS_PER_UPDATE {
                break Ok(());
            }
            read += 1;
            match self.socket.recv_from(&mut buf) {
                Ok((len, addr)) => self.process_datagram(addr, &mut buf[..len], renet),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
                Err(e) => break Err(e),
            }
        };
        self.buf = buf;
        // Keep-alives, timeouts and disconnections go on even if the socket failed.
        for client in self.netcode.clients_id() {
            if let Routed::Disconnected { .. } = self.apply(|n| n.update_client(client), renet) {
                self.reports.push(Report::TimedOut { client });
            }
        }
        for client in renet.disconnections_id() {
            self.apply(|n| n.disconnect(client), renet);
        }
        received
    }

    /// One datagram from `addr` (`bytes` is decrypted in place). What the server runs for every
    /// datagram; public for the fuzz targets.
    pub fn process_datagram(&mut self, addr: SocketAddr, bytes: &mut [u8], renet: &mut RenetServer) {
        let peer = if self.conns.contains_key(&addr) {
            Peer::Connected
        } else if self.pending.contains_key(&addr) {
            Peer::Pending
        } else {
            Peer::Unknown
        };
        let kind = match check::check_datagram(bytes, peer) {
            Ok(kind) => kind,
            Err(reason) => {
                let client = self.conns.get(&addr).map(|c| c.id);
                self.drop_packet(reason, addr, client, false, None);
                return;
            }
        };
        let expiry = check::request_expiry(bytes);
        let mut before = self.conns.get(&addr).and_then(|c| self.netcode.time_since_last_received_packet(c.id));
        if kind == Kind::KeepAlive && before == Some(Duration::ZERO) {
            // The connection already had a packet this frame: move netcode's clock on by a
            // nanosecond so this keep-alive's verdict shows (see below).
            self.netcode.update(Duration::from_nanos(1));
            before = Some(Duration::from_nanos(1));
        }
        // Renetcode only reads a datagram that passed the checks; a panic it still has in it is
        // caught, and the datagram dropped (no one is disconnected: the sender may be forged).
        let Ingress { netcode, reports, socket, pending, .. } = self;
        let outcome = isolate(|| {
            let result = netcode.process_packet(addr, bytes);
            // A keep-alive is answered by nothing either way; it is judged below.
            let accepted = kind == Kind::KeepAlive || !matches!(result, ServerResult::None);
            // A challenge (type 2) makes the address pending; a denial (type 1) does not.
            if let (ServerResult::PacketToSend { payload, .. }, Kind::Request) = (&result, kind)
                && payload.first().is_some_and(|p| p & 0x0f == 2)
            {
                pending.insert(addr, expiry);
            }
            (accepted, route(result, socket, reports, renet))
        });
        match outcome {
            Ok((accepted, routed)) => {
                self.note(routed, addr, renet);
                // Netcode answers a keep-alive with nothing either way, but notes the time of
                // every packet it accepts: one after which the connection looks as idle as
                // before was refused.
                let after = self.conns.get(&addr).and_then(|c| self.netcode.time_since_last_received_packet(c.id));
                let keep_alive_refused = kind == Kind::KeepAlive && after == before;
                if !accepted || keep_alive_refused {
                    let client = self.conns.get(&addr).map(|c| c.id);
                    self.drop_packet(Reason::NetcodeRejected, addr, client, false, None);
                }
            }
            Err(panic) => {
                let client = self.conns.get(&addr).map(|c| c.id);
                self.drop_packet(Reason::Panic, addr, client, false, Some(panic));
            }
        }
    }

    /// A decrypted payload of connected `client`: checked, then handed to renet. What the server
    /// runs for every payload; public for the fuzz targets.
    pub fn process_payload(&mut self, client: u64, addr: SocketAddr, payload: &[u8], renet: &mut RenetServer) {
        let Some(conn) = self.conns.get_mut(&addr) else { return };
        if !renet.is_connected(client) {
            return; // being dropped: the rest of what it sent is not read
        }
        conn.packets_this_frame += 1;
        if conn.packets_this_frame > MAX_PACKETS_PER_FRAME {
            self.drop_packet(Reason::Flood, addr, Some(client), false, None);
            return;
        }
        if let Err(reason) = check::check_payload(payload, &mut conn.window) {
            self.drop_client(reason, addr, client, renet, None);
            return;
        }
        if let Err(panic) = isolate(|| renet.process_packet_from(payload, client)) {
            self.drop_client(Reason::Panic, addr, client, renet, Some(panic));
        }
    }

    /// Encrypts and sends what renet has queued for every client.
    pub fn send_packets(&mut self, renet: &mut RenetServer) {
        for client in renet.clients_id() {
            let Ok(packets) = renet.get_packets_to_send(client) else { continue };
            for packet in packets {
                match self.netcode.generate_payload_packet(client, &packet) {
                    Ok((addr, bytes)) => {
                        if let Err(e) = self.socket.send_to(bytes, addr) {
                            self.reports.push(Report::SendFailed { addr, error: e.to_string() });
                            break;
                        }
                    }
                    // The connection is gone from netcode already; renet learns it next frame.
                    Err(renetcode::NetcodeError::ClientNotFound) => break,
                    Err(e) => {
                        if let Some(addr) = self.netcode.client_addr(client) {
                            self.reports.push(Report::SendFailed { addr, error: e.to_string() });
                        }
                    }
                }
            }
        }
    }

    /// The connect token's user data of a connected client.
    pub fn user_data(&self, client: u64) -> Option<[u8; NETCODE_USER_DATA_BYTES]> {
        self.netcode.user_data(client)
    }

    /// Connected clients.
    pub fn connected(&self) -> usize {
        self.conns.len()
    }

    /// What was dropped or ended since the last call.
    pub fn take_reports(&mut self) -> Vec<Report> {
        std::mem::take(&mut self.reports)
    }

    /// Routes the result of a netcode call that concerns no datagram (keep-alives, timeouts,
    /// disconnections); returns what it meant.
    fn apply(
        &mut self,
        call: impl for<'s> FnOnce(&'s mut NetcodeServer) -> ServerResult<'s, 's>,
        renet: &mut RenetServer,
    ) -> Routed {
        let routed = route(call(&mut self.netcode), &mut self.socket, &mut self.reports, renet);
        if let Routed::Disconnected { addr } = routed {
            self.conns.remove(&addr);
        }
        routed
    }

    /// Book-keeping after a result was routed: connections opened and closed, payloads checked.
    fn note(&mut self, routed: Routed, addr: SocketAddr, renet: &mut RenetServer) {
        match routed {
            Routed::Nothing => {}
            Routed::Connected { client, addr } => {
                self.pending.remove(&addr);
                self.conns.insert(addr, Conn { id: client, packets_this_frame: 0, window: Window::default() });
            }
            Routed::Disconnected { addr } => {
                self.conns.remove(&addr);
            }
            Routed::Payload { client, payload } => self.process_payload(client, addr, &payload, renet),
        }
    }

    fn drop_packet(
        &mut self,
        reason: Reason,
        addr: SocketAddr,
        client: Option<u64>,
        disconnected: bool,
        detail: Option<String>,
    ) {
        self.reports.push(Report::Dropped { reason, addr, client, disconnected, detail });
    }

    fn drop_client(
        &mut self,
        reason: Reason,
        addr: SocketAddr,
        client: u64,
        renet: &mut RenetServer,
        detail: Option<String>,
    ) {
        let disconnect = reason.disconnects() && renet.is_connected(client);
        if disconnect {
            renet.disconnect(client);
        }
        self.drop_packet(reason, addr, Some(client), disconnect, detail);
    }
}

/// What a netcode result meant, once its packets were sent and renet told.
enum Routed {
    Nothing,
    Connected {
        client: u64,
        addr: SocketAddr,
    },
    Disconnected {
        addr: SocketAddr,
    },
    /// A payload still to be checked (copied out of the datagram, which netcode borrows).
    Payload {
        client: u64,
        payload: Vec<u8>,
    },
}

/// Sends what a netcode result asks to send and tells renet of connections opened and closed.
fn route<S: Datagrams>(
    result: ServerResult<'_, '_>,
    socket: &mut S,
    reports: &mut Vec<Report>,
    renet: &mut RenetServer,
) -> Routed {
    let mut send = |bytes: &[u8], addr: SocketAddr| {
        if let Err(e) = socket.send_to(bytes, addr) {
            reports.push(Report::SendFailed { addr, error: e.to_string() });
        }
    };
    match result {
        ServerResult::None => Routed::Nothing,
        ServerResult::PacketToSend { payload, addr } => {
            send(payload, addr);
            Routed::Nothing
        }
        ServerResult::Payload { client_id, payload } => {
            Routed::Payload { client: client_id, payload: payload.to_vec() }
        }
        ServerResult::ClientConnected { client_id, addr, payload, .. } => {
            renet.add_connection(client_id);
            send(payload, addr);
            Routed::Connected { client: client_id, addr }
        }
        ServerResult::ClientDisconnected { client_id, addr, payload } => {
            renet.remove_connection(client_id);
            if let Some(payload) = payload {
                send(payload, addr);
            }
            Routed::Disconnected { addr }
        }
    }
}

thread_local! {
    /// Set while [`isolate`] runs: the panic hook then keeps quiet and leaves the message here.
    static ISOLATED: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, turning a panic into `Err(message)`; the panic prints nothing (the caller reports
/// it once, with the client it concerns). Needs `panic = "unwind"` (the default profile).
pub fn isolate<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_panic_hook();
    let was = ISOLATED.replace(true);
    let result = catch_unwind(AssertUnwindSafe(f));
    ISOLATED.set(was);
    result.map_err(|_| LAST_PANIC.take().unwrap_or_else(|| "panic".to_owned()))
}

/// Wraps the process's panic hook once: panics inside [`isolate`] are recorded, not printed;
/// every other panic goes to the previous hook unchanged.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ISOLATED.get() {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_owned());
                let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                LAST_PANIC.set(Some(format!("{message}{at}")));
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests;
