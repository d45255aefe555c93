//! Any bytes given as attestation evidence (an envelope, a bare Nitro document, an SEV-SNP report)
//! are read or refused with a message, and judged without a panic; nothing is ever accepted
//! against an empty set of releases.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::attestation::{verify, AttestationSettings, EvidenceInput, TrustedReleases, VerifyOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(evidence) = EvidenceInput::detect(data) else {
        return;
    };
    let settings = AttestationSettings::default();
    let releases = TrustedReleases::default();
    let verdict = verify(
        &evidence,
        &VerifyOptions {
            expected_nonce: Some(&[7; 32]),
            now_unix_ms: 1_736_179_625_472,
            settings: &settings,
            releases: &releases,
            snp_leaf_certificate: None,
            snp_crls: Vec::new(),
            tdx_collateral: None,
            allow_unbound: true,
            verified_links: None,
        },
    );
    assert!(!verdict.accepted);
    let _ = evidence.primary_register(&settings, 1_736_179_625_472);
});
