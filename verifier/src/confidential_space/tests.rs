//! The token layer alone: the JWKS reader, the form checks before any key is used, and the
//! claim checks of `verify_token` on Google's real token (end to end cases are in
//! attestation::confidential_space_tests).

use super::*;

const REAL_TOKEN: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/gcp/cs-prod-sev-token.jwt"
));
const REAL_IAT: u64 = 1_791_496_644;

fn policy<'a>(jwks: &'a Jwks, hwmodels: &'a [String]) -> TokenPolicy<'a> {
    TokenPolicy {
        jwks,
        roots_sha256: &[],
        audience: "pca-attestation",
        min_support: SupportLevel::Stable,
        hwmodels,
        allow_debug: false,
        max_future_skew_seconds: 30,
    }
}

fn default_hwmodels() -> Vec<String> {
    DEFAULT_HWMODELS.iter().map(|m| (*m).to_owned()).collect()
}

#[test]
fn the_built_in_snapshot_holds_googles_two_keys() {
    let jwks = Jwks::google_snapshot();
    assert_eq!(
        jwks.kids(),
        [
            "1be6ff7287d640316ddc929e1a8b21fbca7e54e7",
            "bed6864e0f0fb3e94dab515a4711e3532584709e"
        ]
    );
    assert!(jwks.keys.iter().all(|key| key.modulus.len() == 256));
}

#[test]
fn the_real_token_passes_every_claim_check_at_its_own_time() {
    let jwks = Jwks::google_snapshot();
    let hwmodels = default_hwmodels();
    let token = verify_token(REAL_TOKEN, &policy(&jwks, &hwmodels), REAL_IAT + 60).unwrap();
    assert_eq!(
        token.signer,
        TokenSigner::Jwks {
            kid: "1be6ff7287d640316ddc929e1a8b21fbca7e54e7".into()
        }
    );
    let claims = &token.claims;
    assert_eq!(claims.secboot, Some(true));
    assert_eq!(
        claims.swversion.as_deref(),
        Some(&["260900".to_owned()][..])
    );
    let nonce = "8bbd16f5b103edde017ba6f3d953a781165a0d512dc97adaad905321444fad19";
    assert!(claims.check_nonce(nonce).is_ok());
    assert_eq!(
        claims.check_nonce(&"00".repeat(32)).unwrap_err().code(),
        "cs-token-nonce-mismatch"
    );
    let digest = claims.image_digest().unwrap();
    assert_eq!(
        hex::encode(digest),
        "b1c058a8092d56dd77ec351b9e00b2565fba5e413d0cb08d260a1e40e64ca46e"
    );
    assert_eq!(unverified_image_digest(REAL_TOKEN), Some(digest));
    // The real image is LATEST, so the strictest minimum holds; an SEV-only policy too.
    let mut strict = policy(&jwks, &hwmodels);
    strict.min_support = SupportLevel::Latest;
    assert!(verify_token(REAL_TOKEN, &strict, REAL_IAT + 60).is_ok());
    let tdx_only = ["GCP_INTEL_TDX".to_owned()];
    let error = verify_token(REAL_TOKEN, &policy(&jwks, &tdx_only), REAL_IAT + 60).unwrap_err();
    assert_eq!(error.code(), "cs-token-hwmodel");
}

#[test]
fn malformed_tokens_are_refused_before_any_key_is_used() {
    let jwks = Jwks::google_snapshot();
    let code = |token: &[u8]| {
        verify_signature(token, &jwks, &[], REAL_IAT)
            .unwrap_err()
            .code()
    };
    assert_eq!(code(&vec![b'a'; MAX_TOKEN_BYTES + 1]), "cs-token-too-large");
    assert_eq!(code(b""), "cs-token-malformed");
    assert_eq!(code(b"eyJhbGciOiJSUzI1NiJ9.e30"), "cs-token-malformed");
    assert_eq!(code("eyJ.é.x".as_bytes()), "cs-token-malformed");
    assert_eq!(code(b"!!!.e30.sig"), "cs-token-malformed");
    // {"alg":"RS256"} with neither kid nor x5c.
    assert_eq!(
        code(b"eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        "cs-token-unknown-key"
    );
    // {"alg":"ES256","kid":"x"}: a real algorithm, but not Google's.
    assert_eq!(
        code(b"eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.e30.c2ln"),
        "cs-token-algorithm"
    );
}

#[test]
fn jwks_documents_must_hold_only_rs256_signing_keys() {
    let parse = |json: &str| Jwks::parse(json).unwrap_err();
    assert!(parse("[]").contains("JSON Web Key Set"));
    assert!(parse(r#"{"keys": []}"#).contains("1 to 16"));
    let rsa =
        |extra: &str| format!(r#"{{"keys": [{{"kty": "RSA", "n": "AQAB", "e": "AQAB"{extra}}}]}}"#);
    assert!(parse(&rsa("")).contains("no kid"));
    assert!(parse(&rsa(r#", "kid": "k", "alg": "RS384""#)).contains("RS256"));
    assert!(parse(&rsa(r#", "kid": "k", "use": "enc""#)).contains("signing"));
    let twice = r#"{"keys": [{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"},
                             {"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}]}"#;
    assert!(parse(twice).contains("twice"));
    let ec = r#"{"keys": [{"kty": "EC", "kid": "k", "crv": "P-256", "x": "AQAB", "y": "AQAB"}]}"#;
    assert!(parse(ec).contains("not an RSA key"));
    assert!(parse(&" ".repeat(MAX_JWKS_BYTES + 1)).contains("bytes"));
    assert_eq!(Jwks::parse(&rsa(r#", "kid": "k""#)).unwrap().kids(), ["k"]);
}
