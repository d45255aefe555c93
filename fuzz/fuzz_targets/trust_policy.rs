//! Any text given as a trust policy parses or is refused with a message, never a panic; a policy
//! that parses answers signer checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::policy::TrustPolicy;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = TrustPolicy::parse(text) {
        let signers = policy.release.keys.clone();
        assert!(policy.check_release_signers(&signers).is_ok());
        let _ = policy.check_rebuilders(&[]);
    }
});
