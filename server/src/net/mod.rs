//! The game connection: renet over netcode (secure connect tokens only), sessions, intents
//! and commands in, snapshots and events out. Runs inside the Bevy app:
//!
//! - `PreUpdate`, every frame: receive packets; connect/disconnect sessions (a new session gets
//!   `Welcome` and then a full snapshot); serve login-side requests from the HTTP gate (create a
//!   player's empire, kick); decode intents and commands into the `IntentQueue`. A client whose
//!   message is oversized or malformed is disconnected and counted.
//! - `FixedUpdate`, after the simulation: command results and events to the clients they
//!   concern, then snapshots ([`replicate`]).
//! - `Last`: send packets if a tick ran this frame (or none ran for 50 ms); see [`send`].
//!
//! One connection per player: the client id is the player id, so netcode refuses a second
//! connection of a connected player; a new *login* kicks the old connection first (the newer
//! login wins, see `docs/PROTOCOL.md`).

pub(crate) mod convert;
mod log_limit;
mod replicate;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bevy_app::prelude::*;
use bevy_ecs::prelude::*;
use renet::{ChannelError, DisconnectReason, RenetServer, ServerEvent};
use starforge_components::prelude::*;
use starforge_shared::ingress::{Ingress, Reason, Report};
use starforge_shared::protocol::{
    Command, IntentPacket, MAX_CLIENT_MESSAGE_BYTES, MAX_INPUTS_PER_PACKET, ServerMessage, Welcome, channel,
};
use starforge_shared::snapshot::Record;
use starforge_shared::{PROTOCOL_VERSION, wire};
use starforge_systems::SimSystems;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::gate::{GameRequest, StartingEmpire};
use crate::http::HealthState;
use crate::metrics::Metrics;

/// `client_ref` bit marking a pilot input (the low 32 bits are its sequence number); command
/// results carry the command id without it.
const PILOT_REF: u64 = 1 << 63;

/// One connected player.
pub(crate) struct Session {
    /// The player's empire.
    pub player: EntityId,
    /// Newest pilot-input sequence number applied.
    pub last_seq: u32,
    /// Newest snapshot tick the client acknowledged (0 = none).
    pub ack: u32,
    /// Snapshots sent, oldest first: what the client holds if it received them.
    pub ring: VecDeque<(u32, Vec<Record>)>,
    /// Snapshots kept.
    pub history: usize,
    /// Bandwidth tokens (bytes).
    pub tokens: f64,
    /// Commands received this tick.
    pub commands_this_tick: u32,
    /// Pilot inputs queued this tick.
    pub inputs_this_tick: u32,
    /// Entities visible but not yet sent to the client, with the tick they became visible
    /// (their priority grows with the wait, so none starves).
    pub waiting: starforge_components::ids::FastMap<u64, u32>,
    /// Number of the login whose token opened this connection.
    pub login: u64,
}

/// The network endpoint and the sessions, an ECS resource.
#[derive(Resource)]
pub struct NetServer {
    pub(crate) renet: RenetServer,
    ingress: Ingress,
    pub(crate) sessions: BTreeMap<u64, Session>,
    gate: mpsc::Receiver<GameRequest>,
    pub(crate) metrics: Arc<Metrics>,
    health: Arc<HealthState>,
    last_update: Instant,
    last_flush: Instant,
    flush_due: bool,
    /// The galaxy summary of every `Welcome` (the galaxy is static).
    galaxy: starforge_shared::protocol::GalaxyInfo,
    /// Newest login number per player (from relogin kicks): a connection opened with an older
    /// login's token is refused, whenever it arrives.
    newest_login: BTreeMap<u64, u64>,
    /// Throttles the log lines of rejected traffic.
    log_limit: log_limit::LogLimit,
}

impl NetServer {
    /// Wraps the game socket's input path; `galaxy` is the summary every `Welcome` carries.
    pub fn new(
        galaxy: starforge_shared::protocol::GalaxyInfo,
        renet: RenetServer,
        ingress: Ingress,
        gate: mpsc::Receiver<GameRequest>,
        metrics: Arc<Metrics>,
        health: Arc<HealthState>,
    ) -> Self {
        Self {
            renet,
            ingress,
            sessions: BTreeMap::new(),
            gate,
            metrics,
            health,
            last_update: Instant::now(),
            last_flush: Instant::now(),
            flush_due: false,
            newest_login: BTreeMap::new(),
            galaxy,
            log_limit: Default::default(),
        }
    }

