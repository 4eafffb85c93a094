//! The client SDK: what a native game client (or a bot) embeds.
//!
//! ```no_run
//! use starforge_shared::client::{GameClient, login};
//! let reply = login("http://127.0.0.1:7000", "ann", "correct horse battery").expect("login");
//! let mut client = GameClient::connect(&reply).expect("connect");
//! loop {
//!     client.update().expect("connected");
//!     while let Some(msg) = client.poll() { println!("{msg:?}"); }
//!     for (id, ship) in client.mirror().ships() { let _ = (id, ship.pos()); }
//!     std::thread::sleep(std::time::Duration::from_millis(5));
//! }
//! ```
//!
//! `update()` receives (snapshots into the [`Mirror`], reliable messages into the inbox that
//! [`GameClient::poll`] drains), then sends: one [`IntentPacket`] whenever there is a new
//! input or a newer snapshot to acknowledge (and at least every 100 ms), repeating every input
//! the server has not yet confirmed, so a lost packet costs nothing.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use renet::RenetClient;
use renet_netcode::{ClientAuthentication, ConnectToken, NetcodeClientTransport};
use serde::{Deserialize, Serialize};

use crate::interp::Interpolator;
use crate::mirror::{Applied, Mirror};
use crate::protocol::{
    Command, CommandKind, IntentPacket, MAX_INPUTS_PER_PACKET, PilotInput, ServerMessage, Welcome, channel,
    connection_config,
};
use crate::{PROTOCOL_VERSION, http, wire};

/// Why an SDK call failed.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The HTTP request failed.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// The server refused the login (status and its reason).
    #[error("login refused ({status}): {reason}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's reason.
        reason: String,
    },
    /// The login answer is not what the protocol says.
    #[error("malformed login answer: {0}")]
    BadAnswer(String),
    /// A socket error.
    #[error("network error: {0}")]
    Io(#[from] std::io::Error),
    /// The connection is closed.
    #[error("disconnected: {0}")]
    Disconnected(String),
}

/// `POST /v1/login` body.
#[derive(Serialize)]
struct LoginRequest<'a> {
    username: &'a str,
    password: &'a str,
    protocol_version: u32,
}

/// `POST /v1/login` answer.
#[derive(Deserialize)]
struct LoginAnswer {
    player_id: u64,
    empire_id: u64,
    udp_addr: String,
    connect_token: String,
    tick_hz: u32,
    created: bool,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginReply {
    /// The player (= client id).
    pub player_id: u64,
    /// The player's empire.
    pub empire_id: u64,
    /// Where to connect.
    pub udp_addr: SocketAddr,
    /// The netcode connect token (opaque).
    pub connect_token: Vec<u8>,
    /// Server tick rate.
    pub tick_hz: u32,
    /// True if this login created the player.
    pub created: bool,
}

/// Logs in (creating the player on first login) and returns a connect token.
pub fn login(server_url: &str, username: &str, password: &str) -> Result<LoginReply, SdkError> {
    let body = serde_json::to_string(&LoginRequest { username, password, protocol_version: PROTOCOL_VERSION })
        .map_err(|e| SdkError::BadAnswer(e.to_string()))?;
    let resp = http::request_url("POST", server_url, "/v1/login", Some(&body), Duration::from_secs(30))?;
    if resp.status != 200 {
        let reason = resp
            .json::<serde_json::Value>()
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| resp.text());
        return Err(SdkError::Refused { status: resp.status, reason });
    }
    let a: LoginAnswer = resp.json().map_err(|e| SdkError::BadAnswer(e.to_string()))?;
    Ok(LoginReply {
        player_id: a.player_id,
        empire_id: a.empire_id,
        udp_addr: a.udp_addr.parse().map_err(|_| SdkError::BadAnswer(format!("udp_addr {:?}", a.udp_addr)))?,
        connect_token: from_hex(&a.connect_token)
            .ok_or_else(|| SdkError::BadAnswer("connect_token is not hex".into()))?,
        tick_hz: a.tick_hz,
        created: a.created,
    })
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Messages held back by a simulated reordering, incoming and outgoing.
type HeldBack = [Vec<Vec<u8>>; 2];

/// Longest time between two flushes of the connection (keeps renet's acks and keep-alives
/// flowing when there is nothing else to send).
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

const INCOMING: usize = 0;
const OUTGOING: usize = 1;

/// A simulated bad network between this client and the server, for tests and demos: applied to
/// incoming snapshots and outgoing intent packets (the reliable channels are left to renet).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Probability a message is dropped.
    pub loss: f64,
    /// Probability a message is delivered twice.
    pub duplicate: f64,
    /// Probability a message is held back and delivered after the next one.
    pub reorder: f64,
    /// Seed of the coin flips.
    pub seed: u64,
}

