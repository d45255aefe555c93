//! Confidential Space end to end through `verify`: Google's real production token (bare, and in
//! an envelope whose binding it cannot match), tokens re-signed with a test key after one claim
//! was changed, a fully bound envelope, and PKI tokens chained to a test CA.

use std::collections::BTreeMap;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::*;
use crate::confidential_space::testing::{claims, TestTokenSigner};
use crate::tpm::testing::TestAkCa;

const REAL_TOKEN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/gcp/cs-prod-sev-token.jwt"
));
const REAL_KID: &str = "1be6ff7287d640316ddc929e1a8b21fbca7e54e7";
const REAL_DIGEST: &str = "b1c058a8092d56dd77ec351b9e00b2565fba5e413d0cb08d260a1e40e64ca46e";
const REAL_IAT: u64 = 1_791_496_644;
const REAL_EXP: u64 = 1_791_500_244;
/// Ten minutes into the real token's hour.
const NOW_MS: u64 = (REAL_IAT + 600) * 1000;
const NONCE: [u8; 32] = [0x3c; 32];
const TLS_SPKI: &[u8] = b"test SubjectPublicKeyInfo";
const KEY_CONFIG: &[u8] = b"test OHTTP key configuration";

fn settings(toml_text: &str) -> AttestationSettings {
    AttestationSettings::from_raw(toml::from_str(toml_text).expect("valid TOML"))
        .expect("valid settings")
}

/// The defaults (Google's JWKS snapshot) with the real token's audience.
fn real_settings() -> AttestationSettings {
    settings("confidential_space_audience = \"pca-attestation\"")
}

/// Only the test signer's key is pinned, with the real token's audience.
fn test_key_settings() -> AttestationSettings {
    settings(&format!(
        "confidential_space_jwks = '''{}'''\nconfidential_space_audience = \"pca-attestation\"",
        TestTokenSigner::shared().jwks_json()
    ))
}

fn releases(digest_hex: &str) -> TrustedReleases {
    let candidate = Candidate {
        package: "prover".into(),
        version: "9.1.0".into(),
        release_statement_sha256: "ab".repeat(32),
        measurement_set: "confidential-space".into(),
        platform: "gcp-confidential-space".into(),
        parameters: BTreeMap::from([("technology".into(), json!("sev"))]),
        registers: BTreeMap::from([("IMAGE_DIGEST".into(), hex::decode(digest_hex).unwrap())]),
    };
    TrustedReleases {
        active: vec![candidate],
        deprecated: vec![],
    }
}

fn judge(
    evidence: &EvidenceInput,
    settings: &AttestationSettings,
    releases: &TrustedReleases,
    now_ms: u64,
) -> Verdict {
    let bare = !matches!(evidence, EvidenceInput::Envelope(_));
    verify(
        evidence,
        &VerifyOptions {
            expected_nonce: (!bare).then_some(NONCE.as_slice()),
            allow_unbound: bare,
            ..VerifyOptions::new(now_ms, settings, releases)
        },
    )
}

fn bare(token: &str) -> EvidenceInput {
    EvidenceInput::detect(token.as_bytes()).expect("a JWT is recognised")
}

/// An envelope as the prover answers it: the token base64 in `evidence`, the binding recomputed.
fn envelope(token: &str) -> EvidenceInput {
    let json = json!({
        "format": ENVELOPE_FORMAT,
        "platform": "gcp-confidential-space",
        "nonce": hex::encode(NONCE),
        "tls_public_key": hex::encode(TLS_SPKI),
        "ohttp_key_config": hex::encode(KEY_CONFIG),
        "binding": hex::encode(binding_v1(&NONCE, TLS_SPKI, KEY_CONFIG)),
        "evidence": base64::engine::general_purpose::STANDARD.encode(token),
    });
    EvidenceInput::detect(json.to_string().as_bytes()).expect("a valid envelope")
}

/// The nonce a prover asks the launcher for on this channel.
fn bound_nonce() -> String {
    hex::encode(Sha256::digest(binding_v1(&NONCE, TLS_SPKI, KEY_CONFIG)))
}