    /// Players connected now.
    pub fn connected(&self) -> usize {
        self.sessions.len()
    }

    /// The newest snapshot sent to `player`: its tick and the entities the client holds once it
    /// has received it (what the server believes the client's mirror is).
    pub fn client_view(&self, player: u64) -> Option<(u32, &[Record])> {
        self.sessions.get(&player)?.ring.back().map(|(t, r)| (*t, r.as_slice()))
    }

    /// The snapshot sent to `player` at `tick`, if still kept.
    pub fn client_view_at(&self, player: u64, tick: u32) -> Option<&[Record]> {
        self.sessions.get(&player)?.ring.iter().find(|(t, _)| *t == tick).map(|(_, r)| r.as_slice())
    }

    /// Disconnects a player, telling the client why first. Returns false if not connected.
    pub fn kick(&mut self, player_id: u64, reason: &str) -> bool {
        if !self.renet.is_connected(player_id) {
            return false;
        }
        if let Ok(bytes) = wire::encode(&ServerMessage::Kicked { reason: reason.to_owned() }) {
            self.renet.send_message(player_id, channel::EVENTS, bytes);
            // Flush now so the reason leaves before the disconnect packet.
            self.ingress.send_packets(&mut self.renet);
        }
        self.renet.disconnect(player_id);
        self.metrics.add_dropped_client("kicked");
        info!(player_id, reason, "kicked");
        true
    }

    fn drop_client(&mut self, client: u64, reason: Reason, detail: &str) {
        let label = reason.label();
        self.metrics.add_invalid_packet(label);
        self.metrics.add_dropped_client(label);
        if let Some(suppressed) = self.log_limit.admit(label, Instant::now()) {
            warn!(client, reason = label, detail, suppressed, "dropping client");
        }
        self.renet.disconnect(client);
    }

    /// Counts and logs (throttled) what the input path dropped or ended this frame.
    fn account(&mut self, reports: Vec<Report>) {
        let now = Instant::now();
        for report in reports {
            match report {
                Report::Dropped { reason, addr, client, disconnected, detail } => {
                    let label = reason.label();
                    self.metrics.add_invalid_packet(label);
                    if disconnected {
                        self.metrics.add_dropped_client(label);
                    }
                    if let Some(suppressed) = self.log_limit.admit(label, now) {
                        let detail = detail.as_deref().unwrap_or("");
                        let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
                        warn!(reason = label, %addr, client, disconnected, detail, suppressed, "dropped a packet");
                    }
                }
                Report::TimedOut { client } => {
                    self.metrics.add_dropped_client("timeout");
                    info!(player_id = client, "timed out");
                }
                Report::SendFailed { addr, error } => {
                    if let Some(suppressed) = self.log_limit.admit("send_failed", now) {
                        warn!(%addr, error, suppressed, "cannot send a datagram");
                    }
                }
            }
        }
    }
}

/// The network's systems in `FixedUpdate` (after the simulation's `Bookkeeping`).
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetSystems;

/// Adds the network systems; the app must hold a [`NetServer`].
pub struct NetPlugin;

impl Plugin for NetPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(PreUpdate, receive)
            .add_systems(
                FixedUpdate,
                (route_results, replicate::replicate, reset_tick_limits, flush_tick)
                    .chain()
                    .in_set(NetSystems)
                    .after(SimSystems::Bookkeeping),
            )
            .add_systems(Last, send);
    }
}

