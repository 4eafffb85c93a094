//! The wire encoding: every message goes through [`encode`] and [`decode`] (bincode 2,
//! standard config: little-endian, variable-length integers).

use serde::{Serialize, de::DeserializeOwned};

/// Largest message accepted by [`decode`] (bytes); larger input is refused unread.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Why bytes could not be turned into a message.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The input is larger than the limit ([`MAX_MESSAGE_BYTES`] for [`decode`]).
    #[error("message of {0} bytes exceeds the size limit")]
    TooLarge(usize),
    /// The bytes are not a valid message of the expected type.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A valid message was followed by extra bytes.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// The message could not be encoded.
    #[error("cannot encode message: {0}")]
    Encode(String),
}

fn config<const LIMIT: usize>() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<LIMIT>()
}

/// Encodes a message.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    bincode::serde::encode_to_vec(msg, config::<{ crate::protocol::MAX_WELCOME_BYTES }>())
        .map_err(|e| WireError::Encode(e.to_string()))
}

/// Decodes a whole message; never panics on arbitrary input.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    decode_limited::<T, MAX_MESSAGE_BYTES>(bytes)
}

/// Like [`decode`] with the limit of a server's reliable messages (the `Welcome` carries the
/// galaxy): [`crate::protocol::MAX_WELCOME_BYTES`]. For clients reading their server.
pub fn decode_from_server<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    decode_limited::<T, { crate::protocol::MAX_WELCOME_BYTES }>(bytes)
}

fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, WireError> {
    if bytes.len() > LIMIT {
        return Err(WireError::TooLarge(bytes.len()));
    }
    let (msg, used) =
        bincode::serde::decode_from_slice(bytes, config::<LIMIT>()).map_err(|e| WireError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(WireError::Trailing(bytes.len() - used));
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Hello { name: String, version: u32 },
        Move(i32, i32),
    }

    #[test]
    fn round_trip_and_compact() {
        let m = Msg::Move(3, -4);
        let bytes = encode(&m).expect("encodes");
        assert_eq!(bytes, vec![1, 6, 7], "variant 1, zig-zag varints 3 → 6 and -4 → 7");
        assert_eq!(decode::<Msg>(&bytes).expect("decodes"), m);
        let h = Msg::Hello { name: "ann".into(), version: crate::PROTOCOL_VERSION };
        assert_eq!(decode::<Msg>(&encode(&h).expect("encodes")).expect("decodes"), h);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        assert!(matches!(decode::<Msg>(&[]), Err(WireError::Malformed(_))));
        assert!(matches!(decode::<Msg>(&[9]), Err(WireError::Malformed(_))), "unknown variant");
        assert!(matches!(decode::<Msg>(&[1, 6, 7, 0]), Err(WireError::Trailing(1))));
        // A string length far beyond the input must be refused, not allocated.
        assert!(decode::<Msg>(&[0, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
        assert!(matches!(decode::<Msg>(&vec![0u8; MAX_MESSAGE_BYTES + 1]), Err(WireError::TooLarge(_))));
        // Every short byte string: no panic.
        for a in 0..=255u8 {
            for b in [0u8, 1, 127, 128, 255] {
                let _ = decode::<Msg>(&[a, b]);
                let _ = decode::<Msg>(&[a, b, a]);
            }
        }
    }
}
