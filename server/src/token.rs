//! Netcode connect tokens: the [`TokenIssuer`] that the login handler uses, the protocol id
//! derived from the protocol version, and loading the private key shared with the UDP server.
//!
//! A token is encrypted with the private key; only a netcode server with the same key and
//! protocol id accepts it. The key must never be logged or echoed.

use std::fmt;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use renet_netcode::{ConnectToken, NETCODE_KEY_BYTES, TokenGenerationError, generate_random_bytes};

/// The environment variable holding the netcode private key (64 hex characters) when the config
/// does not give one.
pub const KEY_ENV: &str = "STARFORGE_NETCODE_KEY";

/// How long an issued token may be used to start a connection, by default.
pub const DEFAULT_EXPIRE_SECONDS: u64 = 300;

/// The netcode protocol id for a Starforge protocol version: FNV-1a 64 of `b"starforge"`
/// followed by `version` in little-endian. A client built for another version computes another
/// id, and the netcode server refuses its tokens and packets.
pub fn protocol_id(version: u32) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    b"starforge".iter().chain(version.to_le_bytes().iter()).fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// Where the private key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The configuration value.
    Config,
    /// The `STARFORGE_NETCODE_KEY` environment variable.
    Env,
    /// Generated at random at startup: tokens will not survive a restart. The caller should log
    /// a warning.
    Generated,
}

/// A malformed private key. The text names the source and the problem, never the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 64 characters long.
    #[error("the netcode key from {origin} must be 64 hex characters (32 bytes); got {len} characters")]
    Length {
        /// "the config" or the variable name.
        origin: &'static str,
        /// The number of characters found.
        len: usize,
    },
    /// A character outside `0-9 a-f A-F`.
    #[error("the netcode key from {origin} must be hex (0-9, a-f); character {position} is not")]
    NotHex {
        /// "the config" or the variable name.
        origin: &'static str,
        /// 1-based position of the first bad character.
        position: usize,
    },
}

/// Loads the netcode private key: from `from_config` if given, else from the environment
/// variable [`KEY_ENV`] (if set and not empty), both as 64 hex characters (surrounding whitespace
/// ignored). With neither, a random key is generated and [`KeySource::Generated`] returned, so the
/// caller can warn that tokens will not survive a restart.
pub fn load_private_key(from_config: Option<&str>) -> Result<([u8; NETCODE_KEY_BYTES], KeySource), KeyError> {
    if let Some(text) = from_config {
        return Ok((parse_key(text, "the config")?, KeySource::Config));
    }
    match std::env::var(KEY_ENV) {
        Ok(text) if !text.trim().is_empty() => Ok((parse_key(&text, KEY_ENV)?, KeySource::Env)),
        // Unset or empty.
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok((generate_random_bytes(), KeySource::Generated)),
        // Not unicode: certainly not hex; report where, like any other bad character.
        Err(std::env::VarError::NotUnicode(raw)) => Ok((parse_key(&raw.to_string_lossy(), KEY_ENV)?, KeySource::Env)),
    }
}

/// Parses 64 hex characters into a key. `source` names where the text came from, for errors.
pub fn parse_key(text: &str, source: &'static str) -> Result<[u8; NETCODE_KEY_BYTES], KeyError> {
    let text = text.trim();
    let len = text.chars().count();
    if len != NETCODE_KEY_BYTES * 2 {
        return Err(KeyError::Length { origin: source, len });
    }
    let mut key = [0u8; NETCODE_KEY_BYTES];
    let bytes = text.as_bytes();
    for (i, byte) in key.iter_mut().enumerate() {
        let digit = |j: usize| {
            bytes
                .get(j)
                .and_then(|c| (*c as char).to_digit(16))
                .ok_or(KeyError::NotHex { origin: source, position: j + 1 })
        };
        let (hi, lo) = (digit(2 * i)?, digit(2 * i + 1)?);
        // Both digits are < 16, so this fits a byte.
        *byte = u8::try_from(hi * 16 + lo).unwrap_or(0);
    }
    Ok(key)
}

