//! Whatever reaches POST /ohttp: the encapsulated request (decryption must fail cleanly) and, for the
//! requests a client did encrypt correctly, the Binary HTTP inside (decoded with its limits into an
//! in-process request, or refused with an error), never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prover::ohttp::gateway::decode_request;
use prover::ohttp::OhttpKeys;

fn keys() -> &'static OhttpKeys {
    static KEYS: OnceLock<OhttpKeys> = OnceLock::new();
    KEYS.get_or_init(|| OhttpKeys::generate().expect("key generation"))
}

fuzz_target!(|data: &[u8]| {
    let _ = keys().decapsulate(data);
    let _ = decode_request(data);
});
