//! The decoders of client messages (`IntentPacket`, `Command`): never panic, and whatever
//! decodes encodes back to the same bytes' meaning (decode → encode → decode is stable).

#![no_main]

use libfuzzer_sys::fuzz_target;
use starforge_shared::protocol::{Command, IntentPacket};
use starforge_shared::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = wire::decode::<IntentPacket>(data) {
        let again: IntentPacket = wire::decode(&wire::encode(&p).expect("encodes")).expect("decodes");
        assert!(again == p || p.inputs.iter().any(|i| i.thrust.is_nan() || i.turn.is_nan()));
    }
    if let Ok(c) = wire::decode::<Command>(data) {
        let bytes = wire::encode(&c).expect("encodes");
        let again: Command = wire::decode(&bytes).expect("decodes");
        assert_eq!(wire::encode(&again).expect("encodes"), bytes);
    }
});
