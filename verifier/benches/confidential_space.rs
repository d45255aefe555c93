//! What a wallet pays to verify Google's real Confidential Space token (cs-prod-sev-token.jwt, at
//! its own time, against the pinned JWKS snapshot): this crate's `verify_token` (JWS form,
//! header, kid lookup, RS256, every claim check) plus the nonce and image digest a flow reads,
//! side by side with `jsonwebtoken::decode` alone on the same token with the same key
//! (signature, issuer and audience; its clock checks off, as the token expired in 2026-10).
//!
//! ```text
//! cargo bench -p verifier --bench confidential_space -- --warm-up-time 2 --measurement-time 5
//! ```

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use verifier::confidential_space::{
    verify_token, Jwks, SupportLevel, TokenPolicy, DEFAULT_HWMODELS,
};

const TOKEN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/gcp/cs-prod-sev-token.jwt"
));
const KID: &str = "1be6ff7287d640316ddc929e1a8b21fbca7e54e7";
const NONCE: &str = "8bbd16f5b103edde017ba6f3d953a781165a0d512dc97adaad905321444fad19";
/// Ten minutes after the token's iat.
const AT_UNIX_SECONDS: u64 = 1_791_497_244;

fn verify(c: &mut Criterion) {
    let token = TOKEN.trim();
    let jwks = Jwks::google_snapshot();
    let hwmodels: Vec<String> = DEFAULT_HWMODELS.iter().map(|m| (*m).to_owned()).collect();
    let policy = TokenPolicy {
        jwks: &jwks,
        roots_sha256: &[],
        audience: "pca-attestation",
        min_support: SupportLevel::Stable,
        hwmodels: &hwmodels,
        allow_debug: false,
        max_future_skew_seconds: 30,
    };
    let ours = || {
        let signed =
            verify_token(black_box(token.as_bytes()), &policy, AT_UNIX_SECONDS).expect("verifies");
        signed.claims.check_nonce(NONCE).expect("nonce");
        signed.claims.image_digest().expect("digest")
    };
    let key = jwks.find(KID).expect("the token's key is pinned");
    let decoding_key = DecodingKey::from_rsa_raw_components(&key.modulus, &key.exponent);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    validation.set_audience(&["pca-attestation"]);
    validation.set_issuer(&["https://confidentialcomputing.googleapis.com"]);
    let direct = || {
        decode::<serde_json::Value>(black_box(token), &decoding_key, &validation).expect("verifies")
    };
    ours();
    direct();

    let mut group = c.benchmark_group("confidential_space_token");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verifier verify_token + nonce + digest", |b| b.iter(ours));
    group.bench_function("jsonwebtoken decode (same key)", |b| b.iter(direct));
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
