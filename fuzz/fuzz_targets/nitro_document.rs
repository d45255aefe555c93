//! Any bytes given as a Nitro attestation document are verified or refused with an error, never
//! a panic; whatever verifies also answers every claim check.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use verifier::nitro::{verify_document, NitroTrust};

/// 2025-01-06T16:07:05Z: inside the validity of the yawn fixture's chain, so seeds made from the
/// real documents get past the time checks.
const AT_UNIX_SECONDS: u64 = 1_736_179_625;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = verify_document(data, &NitroTrust::default(), AT_UNIX_SECONDS) {
        let _ = document.is_debug();
        let _ = document.check_freshness(AT_UNIX_SECONDS * 1000, 300_000, 5_000);
        let _ = document.check_nonce(b"nonce");
        let _ = document.check_user_data(b"user data");
        let _ = document.check_public_key(None);
        let _ = document.check_pcrs(&BTreeMap::from([(0, vec![0; 48])]));
    }
});
