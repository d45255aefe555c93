//! TDX end to end through `verify`: the real DCAP quotes bare (unbound allowed) and in envelopes
//! whose binding they cannot match (so the binding must be the only failure), collateral from
//! the caller, the evidence or the policy, the published-set comparison and the policy keys.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::tdx::tests::{fixture, v4, v5, V4_AT, V5_AT};
use crate::tdx::{parse_quote, TdxCollateral};

const NONCE: [u8; 32] = [0x7d; 32];
const KEY_CONFIG: &[u8] = b"test OHTTP key configuration";

fn policy(toml_text: &str) -> AttestationSettings {
    AttestationSettings::from_raw(toml::from_str(toml_text).expect("valid TOML"))
        .expect("valid settings")
}

/// One active `tdx` set holding `registers` of `quote` (all five when `None`).
fn releases_for(quote: &[u8], change: Option<&str>) -> TrustedReleases {
    let body = parse_quote(quote).unwrap();
    let registers = body
        .registers()
        .into_iter()
        .map(|(name, value)| {
            let mut value = value.to_vec();
            if change == Some(name) {
                value[47] ^= 1;
            }
            (name.to_owned(), value)
        })
        .collect();
    TrustedReleases {
        active: vec![Candidate {
            package: "prover".into(),
            version: "9.2.0".into(),
            release_statement_sha256: "cd".repeat(32),
            measurement_set: "tdx-default".into(),
            platform: "tdx".into(),
            parameters: BTreeMap::from([("vcpus".into(), json!(2))]),
            registers,
        }],
        deprecated: vec![],
    }
}

fn judge(
    evidence: &EvidenceInput,
    settings: &AttestationSettings,
    releases: &TrustedReleases,
    at: u64,
    collateral: Option<TdxCollateral>,
) -> Verdict {
    let bare = !matches!(evidence, EvidenceInput::Envelope(_));
    verify(
        evidence,
        &VerifyOptions {
            expected_nonce: (!bare).then_some(NONCE.as_slice()),
            now_unix_ms: at * 1000,
            settings,
            releases,
            snp_leaf_certificate: None,
            snp_crls: vec![],
            tdx_collateral: collateral,
            allow_unbound: bare,
            verified_links: None,
        },
    )
}

fn envelope_json(quote: &[u8], collateral: Option<&str>) -> Value {
    let mut envelope = json!({
        "format": ENVELOPE_FORMAT,
        "platform": "tdx",
        "nonce": hex::encode(NONCE),
        "ohttp_key_config": hex::encode(KEY_CONFIG),
        "binding": hex::encode(binding_v1(&NONCE, b"", KEY_CONFIG)),
        "evidence": hex::encode(quote),
    });
    if let Some(path) = collateral {
        envelope["tdx_collateral"] = serde_json::from_slice(&fixture(path)).unwrap();
    }
    envelope
}

fn envelope(quote: &[u8], collateral: Option<&str>) -> EvidenceInput {
    let text = envelope_json(quote, collateral).to_string();
    EvidenceInput::detect(text.as_bytes()).expect("envelope parses")
}

fn check<'a>(verdict: &'a Verdict, name: &str) -> &'a Check {
    verdict
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check: {verdict:#?}"))
}

