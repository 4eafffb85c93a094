//! The messages of the game protocol (everything except snapshots, which have their own
//! bit-packed format in [`crate::snapshot`]). `docs/PROTOCOL.md` documents every byte.
//!
//! Channels (renet channel ids; each direction has its own list):
//!
//! | direction | id | delivery | carries |
//! |---|---|---|---|
//! | client → server | [`channel::INTENTS`] = 0 | unreliable | [`IntentPacket`] |
//! | client → server | [`channel::COMMANDS`] = 1 | reliable, ordered | [`Command`] |
//! | server → client | [`channel::SNAPSHOTS`] = 0 | unreliable | snapshots ([`crate::snapshot`]) |
//! | server → client | [`channel::EVENTS`] = 1 | reliable, ordered | [`ServerMessage`] |
//!
//! Every message on channels other than snapshots is one value encoded with
//! [`crate::wire::encode`] (bincode 2, standard configuration).

use std::time::Duration;

use renet::{ChannelConfig, ConnectionConfig, SendType};
use serde::{Deserialize, Serialize};

/// Channel ids.
pub mod channel {
    /// Client → server, unreliable: [`super::IntentPacket`].
    pub const INTENTS: u8 = 0;
    /// Client → server, reliable ordered: [`super::Command`].
    pub const COMMANDS: u8 = 1;
    /// Server → client, unreliable: snapshots.
    pub const SNAPSHOTS: u8 = 0;
    /// Server → client, reliable ordered: [`super::ServerMessage`].
    pub const EVENTS: u8 = 1;
}

/// Most pilot inputs one [`IntentPacket`] may carry (the newest and the ones before it).
pub const MAX_INPUTS_PER_PACKET: usize = 8;
/// Most waypoints of a patrol command.
pub const MAX_PATROL_POINTS: usize = 8;
/// Largest client → server message (bytes); a larger one is a protocol violation.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 1024;

/// The renet channel configuration both ends must use.
///
/// Memory limits bound what one connection can pin on the server: a reliable channel that
/// fills up (its peer stops acknowledging) disconnects that peer. The server → client reliable
/// channel must hold the `Welcome` (the galaxy summary) at once: [`MAX_WELCOME_BYTES`].
pub fn connection_config() -> ConnectionConfig {
    let reliable = |id, bytes| ChannelConfig {
        channel_id: id,
        max_memory_usage_bytes: bytes,
        send_type: SendType::ReliableOrdered { resend_time: Duration::from_millis(200) },
    };
    let unreliable =
        |id, bytes| ChannelConfig { channel_id: id, max_memory_usage_bytes: bytes, send_type: SendType::Unreliable };
    ConnectionConfig {
        available_bytes_per_tick: 60_000,
        server_channels_config: vec![
            unreliable(channel::SNAPSHOTS, 256 * 1024),
            reliable(channel::EVENTS, MAX_WELCOME_BYTES + EVENTS_HEADROOM_BYTES),
        ],
        client_channels_config: vec![unreliable(channel::INTENTS, 64 * 1024), reliable(channel::COMMANDS, 256 * 1024)],
    }
}

/// Room on the server → client events channel beyond the `Welcome` (bytes): events not yet
/// acknowledged by the client. A server drops a client whose unacknowledged events exceed it.
pub const EVENTS_HEADROOM_BYTES: usize = 512 * 1024;

/// Largest encoded `Welcome` (bytes); the server refuses to start with a galaxy whose summary is
/// larger (about 40,000 systems), and the SDK accepts server messages up to this size.
pub const MAX_WELCOME_BYTES: usize = 4 * 1024 * 1024;

/// The netcode protocol id of a protocol version: a client built for another version cannot
/// even open a connection (FNV-1a 64 of `b"starforge"` then the version, little-endian).
pub fn protocol_id(version: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"starforge".iter().chain(version.to_le_bytes().iter()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Manual control of one ship for the coming ticks (until the next input, or 20 ticks).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PilotInput {
    /// The ship (an entity id of the player's).
    pub ship: u64,
    /// Throttle in [-1, 1].
    pub thrust: f32,
    /// Turn in [-1, 1] of the class's turn rate (positive = counter-clockwise).
    pub turn: f32,
    /// Fire at the best target in range.
    pub fire: bool,
}

/// Client → server on [`channel::INTENTS`]: the newest pilot inputs, repeated so a lost
/// packet costs nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntentPacket {
    /// Sequence number of `inputs[0]`; `inputs[k]` has sequence number `seq - k`.
    pub seq: u32,
    /// Newest snapshot tick the client has applied (0 before the first), the baseline the
    /// server may encode the next snapshot against.
    pub ack_tick: u32,
    /// Newest first, at most [`MAX_INPUTS_PER_PACKET`].
    pub inputs: Vec<PilotInput>,
}

/// Ship classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShipClass {
    /// Fast, fragile.
    Fighter,
    /// Light escort.
    Corvette,
    /// Line ship.
    Cruiser,
    /// Capital ship.
    Battleship,
    /// Cargo hauler.
    Freighter,
}