/// Counters of one client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Snapshots that became the newest.
    pub snapshots: u64,
    /// Snapshots ignored as duplicates or late.
    pub stale: u64,
    /// Snapshots that could not be decoded (missing baseline or malformed).
    pub undecodable: u64,
    /// Bytes of snapshots received.
    pub snapshot_bytes: u64,
    /// Intent packets sent.
    pub intent_packets: u64,
    /// Reliable messages received.
    pub messages: u64,
}

/// A connection to a Starforge server.
pub struct GameClient {
    renet: RenetClient,
    transport: NetcodeClientTransport,
    last_update: Instant,
    last_intent_sent: Option<Instant>,
    player_id: u64,
    mirror: Mirror,
    interp: Interpolator,
    newest_at: Option<Instant>,
    welcome: Option<Welcome>,
    /// Unconfirmed inputs, newest first, consecutive sequence numbers.
    inputs: VecDeque<(u32, PilotInput)>,
    next_seq: u32,
    next_command: u32,
    acked_sent: u32,
    new_input: bool,
    command_queued: bool,
    last_flush: Option<Instant>,
    inbox: VecDeque<ServerMessage>,
    stats: ClientStats,
    /// The simulated network: settings, coin state, held-back incoming and outgoing messages.
    impairment: Option<(Impairment, u64, HeldBack)>,
    kicked: Option<String>,
}

impl GameClient {
    /// Opens a secure netcode connection with the token from [`login`]. The connection
    /// completes during the following [`GameClient::update`] calls.
    pub fn connect(reply: &LoginReply) -> Result<Self, SdkError> {
        let token = ConnectToken::read(&mut reply.connect_token.as_slice())
            .map_err(|e| SdkError::BadAnswer(format!("connect token: {e}")))?;
        let bind: SocketAddr = if reply.udp_addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
        let socket = UdpSocket::bind(bind)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let transport = NetcodeClientTransport::new(now, ClientAuthentication::Secure { connect_token: token }, socket)
            .map_err(|e| SdkError::Disconnected(e.to_string()))?;
        Ok(Self {
            renet: RenetClient::new(connection_config()),
            transport,
            last_update: Instant::now(),
            last_intent_sent: None,
            player_id: reply.player_id,
            mirror: Mirror::default(),
            interp: Interpolator::new(3.0),
            newest_at: None,
            welcome: None,
            inputs: VecDeque::new(),
            next_seq: 1,
            next_command: 1,
            acked_sent: 0,
            new_input: false,
            command_queued: false,
            last_flush: None,
            inbox: VecDeque::new(),
            stats: ClientStats::default(),
            impairment: None,
            kicked: None,
        })
    }

    /// Simulates a bad network from now on (`None` restores a clean one).
    pub fn set_impairment(&mut self, impairment: Option<Impairment>) {
        self.impairment = impairment.map(|i| (i, i.seed | 1, [Vec::new(), Vec::new()]));
    }

    /// Receives and sends; call it every frame (every few milliseconds).
    pub fn update(&mut self) -> Result<(), SdkError> {
        let now = Instant::now();
        let dt = now - self.last_update;
        self.last_update = now;
        self.renet.update(dt);
        if let Err(e) = self.transport.update(dt, &mut self.renet) {
            return Err(SdkError::Disconnected(self.kicked.clone().unwrap_or_else(|| e.to_string())));
        }
        while let Some(bytes) = self.renet.receive_message(channel::EVENTS) {
            self.stats.messages += 1;
            match wire::decode_from_server::<ServerMessage>(&bytes) {
                Ok(ServerMessage::Welcome(w)) => {
                    // Snapshots may arrive before the welcome (another channel): keep them.
                    self.mirror.set_capacity(w.snapshot_history as usize);
                    self.welcome = Some(w.clone());
                    self.inbox.push_back(ServerMessage::Welcome(w));
                }
                Ok(ServerMessage::Kicked { reason }) => {
                    self.kicked = Some(format!("kicked: {reason}"));
                    self.inbox.push_back(ServerMessage::Kicked { reason });
                }
                Ok(msg) => self.inbox.push_back(msg),
                Err(e) => return Err(SdkError::Disconnected(format!("server sent a malformed message: {e}"))),
            }
        }
        while let Some(bytes) = self.renet.receive_message(channel::SNAPSHOTS) {
            for b in self.impair(bytes.to_vec(), INCOMING) {
                self.apply_snapshot(&b, now);
            }
        }
        let sent = self.renet.is_connected() && self.send_intents(now);
        // Flush with an intent packet (after each snapshot) or every 50 ms, not on every call:
        // each flush makes renet send an acknowledgement packet, and update() is called every
        // few milliseconds.
        if sent || self.command_queued || self.last_flush.is_none_or(|t| now - t >= FLUSH_INTERVAL) {
            self.command_queued = false;
            self.last_flush = Some(now);
            if let Err(e) = self.transport.send_packets(&mut self.renet) {
                return Err(SdkError::Disconnected(self.kicked.clone().unwrap_or_else(|| e.to_string())));
            }
        }
        Ok(())
    }