fn real_payload() -> Value {
    let payload = REAL_TOKEN.trim().split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// The real token's claims with one change, signed by the test key.
fn resigned(change: impl FnOnce(&mut Value)) -> String {
    let mut payload = real_payload();
    change(&mut payload);
    TestTokenSigner::shared().sign(&payload)
}

fn assert_only(verdict: &Verdict, code: &str) {
    assert!(!verdict.accepted, "{verdict:#?}");
    assert_eq!(verdict.codes(), vec![code], "{verdict:#?}");
}

#[test]
fn the_real_token_verifies_bare_at_its_own_time() {
    let evidence = bare(REAL_TOKEN);
    assert_eq!(evidence.platform(), EvidencePlatform::GcpConfidentialSpace);
    let settings = real_settings();
    assert_eq!(
        evidence.primary_register(&settings, NOW_MS),
        Some(hex::decode(REAL_DIGEST).unwrap())
    );
    let verdict = judge(&evidence, &settings, &releases(REAL_DIGEST), NOW_MS);
    assert!(verdict.accepted, "{verdict:#?}");
    let matched = verdict.matched.as_ref().unwrap();
    assert_eq!(
        (matched.package.as_str(), matched.version.as_str()),
        ("prover", "9.1.0")
    );
    assert_eq!(matched.measurement_set, "confidential-space");
    assert_eq!(matched.platform, "gcp-confidential-space");
    let detail = |name: &str| {
        verdict
            .checks
            .iter()
            .find(|check| check.name == name)
            .map(|check| check.detail.clone())
            .unwrap()
    };
    assert!(detail("signature").contains(REAL_KID));
    assert!(detail("software").contains("version 260900, secure boot on"));
    assert!(detail("hardware").contains("GCP_AMD_SEV"));
}

#[test]
fn the_real_token_in_an_envelope_fails_only_on_its_nonce() {
    let verdict = judge(
        &envelope(REAL_TOKEN),
        &real_settings(),
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert_only(&verdict, "cs-token-nonce-mismatch");
    assert!(verdict.reasons[0].message.contains(&bound_nonce()));
}

#[test]
fn a_token_bound_to_the_channel_is_accepted_in_an_envelope() {
    let signer = TestTokenSigner::shared();
    let token = signer.sign(&claims(
        "mpr-attestation",
        &bound_nonce(),
        REAL_DIGEST,
        REAL_IAT,
    ));
    let settings = settings(&format!(
        "confidential_space_jwks = '''{}'''",
        signer.jwks_json()
    ));
    let verdict = judge(&envelope(&token), &settings, &releases(REAL_DIGEST), NOW_MS);
    assert!(verdict.accepted, "{verdict:#?}");
    assert!(verdict
        .checks
        .iter()
        .any(|c| c.name == "eat_nonce" && c.passed));
    // The same token as bare evidence is refused unless unbound evidence is allowed.
    let trusted = releases(REAL_DIGEST);
    let options = VerifyOptions::new(NOW_MS, &settings, &trusted);
    assert_only(&verify(&bare(&token), &options), "binding-unavailable");
}

#[test]
fn an_eat_nonce_list_is_accepted_when_it_holds_the_binding() {
    let token = resigned(|claims| {
        claims["eat_nonce"] = json!(["an-unrelated-nonce", bound_nonce()]);
        claims["aud"] = json!("pca-attestation");
    });
    let verdict = judge(
        &envelope(&token),
        &test_key_settings(),
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert!(verdict.accepted, "{verdict:#?}");
}

/// The real token with the byte at `at(token)` changed to another base64url digit.
fn judge_with_byte_changed(at: impl Fn(&[u8]) -> usize) -> Verdict {
    let mut bytes = REAL_TOKEN.trim().as_bytes().to_vec();
    let at = at(&bytes);
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let token = String::from_utf8(bytes).unwrap();
    judge(
        &bare(&token),
        &real_settings(),
        &releases(REAL_DIGEST),
        NOW_MS,
    )
}

#[test]
fn a_changed_payload_byte_breaks_the_signature() {
    let verdict =
        judge_with_byte_changed(|token| token.iter().position(|b| *b == b'.').unwrap() + 40);
    assert_only(&verdict, "cs-token-signature");
}

#[test]
fn a_changed_signature_byte_breaks_the_signature() {
    let verdict =
        judge_with_byte_changed(|token| token.iter().rposition(|b| *b == b'.').unwrap() + 20);
    assert_only(&verdict, "cs-token-signature");
}

#[test]
fn a_kid_outside_the_pinned_jwks_is_refused() {
    // Google's real key is not in a policy that pins only the test key.
    let verdict = judge(
        &bare(REAL_TOKEN),
        &test_key_settings(),
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert_only(&verdict, "cs-token-unknown-key");
    assert!(verdict.reasons[0].message.contains(REAL_KID));
}

#[test]
fn a_token_naming_a_pinned_kid_it_was_not_signed_with_is_refused() {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(REAL_KID.into());
    let token = TestTokenSigner::shared().sign_with_header(&header, &real_payload());
    let verdict = judge(
        &bare(&token),
        &real_settings(),
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert_only(&verdict, "cs-token-signature");
}

#[test]
fn each_changed_claim_fails_alone_with_its_code() {
    type Change = fn(&mut Value);
    let cases: [(&str, Change); 7] = [
        ("cs-token-debug", |c| c["dbgstat"] = json!("enabled")),
        ("cs-image-digest-mismatch", |c| {
            c["submods"]["container"]["image_digest"] = json!(format!("sha256:{}", "0f".repeat(32)))
        }),
        ("cs-token-audience", |c| c["aud"] = json!("someone-else")),
        ("cs-token-issuer", |c| {
            c["iss"] = json!("https://attacker.example")
        }),
        ("cs-token-software", |c| c["swname"] = json!("GCE")),
        ("cs-token-hwmodel", |c| {
            c["hwmodel"] = json!("GCP_SHIELDED_VM")
        }),
        ("cs-token-support", |c| {
            c["submods"]["confidential_space"]["support_attributes"] = json!(["USABLE"])
        }),
    ];
    let settings = test_key_settings();
    let unchanged = judge(
        &bare(&resigned(|_| {})),
        &settings,
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert!(unchanged.accepted, "{unchanged:#?}");
    for (code, change) in cases {
        let verdict = judge(
            &bare(&resigned(change)),
            &settings,
            &releases(REAL_DIGEST),
            NOW_MS,
        );
        assert_only(&verdict, code);
    }
}

#[test]
fn a_debug_image_passes_only_when_the_policy_allows_debug() {
    let token = resigned(|c| c["dbgstat"] = json!("enabled"));
    let settings = settings(&format!(
        "allow_debug = true\nconfidential_space_jwks = '''{}'''\nconfidential_space_audience = \"pca-attestation\"",
        TestTokenSigner::shared().jwks_json()
    ));
    let verdict = judge(&bare(&token), &settings, &releases(REAL_DIGEST), NOW_MS);
    assert!(verdict.accepted, "{verdict:#?}");
}

#[test]
fn the_real_token_is_refused_after_it_expired_and_before_it_was_issued() {
    let settings = real_settings();
    let releases = releases(REAL_DIGEST);
    let expired = judge(&bare(REAL_TOKEN), &settings, &releases, REAL_EXP * 1000);
    assert_only(&expired, "cs-token-expired");
    let early = judge(
        &bare(REAL_TOKEN),
        &settings,
        &releases,
        (REAL_IAT - 60) * 1000,
    );
    assert_only(&early, "cs-token-not-yet-valid");
    // Within max_future_skew_seconds (30 s by default) of iat is tolerated.
    let skewed = judge(
        &bare(REAL_TOKEN),
        &settings,
        &releases,
        (REAL_IAT - 20) * 1000,
    );
    assert!(skewed.accepted, "{skewed:#?}");
}

#[test]
fn the_default_audience_is_not_the_real_tokens() {
    let verdict = judge(
        &bare(REAL_TOKEN),
        &AttestationSettings::default(),
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert_only(&verdict, "cs-token-audience");
}

#[test]
fn alg_none_and_hs256_headers_are_refused() {
    let payload = REAL_TOKEN.trim().split('.').nth(1).unwrap();
    let b64 = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let none = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    let verdict = judge(
        &bare(&none),
        &real_settings(),
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert_only(&verdict, "cs-token-algorithm");
    assert!(verdict.reasons[0].message.contains("\"none\""));
    // Key confusion: an HMAC keyed with the pinned RSA key's public modulus.
    let jwks = crate::confidential_space::Jwks::google_snapshot();
    let modulus = &jwks.find(REAL_KID).unwrap().modulus;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(REAL_KID.into());
    let hs256 =
        jsonwebtoken::encode(&header, &real_payload(), &EncodingKey::from_secret(modulus)).unwrap();
    let verdict = judge(
        &bare(&hs256),
        &real_settings(),
        &releases(REAL_DIGEST),
        NOW_MS,
    );
    assert_only(&verdict, "cs-token-algorithm");
}

#[test]
fn a_pki_token_verifies_through_a_pinned_root_only() {
    let signer = TestTokenSigner::new("pki-leaf");
    let ca = TestAkCa::new(
        "confidential space root",
        REAL_IAT - 86_400,
        REAL_EXP + 86_400,
    );
    let token = signer.pki_token(
        &ca,
        &claims("mpr-attestation", &bound_nonce(), REAL_DIGEST, REAL_IAT),
    );
    let releases = releases(REAL_DIGEST);
    let pinned = settings(&format!(
        "confidential_space_roots = [\"{}\"]",
        hex::encode(ca.root_sha256())
    ));
    let verdict = judge(&envelope(&token), &pinned, &releases, NOW_MS);
    assert!(verdict.accepted, "{verdict:#?}");
    assert!(verdict
        .checks
        .iter()
        .any(|c| c.name == "signature" && c.detail.contains(&hex::encode(ca.root_sha256()))));
    // The default policy pins no Confidential Space root.
    let unpinned = judge(
        &envelope(&token),
        &AttestationSettings::default(),
        &releases,
        NOW_MS,
    );
    assert_only(&unpinned, "cs-token-chain-untrusted");
    // Another CA's root is pinned: the chain does not reach it.
    let other = TestAkCa::new("another root", REAL_IAT - 86_400, REAL_EXP + 86_400);
    let elsewhere = settings(&format!(
        "confidential_space_roots = [\"{}\"]",
        hex::encode(other.root_sha256())
    ));
    let verdict = judge(&envelope(&token), &elsewhere, &releases, NOW_MS);
    assert_only(&verdict, "cs-token-chain-untrusted");
}

#[test]
fn a_deprecated_set_and_a_set_with_foreign_registers_do_not_match() {
    let mut trusted = releases(REAL_DIGEST);
    trusted.deprecated = std::mem::take(&mut trusted.active);
    let verdict = judge(&bare(REAL_TOKEN), &real_settings(), &trusted, NOW_MS);
    assert_only(&verdict, "set-deprecated");
    let mut foreign = releases(REAL_DIGEST);
    foreign.active[0]
        .registers
        .insert("PCR0".into(), vec![0; 32]);
    let verdict = judge(&bare(REAL_TOKEN), &real_settings(), &foreign, NOW_MS);
    assert_only(&verdict, "no-release-matched");
}

#[test]
fn policy_keys_are_checked_when_read() {
    let raw = |text: &str| {
        AttestationSettings::from_raw(toml::from_str(text).expect("valid TOML")).unwrap_err()
    };
    assert!(raw("confidential_space_jwks = '{\"keys\": []}'").contains("confidential_space_jwks"));
    assert!(raw("confidential_space_min_support = \"NEWEST\"").contains("LATEST"));
    assert!(raw("confidential_space_hwmodels = []").contains("GCP_AMD_SEV"));
    assert!(raw("confidential_space_audience = \"\"").contains("audience"));
    assert!(raw("confidential_space_roots = [\"abc\"]").contains("confidential_space_roots"));
    let latest = settings("confidential_space_min_support = \"latest\"");
    assert_eq!(
        latest.confidential_space.min_support,
        crate::confidential_space::SupportLevel::Latest
    );
}

/// A set that publishes its launch (as `mpr registry publish` does from the build record).
fn releases_with_launch(digest_hex: &str, args: &str, env: &str) -> TrustedReleases {
    let mut releases = releases(digest_hex);
    let parameters = &mut releases.active[0].parameters;
    parameters.insert("args".into(), json!(args));
    parameters.insert("env".into(), json!(env));
    releases
}

#[test]
fn a_set_with_its_launch_matches_only_that_launch() {
    let args = r#"["/entrypoint.sh"]"#;
    let env = r#"["PCA_AUDIENCE=pca-attestation"]"#;
    // The real token reports the operator's tee-env-* overrides: not the published launch.
    let verdict = judge(
        &bare(REAL_TOKEN),
        &real_settings(),
        &releases_with_launch(REAL_DIGEST, args, env),
        NOW_MS,
    );
    assert_only(&verdict, "cs-launch-mismatch");
    assert!(format!("{verdict:?}").contains("tee-env"), "{verdict:#?}");

    // Without overrides, the same launch matches, and the verdict says it was compared.
    let token = resigned(|c| {
        c["submods"]["container"]
            .as_object_mut()
            .unwrap()
            .remove("env_override");
    });
    let releases = releases_with_launch(REAL_DIGEST, args, env);
    let verdict = judge(&bare(&token), &test_key_settings(), &releases, NOW_MS);
    assert!(verdict.accepted, "{verdict:#?}");
    assert!(format!("{verdict:?}").contains("launched as published"));

    // Other arguments are another program, whatever the image.
    let releases = releases_with_launch(REAL_DIGEST, r#"["/entrypoint.sh","--debug"]"#, env);
    let verdict = judge(&bare(&token), &test_key_settings(), &releases, NOW_MS);
    assert_only(&verdict, "cs-launch-mismatch");
}