/// Receives packets, connects sessions, serves the gate, queues intents and commands.
fn receive(world: &mut World) {
    world.resource_scope::<NetServer, _>(|world, mut net| {
        let net = &mut *net;
        let now = Instant::now();
        let _timer = SetTimer { metrics: net.metrics.clone(), set: "receive", started: now };
        let dt = now - net.last_update;
        net.last_update = now;
        // Gate requests first: a login queues "kick the old connection" before it answers, so
        // the kick must be served before the new connection can complete in this frame.
        while let Ok(req) = net.gate.try_recv() {
            serve(world, net, req);
        }
        net.renet.update(dt);
        if let Err(e) = net.ingress.update(dt, &mut net.renet) {
            warn!("cannot read the game socket: {e}");
        }
        let reports = net.ingress.take_reports();
        net.account(reports);
        while let Some(event) = net.renet.get_event() {
            match event {
                ServerEvent::ClientConnected { client_id } => connect(world, net, client_id),
                ServerEvent::ClientDisconnected { client_id, reason } => {
                    if let Some(label) = renet_drop(reason) {
                        // Renet itself gave up on the connection (the input path's checks make
                        // most of these impossible; a peer that stops acknowledging is not).
                        net.metrics.add_dropped_client(label);
                    }
                    // Logged for every connection, also one whose session a protocol
                    // violation already ended (its own warning is throttled).
                    net.sessions.remove(&client_id);
                    info!(player_id = client_id, %reason, "disconnected");
                }
            }
        }
        let limits = {
            let n = &world.resource::<Tuning>().network;
            Limits { commands: n.commands_per_tick, inputs: n.inputs_per_tick }
        };
        let tick = world.resource::<SimTick>().0 as u32;
        let clients: Vec<u64> = net.sessions.keys().copied().collect();
        let mut queued = Vec::new();
        for client in clients {
            if let Err((reason, detail)) = read_client(net, client, limits, tick, &mut queued) {
                net.drop_client(client, reason, &detail);
                net.sessions.remove(&client);
            }
        }
        world.resource_mut::<IntentQueue>().0.extend(queued);
    });
}

fn connect(world: &mut World, net: &mut NetServer, client_id: u64) {
    let player = EntityId(client_id);
    let login = net.ingress.user_data(client_id).map_or(0, |d| crate::token::login_of(&d));
    if net.newest_login.get(&client_id).is_some_and(|newest| login < *newest) {
        info!(player_id = client_id, "a connection from an older login; refused (the newer login wins)");
        net.renet.disconnect(client_id);
        return;
    }
    if world.resource::<EntityIndex>().get(player).is_none() {
        warn!(client_id, "a connection for an unknown player; refused");
        net.renet.disconnect(client_id);
        return;
    }
    let tuning = world.resource::<Tuning>();
    let welcome = Welcome {
        protocol_version: PROTOCOL_VERSION,
        player_id: client_id,
        empire_id: client_id,
        tick_hz: tuning.world.tick_hz,
        snapshot_interval_ticks: tuning.network.snapshot_interval_ticks,
        snapshot_history: tuning.network.snapshot_history,
        server_tick: world.resource::<SimTick>().0,
        galaxy: net.galaxy.clone(),
    };
    let history = tuning.network.snapshot_history as usize;
    match wire::encode(&ServerMessage::Welcome(welcome)) {
        Ok(bytes) => net.renet.send_message(client_id, channel::EVENTS, bytes),
        Err(e) => warn!("cannot encode the welcome: {e}"),
    }
    net.sessions.insert(
        client_id,
        Session {
            player,
            last_seq: 0,
            ack: 0,
            ring: VecDeque::new(),
            history,
            // A full bucket: the first snapshots carry as much of the visible set as allowed.
            tokens: f64::INFINITY,
            commands_this_tick: 0,
            inputs_this_tick: 0,
            waiting: Default::default(),
            login,
        },
    );
    info!(player_id = client_id, "connected");
}

fn serve(world: &mut World, net: &mut NetServer, req: GameRequest) {
    match req {
        GameRequest::CreatePlayer { name, reply } => {
            if reply.is_closed() {
                return;
            }
            let result = starforge_systems::spawn::spawn_player_empire(world, &name).map(|s| StartingEmpire {
                player_id: s.empire.0,
                home_colony: s.colony.0,
                ships: s.ships.iter().map(|id| id.0).collect(),
            });
            if let Ok(s) = &result {
                info!(player_id = s.player_id, name, "new player");
            }
            let _ = reply.send(result);
        }
        GameRequest::Kick { player_id, reason, before_login } => {
            if let Some(before) = before_login {
                let newest = net.newest_login.entry(player_id).or_insert(before);
                *newest = (*newest).max(before);
            }
            let login = net.sessions.get(&player_id).map(|s| s.login);
            if let (Some(before), Some(login)) = (before_login, login)
                && login >= before
            {
                return; // the connection of this login (or a newer one): keep it
            }
            if net.kick(player_id, &reason) {
                net.sessions.remove(&player_id);
            }
        }
    }
}

/// Records the time until it is dropped as one observation of `set`.
struct SetTimer {
    metrics: Arc<Metrics>,
    set: &'static str,
    started: Instant,
}