    fn apply_snapshot(&mut self, bytes: &[u8], now: Instant) {
        self.stats.snapshot_bytes += bytes.len() as u64;
        match self.mirror.apply(bytes) {
            Ok(Applied::Newer(h)) => {
                self.stats.snapshots += 1;
                self.interp.push(h.tick, self.mirror.entities());
                self.newest_at = Some(now);
                while self.inputs.back().is_some_and(|(seq, _)| *seq <= h.last_input_seq) {
                    self.inputs.pop_back();
                }
            }
            Ok(Applied::Stale(_)) => self.stats.stale += 1,
            Err(_) => self.stats.undecodable += 1,
        }
    }

    /// Passes `msg` through the simulated network: zero, one or two messages come out.
    fn impair(&mut self, msg: Vec<u8>, direction: usize) -> Vec<Vec<u8>> {
        let Some((imp, state, held)) = &mut self.impairment else { return vec![msg] };
        let held = &mut held[direction];
        let mut coin = |p: f64| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            ((*state >> 11) as f64 / (1u64 << 53) as f64) < p
        };
        if coin(imp.loss) {
            return Vec::new();
        }
        let mut out = Vec::new();
        if coin(imp.reorder) {
            held.push(msg);
            return out;
        }
        if coin(imp.duplicate) {
            out.push(msg.clone());
        }
        out.push(msg);
        out.append(held);
        out
    }

    /// Sends an intent packet if there is news; returns whether it did.
    fn send_intents(&mut self, now: Instant) -> bool {
        let new_ack = self.mirror.ack_tick() != self.acked_sent;
        let keepalive = self.last_intent_sent.is_none_or(|t| now - t >= Duration::from_millis(100));
        if !(self.new_input || new_ack || keepalive) {
            return false;
        }
        let packet = IntentPacket {
            seq: self.inputs.front().map_or(self.next_seq - 1, |(s, _)| *s),
            ack_tick: self.mirror.ack_tick(),
            inputs: self.inputs.iter().map(|(_, i)| *i).collect(),
        };
        self.acked_sent = packet.ack_tick;
        self.last_intent_sent = Some(now);
        self.new_input = false;
        self.stats.intent_packets += 1;
        if let Ok(bytes) = wire::encode(&packet) {
            for b in self.impair(bytes, OUTGOING) {
                self.renet.send_message(channel::INTENTS, b);
            }
        }
        true
    }

    /// Queues manual control of `ship`; returns its sequence number. Sent with the next update.
    ///
    /// One input per ship per tick is what the server uses; a second call for the same ship
    /// before the next packet leaves replaces the first (same sequence number).
    pub fn pilot(&mut self, ship: u64, thrust: f32, turn: f32, fire: bool) -> u32 {
        if self.new_input
            && let Some((seq, input)) = self.inputs.front_mut()
            && input.ship == ship
        {
            *input = PilotInput { ship, thrust, turn, fire };
            return *seq;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.inputs.push_front((seq, PilotInput { ship, thrust, turn, fire }));
        self.inputs.truncate(MAX_INPUTS_PER_PACKET);
        self.new_input = true;
        seq
    }

    /// Sends a command on the reliable channel; returns its id (echoed by its `CommandResult`).
    pub fn command(&mut self, kind: CommandKind) -> u32 {
        let id = self.next_command;
        self.next_command += 1;
        if let Ok(bytes) = wire::encode(&Command { id, kind }) {
            self.renet.send_message(channel::COMMANDS, bytes);
            self.command_queued = true;
        }
        id
    }

    /// The next reliable message (welcome, command result, event, kick), if any.
    pub fn poll(&mut self) -> Option<ServerMessage> {
        self.inbox.pop_front()
    }

    /// What the client sees.
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    /// Ships to draw now, `delay_ticks` behind the newest snapshot (see [`Interpolator`]).
    pub fn interpolated(&self) -> Vec<crate::interp::ShipSample> {
        let (Some(at), Some(w)) = (self.newest_at, &self.welcome) else { return Vec::new() };
        self.interp
            .render_tick(at.elapsed().as_secs_f64(), w.tick_hz)
            .map(|t| self.interp.sample(t))
            .unwrap_or_default()
    }

    /// The interpolator (to change its delay).
    pub fn interpolator_mut(&mut self) -> &mut Interpolator {
        &mut self.interp
    }

    /// The welcome message, once received.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// The player id.
    pub fn player_id(&self) -> u64 {
        self.player_id
    }

    /// True once connected (the welcome may still be on its way).
    pub fn is_connected(&self) -> bool {
        self.renet.is_connected()
    }

    /// Why the connection closed, if it has.
    pub fn disconnect_reason(&self) -> Option<String> {
        if let Some(k) = &self.kicked {
            return Some(k.clone());
        }
        if let Some(r) = self.transport.disconnect_reason() {
            return Some(format!("{r:?}"));
        }
        self.renet.disconnect_reason().map(|r| r.to_string())
    }

    /// Smoothed round-trip time (milliseconds) as measured by renet.
    pub fn rtt_ms(&self) -> f64 {
        self.renet.rtt() * 1000.0
    }

    /// Bytes per second received, as measured by renet (packet payloads).
    pub fn bytes_received_per_sec(&self) -> f64 {
        self.renet.bytes_received_per_sec()
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// Inputs sent but not yet confirmed by a snapshot.
    pub fn unconfirmed_inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Sends raw bytes on a channel, bypassing the protocol: for tests and tools that check how
    /// a server treats malformed input. A real client never needs it.
    pub fn send_raw(&mut self, channel: u8, bytes: Vec<u8>) {
        self.renet.send_message(channel, bytes);
    }

    /// Closes the connection (sends the netcode disconnect packet at once).
    pub fn disconnect(&mut self) {
        self.renet.disconnect();
        self.transport.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client with a token for a server that does not exist (nothing is ever received).
    fn offline_client() -> GameClient {
        let addr: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        let token = ConnectToken::generate(now, 1, 300, 42, 5, vec![addr], None, &[1; 32]).expect("token");
        let mut bytes = Vec::new();
        token.write(&mut bytes).expect("write");
        let reply = LoginReply {
            player_id: 42,
            empire_id: 42,
            udp_addr: addr,
            connect_token: bytes,
            tick_hz: 20,
            created: true,
        };
        GameClient::connect(&reply).expect("connect")
    }

    #[test]
    fn inputs_get_sequence_numbers_and_a_repeat_before_sending_replaces() {
        let mut c = offline_client();
        let a = c.pilot(7, 1.0, 0.0, false);
        assert_eq!(c.pilot(7, 0.5, 0.1, true), a, "same ship, not sent yet: replaced");
        let b = c.pilot(8, 1.0, 0.0, false);
        assert_eq!(b, a + 1, "another ship: the next number");
        assert_eq!(c.unconfirmed_inputs(), 2);
        for ship in 0..20 {
            c.pilot(ship * 2 + 100, 0.0, 0.0, false);
        }
        assert_eq!(c.unconfirmed_inputs(), MAX_INPUTS_PER_PACKET, "at most one packet's worth is kept");
    }

    #[test]
    fn bad_login_answers_are_errors() {
        assert_eq!(from_hex("0aff"), Some(vec![10, 255]));
        assert_eq!(from_hex("0af"), None);
        assert_eq!(from_hex("zz"), None);
        let mut reply = LoginReply {
            player_id: 1,
            empire_id: 1,
            udp_addr: "127.0.0.1:9".parse().expect("addr"),
            connect_token: vec![1, 2, 3],
            tick_hz: 20,
            created: false,
        };
        assert!(matches!(GameClient::connect(&reply), Err(SdkError::BadAnswer(_))), "a truncated token");
        reply.connect_token.clear();
        assert!(GameClient::connect(&reply).is_err());
    }
}