#[test]
fn the_bare_v4_quote_is_accepted_against_its_published_set() {
    let (quote, collateral) = v4();
    let evidence = EvidenceInput::detect(&quote).unwrap();
    assert!(matches!(evidence, EvidenceInput::TdxQuote(_)));
    let releases = releases_for(&quote, None);
    let settings = AttestationSettings::default();
    let verdict = judge(&evidence, &settings, &releases, V4_AT, Some(collateral));
    assert!(verdict.accepted, "{verdict:#?}");
    assert_eq!(verdict.platform, "tdx");
    let matched = verdict.matched.as_ref().unwrap();
    assert_eq!(
        (matched.measurement_set.as_str(), matched.version.as_str()),
        ("tdx-default", "9.2.0")
    );
    assert_eq!(check(&verdict, "tcb").detail, "UpToDate (no advisories)");
    assert!(check(&verdict, "measurements")
        .detail
        .starts_with("MRTD, RTMR0, RTMR1, RTMR2, RTMR3 equal to prover 9.2.0"));
    assert_eq!(
        evidence.primary_register(&settings, V4_AT * 1000),
        Some(parse_quote(&quote).unwrap().mr_td.to_vec())
    );
    // Without allow_unbound, bare evidence fails on the binding alone.
    let verdict = verify(
        &evidence,
        &VerifyOptions {
            expected_nonce: None,
            now_unix_ms: V4_AT * 1000,
            settings: &settings,
            releases: &releases,
            snp_leaf_certificate: None,
            snp_crls: vec![],
            tdx_collateral: Some(v4().1),
            allow_unbound: false,
            verified_links: None,
        },
    );
    assert_eq!(verdict.codes(), ["binding-unavailable"]);
}

#[test]
fn a_set_with_one_rtmr_different_is_not_matched() {
    let (quote, collateral) = v4();
    let evidence = EvidenceInput::TdxQuote(quote.clone());
    let settings = AttestationSettings::default();
    for register in ["MRTD", "RTMR2", "RTMR3"] {
        let releases = releases_for(&quote, Some(register));
        let verdict = judge(
            &evidence,
            &settings,
            &releases,
            V4_AT,
            Some(collateral.clone()),
        );
        assert_eq!(verdict.codes(), ["tdx-register-mismatch"], "{register}");
        assert!(verdict.reasons[0].message.contains(register));
        assert!(check(&verdict, "signature and chain").passed);
    }
    // A set naming a register TDX has not, or another platform's set, is no match either.
    let mut releases = releases_for(&quote, None);
    releases.active[0]
        .registers
        .insert("PCR0".into(), vec![0; 48]);
    let verdict = judge(
        &evidence,
        &settings,
        &releases,
        V4_AT,
        Some(collateral.clone()),
    );
    assert_eq!(verdict.codes(), ["no-release-matched"]);
    releases.active[0].platform = "sev-snp".into();
    let verdict = judge(&evidence, &settings, &releases, V4_AT, Some(collateral));
    assert_eq!(verdict.codes(), ["no-release-matched"]);
}

#[test]
fn an_envelope_around_the_v4_quote_fails_only_on_the_binding() {
    let (quote, _) = v4();
    let releases = releases_for(&quote, None);
    let settings = AttestationSettings::default();
    // The collateral carried by the envelope.
    let evidence = envelope(&quote, Some("tdx/dcapqvl-tdx_quote_v4_collateral.json"));
    assert_eq!(
        evidence.primary_register(&settings, 0),
        Some(parse_quote(&quote).unwrap().mr_td.to_vec())
    );
    let verdict = judge(&evidence, &settings, &releases, V4_AT, None);
    assert_eq!(verdict.codes(), ["binding-mismatch"], "{verdict:#?}");
    assert!(verdict.reasons[0].message.contains("9a9d48e7"));
    for name in [
        "nonce",
        "signature and chain",
        "tcb",
        "debug",
        "measurements",
    ] {
        assert!(check(&verdict, name).passed, "{name}");
    }
    assert_eq!(verdict.matched.unwrap().measurement_set, "tdx-default");
    // No collateral anywhere: that, and the binding, are the reasons.
    let bare = envelope(&quote, None);
    let verdict = judge(&bare, &settings, &releases, V4_AT, None);
    assert_eq!(
        verdict.codes(),
        ["tdx-collateral-missing", "binding-mismatch"]
    );
    // The policy's collateral serves when nothing else gives any.
    let collateral =
        String::from_utf8(fixture("tdx/dcapqvl-tdx_quote_v4_collateral.json")).unwrap();
    let with_policy = policy(&format!("tdx_collateral = '''{collateral}'''"));
    let verdict = judge(&bare, &with_policy, &releases, V4_AT, None);
    assert_eq!(verdict.codes(), ["binding-mismatch"]);
    // Outside the window.
    let verdict = judge(&evidence, &settings, &releases, V4_AT + 86_400, None);
    assert_eq!(
        verdict.codes(),
        ["tdx-collateral-expired", "binding-mismatch"]
    );
}

