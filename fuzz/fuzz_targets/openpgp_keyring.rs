//! Any bytes given as a keyring (`mpr manifest verify --keyring`) yield distinct public
//! certificates or an error naming the problem; never a panic: `registry_api::openpgp::parse_keyring`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_api::openpgp::{parse_keyring, parse_stored_key, MAX_KEYRING_CERTS};

fuzz_target!(|input: &[u8]| {
    if let Ok(keys) = parse_keyring(input) {
        assert!(!keys.is_empty() && keys.len() <= MAX_KEYRING_CERTS);
        for (i, key) in keys.iter().enumerate() {
            // What a keyring yields reads back as the same single certificate.
            let again = parse_stored_key(key.armored.as_bytes()).expect("re-parses");
            assert_eq!(again.fingerprint, key.fingerprint);
            assert!(keys[..i].iter().all(|k| k.fingerprint != key.fingerprint));
        }
    }
});