impl ShipClass {
    /// In wire order (the number in a snapshot's 3-bit class field).
    pub const ALL: [ShipClass; 5] =
        [ShipClass::Fighter, ShipClass::Corvette, ShipClass::Cruiser, ShipClass::Battleship, ShipClass::Freighter];
}

/// Colony buildings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Building {
    /// Minerals.
    Mine,
    /// Energy.
    PowerPlant,
    /// Rare elements.
    RareExtractor,
    /// Population capacity.
    Habitat,
    /// Builds ships.
    Shipyard,
    /// Output bonus.
    ResearchLab,
}

/// Traded resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resource {
    /// Energy.
    Energy,
    /// Minerals.
    Minerals,
    /// Rare elements.
    RareElements,
}

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// Bid.
    Buy,
    /// Ask.
    Sell,
}

/// Client → server on [`channel::COMMANDS`]: one command; answered by exactly one
/// [`ServerMessage::CommandResult`] with the same id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Chosen by the client, echoed in the result.
    pub id: u32,
    /// What to do.
    pub kind: CommandKind,
}

/// What a command asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CommandKind {
    /// Fly the fleet to a point of its current system.
    MoveTo {
        /// Fleet id.
        fleet: u64,
        /// Destination, system-local metres.
        x: f32,
        /// Destination, system-local metres.
        y: f32,
    },
    /// Travel along hyperlanes to another system.
    Jump {
        /// Fleet id.
        fleet: u64,
        /// Destination system.
        system: u32,
    },
    /// Engage a ship.
    Attack {
        /// Fleet id.
        fleet: u64,
        /// Target ship id.
        target: u64,
    },
    /// Loop over 2 to 8 waypoints of the current system.
    Patrol {
        /// Fleet id.
        fleet: u64,
        /// Waypoints, system-local metres.
        points: Vec<[f32; 2]>,
    },
    /// Halt.
    Stop {
        /// Fleet id.
        fleet: u64,
    },
    /// Build a building (level 1).
    Build {
        /// Colony id.
        colony: u64,
        /// What.
        building: Building,
    },
    /// Raise a building one level.
    Upgrade {
        /// Colony id.
        colony: u64,
        /// Which.
        building: Building,
    },
    /// Queue a ship at a colony's shipyard.
    QueueShip {
        /// Colony id.
        colony: u64,
        /// Class.
        class: ShipClass,
        /// Fleet to join; a new fleet when absent.
        fleet: Option<u64>,
    },
    /// Place a limit order on the exchange.
    PlaceOrder {
        /// Resource.
        resource: Resource,
        /// Buy or sell.
        side: Side,
        /// Limit price, milli-credits per unit.
        price: i64,
        /// Whole units.
        quantity: i64,
        /// Ticks until expiry; the server default when absent.
        expires_in: Option<u32>,
    },
    /// Cancel a resting order.
    CancelOrder {
        /// Order id.
        order: u64,
    },
}

/// One star system of the galaxy summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// System id (its index).
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Galaxy-map position.
    pub map_x: f32,
    /// Galaxy-map position.
    pub map_y: f32,
    /// Radius of the flyable space, metres.
    pub radius: f32,
    /// Planets: `[x, y, radius]` in system-local metres; a colony's `planet` indexes this.
    pub planets: Vec<[f32; 3]>,
}

/// The static galaxy: systems and hyperlanes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalaxyInfo {
    /// Systems in id order.
    pub systems: Vec<SystemInfo>,
    /// Hyperlanes as pairs of system ids.
    pub lanes: Vec<[u32; 2]>,
}

/// First message of every connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    /// [`crate::PROTOCOL_VERSION`] of the server.
    pub protocol_version: u32,
    /// The player (= the connection's client id = the player's empire id).
    pub player_id: u64,
    /// The player's empire entity id.
    pub empire_id: u64,
    /// Simulation ticks per second.
    pub tick_hz: u32,
    /// Snapshots are sent every this many ticks.
    pub snapshot_interval_ticks: u32,
    /// Snapshots the server keeps per client as delta baselines: a client should keep at
    /// least as many (an older acknowledgement gets a full snapshot).
    pub snapshot_history: u32,
    /// The server's tick when this was sent.
    pub server_tick: u64,
    /// The galaxy.
    pub galaxy: GalaxyInfo,
}