/// The v5 (TD 1.5) path end to end; the outdated sample is refused whatever the policy allows.
#[test]
fn v5_quotes_go_through_the_envelope_flow() {
    let quote = fixture("tdx/gotdx-quote_v5_sample.dat");
    let collateral = "tdx/dcapqvl-tdx_quote_v5_outdated_collateral.json";
    let verdict = judge(
        &envelope(&quote, Some(collateral)),
        &AttestationSettings::default(),
        &releases_for(&quote, None),
        V5_AT,
        None,
    );
    assert_eq!(verdict.codes(), ["binding-mismatch"], "{verdict:#?}");
    assert!(check(&verdict, "signature and chain")
        .detail
        .starts_with("quote v5 (TD 1.5)"));
    let (outdated, _) = v5();
    let allowing = policy(
        "tdx_allowed_tcb_statuses = [\"OutOfDate\", \"OutOfDateConfigurationNeeded\", \"ConfigurationNeeded\"]",
    );
    let verdict = judge(
        &envelope(&outdated, Some(collateral)),
        &allowing,
        &releases_for(&outdated, None),
        V5_AT,
        None,
    );
    assert_eq!(
        verdict.codes(),
        ["tdx-tcb-level-unmatched", "binding-mismatch"]
    );
}

#[test]
fn the_policy_keys_are_checked() {
    let parse = |text: &str| AttestationSettings::from_raw(toml::from_str(text).unwrap());
    let revoked = parse("tdx_allowed_tcb_statuses = [\"Revoked\"]").unwrap_err();
    assert!(revoked.contains("Revoked"), "{revoked}");
    let unknown = parse("tdx_allowed_tcb_statuses = [\"Fine\"]").unwrap_err();
    assert!(unknown.contains("SWHardeningNeeded"), "{unknown}");
    assert!(parse("intel_roots = [\"abc\"]")
        .unwrap_err()
        .contains("intel_roots"));
    assert!(parse("tdx_collateral = \"{}\"")
        .unwrap_err()
        .contains("tdx_collateral"));
    let defaults = parse("").unwrap();
    assert_eq!(defaults.tdx, TdxSettings::default());
    // Another root pinned: the real quote's chains do not end there.
    let (quote, collateral) = v4();
    let other_root = policy(&format!("intel_roots = [\"{}\"]", "22".repeat(32)));
    let verdict = judge(
        &EvidenceInput::TdxQuote(quote.clone()),
        &other_root,
        &releases_for(&quote, None),
        V4_AT,
        Some(collateral),
    );
    assert_eq!(verdict.codes(), ["tdx-root-not-pinned"]);
}

#[test]
fn envelope_fields_are_checked() {
    let (quote, _) = v4();
    let mut json = envelope_json(&quote, Some("tdx/dcapqvl-tdx_quote_v4_collateral.json"));
    json["tdx_collateral"]["tcb_info_signature"] = json!("not hex");
    let error = Envelope::parse(json.to_string().as_bytes()).unwrap_err();
    assert!(error.to_string().contains("tdx_collateral"), "{error}");
    let mut json = envelope_json(&quote, Some("tdx/dcapqvl-tdx_quote_v4_collateral.json"));
    json["platform"] = json!("sev-snp");
    let error = Envelope::parse(json.to_string().as_bytes()).unwrap_err();
    assert!(error.to_string().contains("tdx_collateral"), "{error}");
    let mut json = envelope_json(&quote, None);
    json["azure_td_quote"] = json!("AAAA");
    let error = Envelope::parse(json.to_string().as_bytes()).unwrap_err();
    assert!(error.to_string().contains("azure_td_quote"), "{error}");
    // A malformed quote in an envelope.
    let verdict = judge(
        &envelope(&quote[..100], None),
        &AttestationSettings::default(),
        &releases_for(&quote, None),
        V4_AT,
        None,
    );
    assert_eq!(verdict.codes(), ["tdx-quote-malformed"]);
}