/// Lower-case hex of `bytes` (used for connect tokens in JSON).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex of either case into bytes; `None` on an odd length or a non-hex character.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// Issuing a token failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The system clock is before 1970.
    #[error("the system clock is before the Unix epoch")]
    Clock,
    /// renetcode could not build or encrypt the token.
    #[error("connect token generation failed: {0}")]
    Generate(#[from] TokenGenerationError),
    /// Serializing the token failed.
    #[error("connect token serialization failed: {0}")]
    Write(#[from] std::io::Error),
}

/// Issues netcode *secure* connect tokens for the server's UDP address.
pub struct TokenIssuer {
    private_key: [u8; NETCODE_KEY_BYTES],
    protocol_id: u64,
    udp_addr: SocketAddr,
    expire_seconds: u64,
    timeout_seconds: i32,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("private_key", &"<redacted>")
            .field("protocol_id", &self.protocol_id)
            .field("udp_addr", &self.udp_addr)
            .field("expire_seconds", &self.expire_seconds)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

impl TokenIssuer {
    /// An issuer for the netcode server at `udp_addr` (its public address: the one clients send
    /// to, which must equal the netcode server's configured public address), sharing its
    /// `private_key` and `protocol_id`. Tokens may start a connection for `expire_seconds`; the
    /// connection times out after `timeout_seconds` of silence (negative: never, development only).
    pub fn new(
        private_key: [u8; NETCODE_KEY_BYTES],
        protocol_id: u64,
        udp_addr: SocketAddr,
        expire_seconds: u64,
        timeout_seconds: i32,
    ) -> Self {
        Self { private_key, protocol_id, udp_addr, expire_seconds, timeout_seconds }
    }

    /// The UDP address written into tokens.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The netcode protocol id written into tokens.
    pub fn protocol_id(&self) -> u64 {
        self.protocol_id
    }

    /// How long a token stays valid for starting a connection, in seconds.
    pub fn expire_seconds(&self) -> u64 {
        self.expire_seconds
    }

    /// A serialized secure connect token (about 2 KB) for `player_id` as the netcode client id,
    /// created now.
    pub fn issue(&self, player_id: u64) -> Result<Vec<u8>, TokenError> {
        self.issue_for_login(player_id, 0)
    }

    /// Like [`TokenIssuer::issue`], with the login's number in the token's user data (its first
    /// 8 bytes, little-endian; the server reads it back with [`login_of`] once connected).
    pub fn issue_for_login(&self, player_id: u64, login: u64) -> Result<Vec<u8>, TokenError> {
        let mut user_data = [0u8; renet_netcode::NETCODE_USER_DATA_BYTES];
        user_data[..8].copy_from_slice(&login.to_le_bytes());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| TokenError::Clock)?;
        let token = ConnectToken::generate(
            now,
            self.protocol_id,
            self.expire_seconds,
            player_id,
            self.timeout_seconds,
            vec![self.udp_addr],
            Some(&user_data),
            &self.private_key,
        )?;
        let mut out = Vec::with_capacity(2048);
        token.write(&mut out)?;
        Ok(out)
    }
}

/// The login number a token's user data carries (see [`TokenIssuer::issue_for_login`]).
pub fn login_of(user_data: &[u8; renet_netcode::NETCODE_USER_DATA_BYTES]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&user_data[..8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";

    #[test]
    fn issued_tokens_parse_back() {
        let key = parse_key(KEY_HEX, "test").expect("key");
        let addr: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
        let issuer = TokenIssuer::new(key, protocol_id(1), addr, 300, 15);
        let bytes = issuer.issue(42).expect("token");
        let token = ConnectToken::read(&mut bytes.as_slice()).expect("readable token");
        assert_eq!(token.client_id, 42);
        assert_eq!(token.protocol_id, protocol_id(1));
        assert_eq!(token.server_addresses[0], Some(addr));
        assert!(token.server_addresses[1..].iter().all(Option::is_none));
        assert_eq!(token.expire_timestamp - token.create_timestamp, 300);
        assert_eq!(token.timeout_seconds, 15);
        // Through hex and back, as the login response carries it.
        assert_eq!(from_hex(&to_hex(&bytes)).as_deref(), Some(bytes.as_slice()));
        // Two tokens for the same player differ (fresh keys and nonce).
        assert_ne!(issuer.issue(42).expect("token"), bytes);
        assert!(!format!("{issuer:?}").contains("0a0b"), "Debug must not show the key");
    }

    /// Drives a netcode server with `server_key` and a client holding a token from `issuer`
    /// for up to `steps` rounds; whether the client got connected.
    fn connects(issuer_key: [u8; 32], server_key: [u8; 32], steps: usize) -> bool {
        use renet::{ConnectionConfig, RenetClient, RenetServer};
        use renet_netcode::{
            ClientAuthentication, NetcodeClientTransport, NetcodeServerTransport, ServerAuthentication, ServerConfig,
        };
        use std::net::UdpSocket;
        use std::time::Duration;

        let server_socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let server_addr = server_socket.local_addr().expect("addr");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        let config = ServerConfig {
            current_time: now,
            max_clients: 4,
            protocol_id: protocol_id(1),
            public_addresses: vec![server_addr],
            authentication: ServerAuthentication::Secure { private_key: server_key },
        };
        let mut server = RenetServer::new(ConnectionConfig::default());
        let mut server_transport = NetcodeServerTransport::new(config, server_socket).expect("server transport");

        let issuer = TokenIssuer::new(issuer_key, protocol_id(1), server_addr, 300, 15);
        let bytes = issuer.issue(4242).expect("token");
        let connect_token = ConnectToken::read(&mut bytes.as_slice()).expect("token");
        let client_socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
        let mut client = RenetClient::new(ConnectionConfig::default());
        let mut client_transport =
            NetcodeClientTransport::new(now, ClientAuthentication::Secure { connect_token }, client_socket)
                .expect("client transport");
        let step = Duration::from_millis(5);
        for _ in 0..steps {
            client.update(step);
            let _ = client_transport.update(step, &mut client);
            let _ = client_transport.send_packets(&mut client);
            server.update(step);
            let _ = server_transport.update(step, &mut server);
            server_transport.send_packets(&mut server);
            if client.is_connected() && server.is_connected(4242) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    #[test]
    fn a_netcode_server_with_the_same_key_accepts_issued_tokens() {
        let key = parse_key(KEY_HEX, "test").expect("key");
        assert!(connects(key, key, 2000), "a token from the server's own key connects");
        let mut other = key;
        other[0] ^= 1;
        // A wrong key can never connect; a few dozen rounds exercise the whole handshake.
        assert!(!connects(other, key, 50), "a token from another key must not connect");
    }

    #[test]
    fn protocol_ids_are_stable_and_differ_by_version() {
        assert_eq!(protocol_id(1), protocol_id(1));
        assert_ne!(protocol_id(1), protocol_id(2));
        // Pinned: clients compute the same value independently.
        let manual = b"starforge\x01\x00\x00\x00"
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        assert_eq!(protocol_id(1), manual);
    }

    #[test]
    fn keys_parse_or_fail_clearly() {
        let key = parse_key(&format!("  {KEY_HEX}\n"), "test").expect("key");
        assert_eq!(key[0], 0);
        assert_eq!(key[10], 0x0a);
        assert_eq!(key[31], 0x1f);

        let short = parse_key(&KEY_HEX[..62], "the config").unwrap_err();
        assert_eq!(short, KeyError::Length { origin: "the config", len: 62 });
        assert!(short.to_string().contains("64 hex characters"));
        assert!(!short.to_string().contains("0102"), "never echo the key");

        let mut bad = KEY_HEX.to_string();
        bad.replace_range(5..6, "g");
        let err = parse_key(&bad, "the config").unwrap_err();
        assert_eq!(err, KeyError::NotHex { origin: "the config", position: 6 });
        assert!(!err.to_string().contains("0102"));

        // A multi-byte character: 64 chars but more bytes; still a clean error.
        let mut wide = KEY_HEX[..63].to_string();
        wide.push('é');
        assert!(matches!(parse_key(&wide, "t"), Err(KeyError::NotHex { position: 64, .. })));
    }

    #[test]
    fn config_key_wins_and_errors_propagate() {
        let (key, source) = load_private_key(Some(KEY_HEX)).expect("key");
        assert_eq!((key[1], source), (1, KeySource::Config));
        assert!(load_private_key(Some("abc")).is_err());
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        assert_eq!(to_hex(&[0, 0xff, 0x1a]), "00ff1a");
        assert_eq!(from_hex("00FF1a"), Some(vec![0, 0xff, 0x1a]));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(""), Some(vec![]));
    }
}