impl Drop for SetTimer {
    fn drop(&mut self) {
        self.metrics.observe_set(self.set, self.started.elapsed());
    }
}

type Violation = (Reason, String);

/// The `dropped_clients` label of a disconnection renet decided on, if it was one.
fn renet_drop(reason: DisconnectReason) -> Option<&'static str> {
    match reason {
        // The client left, netcode closed it (timeouts are counted there), or we did (counted
        // where we decided).
        DisconnectReason::DisconnectedByClient
        | DisconnectReason::DisconnectedByServer
        | DisconnectReason::Transport => None,
        DisconnectReason::SendChannelError { .. } => Some("unacknowledged"),
        DisconnectReason::ReceiveChannelError { error: ChannelError::ReliableChannelMaxMemoryReached, .. } => {
            Some("reliable_memory")
        }
        DisconnectReason::ReceiveChannelError { .. } => Some("renet_channel_error"),
        DisconnectReason::PacketDeserialization(_) => Some(Reason::RenetMalformed.label()),
        DisconnectReason::ReceivedInvalidChannelId(_) => Some(Reason::Channel.label()),
        DisconnectReason::PacketSerialization(_) => Some("server_error"),
    }
}

/// Per-tick allowances of one client.
#[derive(Clone, Copy)]
struct Limits {
    commands: u32,
    inputs: u32,
}

/// Reads one client's messages. An `Err` means the client broke the protocol.
fn read_client(
    net: &mut NetServer,
    client: u64,
    limits: Limits,
    tick: u32,
    queued: &mut Vec<QueuedIntent>,
) -> Result<(), Violation> {
    let Some(player) = net.sessions.get(&client).map(|s| s.player) else { return Ok(()) };
    while let Some(bytes) = net.renet.receive_message(client, channel::INTENTS) {
        net.metrics.add_packets_in(1, bytes.len() as u64);
        if bytes.len() > MAX_CLIENT_MESSAGE_BYTES {
            return Err((Reason::Oversized, format!("{}-byte intent packet", bytes.len())));
        }
        let packet: IntentPacket =
            wire::decode(&bytes).map_err(|e| (Reason::Malformed, format!("intent packet: {e}")))?;
        if packet.inputs.len() > MAX_INPUTS_PER_PACKET {
            return Err((Reason::TooManyInputs, format!("{} inputs in one packet", packet.inputs.len())));
        }
        let Some(session) = net.sessions.get_mut(&client) else { return Ok(()) };
        if packet.ack_tick > session.ack && packet.ack_tick <= tick {
            session.ack = packet.ack_tick;
        }
        // Oldest first; each sequence number at most once, in order.
        for (k, input) in packet.inputs.iter().enumerate().rev() {
            let Some(seq) = packet.seq.checked_sub(k as u32) else { continue };
            if seq <= session.last_seq {
                continue;
            }
            session.last_seq = seq;
            if session.inputs_this_tick >= limits.inputs {
                // Acknowledged, not applied: a flood cannot stretch the tick.
                net.metrics.add_invalid_packet(Reason::ExcessInputs.label());
                continue;
            }
            session.inputs_this_tick += 1;
            queued.push(QueuedIntent {
                empire: player,
                client_ref: PILOT_REF | u64::from(seq),
                intent: Intent::Pilot {
                    ship: EntityId(input.ship),
                    thrust: input.thrust,
                    turn: input.turn,
                    fire: input.fire,
                },
            });
        }
    }
    while let Some(bytes) = net.renet.receive_message(client, channel::COMMANDS) {
        net.metrics.add_packets_in(1, bytes.len() as u64);
        if bytes.len() > MAX_CLIENT_MESSAGE_BYTES {
            return Err((Reason::Oversized, format!("{}-byte command", bytes.len())));
        }
        let cmd: Command = wire::decode(&bytes).map_err(|e| (Reason::Malformed, format!("command: {e}")))?;
        let Some(session) = net.sessions.get_mut(&client) else { return Ok(()) };
        if session.commands_this_tick >= limits.commands {
            let reason = format!("too many commands this tick (limit {})", limits.commands);
            send_reliable(net, client, &ServerMessage::CommandResult { id: cmd.id, result: Err(reason) });
            continue;
        }
        session.commands_this_tick += 1;
        queued.push(QueuedIntent {
            empire: player,
            client_ref: u64::from(cmd.id),
            intent: convert::command_intent(cmd.kind),
        });
    }
    Ok(())
}

