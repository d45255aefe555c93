//! Any bytes given as a Confidential Space token are verified or refused with an error, never a
//! panic: the JWS form, the header (kid or an x5c chain, with a root pinned so certificates are
//! parsed), the signature, every claim check, the unverified image digest read for registry
//! lookups, and the whole attestation flow of a bare token. The same bytes are also read as a
//! policy's JWKS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::attestation::{
    verify, AttestationSettings, EvidenceInput, TrustedReleases, VerifyOptions,
};
use verifier::confidential_space::{
    unverified_image_digest, verify_token, Jwks, SupportLevel, TokenPolicy, DEFAULT_HWMODELS,
};

/// Ten minutes after the fixture token's iat (2026-10-08T21:57:24Z), so seeds made from it get
/// past the time checks.
const AT_UNIX_SECONDS: u64 = 1_791_497_244;

fuzz_target!(|data: &[u8]| {
    let jwks = Jwks::google_snapshot();
    let hwmodels: Vec<String> = DEFAULT_HWMODELS.iter().map(|m| (*m).to_owned()).collect();
    let policy = TokenPolicy {
        jwks: &jwks,
        roots_sha256: &[[0x11; 32]],
        audience: "pca-attestation",
        min_support: SupportLevel::Stable,
        hwmodels: &hwmodels,
        allow_debug: false,
        max_future_skew_seconds: 30,
    };
    if let Ok(token) = verify_token(data, &policy, AT_UNIX_SECONDS) {
        let _ = token.claims.check_nonce("00");
        let _ = token.claims.image_digest();
    }
    let _ = unverified_image_digest(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Jwks::parse(text);
    }
    if let Ok(evidence @ EvidenceInput::ConfidentialSpaceToken(_)) = EvidenceInput::detect(data) {
        let settings = AttestationSettings::default();
        let releases = TrustedReleases::default();
        let verdict = verify(
            &evidence,
            &VerifyOptions {
                allow_unbound: true,
                ..VerifyOptions::new(AT_UNIX_SECONDS * 1000, &settings, &releases)
            },
        );
        assert!(!verdict.accepted, "accepted against no trusted release");
        let _ = evidence.primary_register(&settings, AT_UNIX_SECONDS * 1000);
    }
});