/// Something that happened to the player, on [`channel::EVENTS`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum GameEvent {
    /// A battle the player took part in ended.
    CombatReport {
        /// System.
        system: u32,
        /// First tick.
        started: u64,
        /// Last tick.
        ended: u64,
        /// Empire ids involved.
        participants: Vec<u64>,
        /// Shots fired.
        shots: u32,
        /// Ships lost per empire: `(empire, count)`.
        losses: Vec<(u64, u32)>,
        /// The empire with the most kills, if any ship was lost.
        victor: Option<u64>,
    },
    /// One of the player's orders traded.
    TradeFill {
        /// The player's order id.
        order: u64,
        /// Resource.
        resource: Resource,
        /// The player's side.
        side: Side,
        /// Price, milli-credits per unit.
        price: i64,
        /// Units.
        quantity: i64,
        /// Fee paid by the player (milli-credits).
        fee: i64,
    },
    /// A construction finished.
    ConstructionDone {
        /// Colony.
        colony: u64,
        /// Building.
        building: Building,
        /// Its new level.
        level: u8,
    },
    /// A shipyard launched a ship.
    ShipBuilt {
        /// The new ship.
        ship: u64,
        /// Its fleet.
        fleet: u64,
        /// The colony that built it.
        colony: u64,
        /// Class.
        class: ShipClass,
    },
    /// One of the player's ships was destroyed.
    ShipLost {
        /// The ship.
        ship: u64,
        /// The empire that destroyed it.
        by: u64,
        /// Where.
        system: u32,
    },
}

/// Server → client on [`channel::EVENTS`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ServerMessage {
    /// Sent once, first, on every (re)connection.
    Welcome(Welcome),
    /// The answer to [`Command`] `id`: `Ok(created entity id, if any)` or the reason it was refused.
    CommandResult {
        /// The command's id.
        id: u32,
        /// Outcome.
        result: Result<Option<u64>, String>,
    },
    /// A pilot input was refused (e.g. the ship is not the player's).
    InputRejected {
        /// The input's sequence number.
        seq: u32,
        /// Why.
        reason: String,
    },
    /// Something happened.
    Event(GameEvent),
    /// The server is closing this connection.
    Kicked {
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, encode};

    #[test]
    fn messages_round_trip() {
        let p = IntentPacket {
            seq: 7,
            ack_tick: 120,
            inputs: vec![PilotInput { ship: 42, thrust: 1.0, turn: -0.5, fire: true }],
        };
        assert_eq!(decode::<IntentPacket>(&encode(&p).expect("enc")).expect("dec"), p);
        let c = Command {
            id: 3,
            kind: CommandKind::PlaceOrder {
                resource: Resource::Minerals,
                side: Side::Sell,
                price: 1500,
                quantity: 10,
                expires_in: None,
            },
        };
        assert_eq!(decode::<Command>(&encode(&c).expect("enc")).expect("dec"), c);
        let m = ServerMessage::CommandResult { id: 3, result: Err("not enough minerals".into()) };
        assert_eq!(decode::<ServerMessage>(&encode(&m).expect("enc")).expect("dec"), m);
    }

    #[test]
    fn intent_packet_bytes_match_the_protocol_document() {
        // docs/PROTOCOL.md, "IntentPacket": varint seq, varint ack_tick, varint count, then per
        // input varint ship, f32 LE thrust, f32 LE turn, u8 fire.
        let p = IntentPacket {
            seq: 300,
            ack_tick: 5,
            inputs: vec![PilotInput { ship: 9, thrust: 1.0, turn: 0.0, fire: true }],
        };
        let bytes = encode(&p).expect("enc");
        assert_eq!(bytes, vec![251, 44, 1, 5, 1, 9, 0, 0, 128, 63, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn welcome_bytes_match_the_protocol_document() {
        // docs/PROTOCOL.md §6.1, worked example.
        let w = ServerMessage::Welcome(Welcome {
            protocol_version: 1,
            player_id: 42,
            empire_id: 42,
            tick_hz: 20,
            snapshot_interval_ticks: 1,
            snapshot_history: 32,
            server_tick: 1234,
            galaxy: GalaxyInfo {
                systems: vec![SystemInfo {
                    id: 0,
                    name: "Sol".into(),
                    map_x: 0.0,
                    map_y: 1.0,
                    radius: 2000.0,
                    planets: vec![[100.0, 0.0, 10.0]],
                }],
                lanes: vec![[0, 1]],
            },
        });
        let doc: Vec<u8> = vec![
            0x00, 0x01, 0x2a, 0x2a, 0x14, 0x01, 0x20, 0xfb, 0xd2, 0x04, 0x01, 0x00, 0x03, 0x53, 0x6f, 0x6c, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0xfa, 0x44, 0x01, 0x00, 0x00, 0xc8, 0x42, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x20, 0x41, 0x01, 0x00, 0x01,
        ];
        assert_eq!(encode(&w).expect("enc"), doc);
    }

    #[test]
    fn protocol_ids_differ_by_version() {
        assert_ne!(protocol_id(1), protocol_id(2));
        assert_eq!(protocol_id(1), protocol_id(1));
    }
}