fn send_reliable(net: &mut NetServer, client: u64, msg: &ServerMessage) {
    if !net.sessions.contains_key(&client) {
        return;
    }
    match wire::encode(msg) {
        Ok(bytes) => {
            net.metrics.add_packets_out(1, bytes.len() as u64);
            net.renet.send_message(client, channel::EVENTS, bytes);
        }
        Err(e) => debug!("cannot encode a message: {e}"),
    }
}

/// Command results and events, to the players they concern.
#[expect(clippy::too_many_arguments, reason = "one reader per message type")]
fn route_results(
    mut net: ResMut<NetServer>,
    mut rejected: MessageReader<IntentRejected>,
    mut accepted: MessageReader<IntentAccepted>,
    mut combat: MessageReader<CombatReport>,
    mut trades: MessageReader<TradeExecuted>,
    mut built: MessageReader<ConstructionCompleted>,
    mut launched: MessageReader<ShipBuilt>,
    mut lost: MessageReader<ShipDestroyed>,
) {
    let net = &mut *net;
    if net.sessions.is_empty() {
        // Nobody to tell; skip the readers' backlog.
        rejected.clear();
        accepted.clear();
        combat.clear();
        trades.clear();
        built.clear();
        launched.clear();
        lost.clear();
        return;
    }
    for r in rejected.read() {
        let msg = if r.client_ref & PILOT_REF != 0 {
            ServerMessage::InputRejected { seq: r.client_ref as u32, reason: r.reason.to_string() }
        } else {
            ServerMessage::CommandResult { id: r.client_ref as u32, result: Err(r.reason.to_string()) }
        };
        send_reliable(net, r.empire.0, &msg);
    }
    for a in accepted.read() {
        if a.client_ref & PILOT_REF == 0 {
            let msg = ServerMessage::CommandResult { id: a.client_ref as u32, result: Ok(a.created.map(|c| c.0)) };
            send_reliable(net, a.empire.0, &msg);
        }
    }
    for c in combat.read() {
        let ev = ServerMessage::Event(convert::combat_event(c));
        for p in &c.participants {
            send_reliable(net, p.0, &ev);
        }
    }
    for t in trades.read() {
        for (who, side) in [(t.buyer, Side::Buy), (t.seller, Side::Sell)] {
            if let Some(ev) = convert::trade_event(t, side) {
                send_reliable(net, who.0, &ServerMessage::Event(ev));
            }
        }
    }
    for c in built.read() {
        send_reliable(net, c.owner.0, &ServerMessage::Event(convert::construction_event(c)));
    }
    for s in launched.read() {
        send_reliable(net, s.owner.0, &ServerMessage::Event(convert::ship_built_event(s)));
    }
    for s in lost.read() {
        send_reliable(net, s.owner.0, &ServerMessage::Event(convert::ship_lost_event(s)));
    }
}

fn reset_tick_limits(mut net: ResMut<NetServer>) {
    for s in net.sessions.values_mut() {
        s.commands_this_tick = 0;
        s.inputs_this_tick = 0;
    }
}

/// Longest time between two flushes when no tick runs (server paused or starved).
const IDLE_FLUSH: std::time::Duration = std::time::Duration::from_millis(50);

/// Marks that this frame's tick produced snapshots and results to send.
fn flush_tick(mut net: ResMut<NetServer>) {
    net.flush_due = true;
}

/// Sends queued packets once per frame that ran a tick (or after 50 ms without one); publishes
/// client count and tick to health and metrics.
///
/// Flushing is per tick, not per frame: every flush makes renet send each client an
/// acknowledgement packet, and frames come every few milliseconds, so flushing per frame
/// multiplied packets (and their encryption and syscalls) for nothing.
fn send(mut net: ResMut<NetServer>, tick: Res<SimTick>) {
    let net = &mut *net;
    if net.flush_due || net.last_flush.elapsed() >= IDLE_FLUSH {
        let started = Instant::now();
        net.ingress.send_packets(&mut net.renet);
        net.last_flush = Instant::now();
        net.flush_due = false;
        net.metrics.observe_set("send", net.last_flush - started);
    }
    let clients = net.sessions.len() as u64;
    net.metrics.set_clients(clients);
    net.health.set_clients(clients);
    net.health.set_tick(tick.0);
}
