//! `vtpm` envelopes through crate::attestation::verify: a quote by a software AK certified by a
//! test CA the policy pins (what swtpm end-to-end tests do), accepted; each fault rejected with
//! its code; and the envelope contract's field checks.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::super::testing::{TestAk, TestAkCa, AK_ATTRIBUTES};
use super::super::{HashAlg, PcrBanks};
use crate::attestation::{
    binding_v1, verify, AttestationSettings, Candidate, Envelope, EvidenceInput, TrustedReleases,
    Verdict, VerifyOptions, ENVELOPE_FORMAT,
};

/// 2025-01-06T16:07:05Z, in milliseconds.
pub(super) const NOW_MS: u64 = 1_736_179_625_000;
pub(super) const NONCE: [u8; 32] = [0x5a; 32];
const KEY_CONFIG: &[u8] = b"test OHTTP key configuration";

pub(super) fn binding() -> [u8; 64] {
    binding_v1(&NONCE, b"", KEY_CONFIG)
}

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `vtpm` envelope answering NONCE, with these extra fields.
pub(super) fn envelope(attest: &[u8], fields: Value) -> Value {
    let mut envelope = json!({
        "format": ENVELOPE_FORMAT,
        "platform": "vtpm",
        "nonce": hex::encode(NONCE),
        "ohttp_key_config": hex::encode(KEY_CONFIG),
        "binding": hex::encode(binding()),
        "evidence": b64(attest),
    });
    for (name, value) in fields.as_object().expect("fields") {
        envelope[name] = value.clone();
    }
    envelope
}

pub(super) fn pcrs_json(pcrs: &PcrBanks) -> Value {
    let banks: BTreeMap<&str, BTreeMap<String, String>> = pcrs
        .iter()
        .map(|(bank, values)| {
            let values = values
                .iter()
                .map(|(index, value)| (index.to_string(), hex::encode(value)))
                .collect();
            (bank.name(), values)
        })
        .collect();
    serde_json::to_value(banks).unwrap()
}

/// One active set of `platform` naming `registers` (PCR index → value).
pub(super) fn releases(platform: &str, registers: &[(u8, &[u8])]) -> TrustedReleases {
    TrustedReleases {
        active: vec![Candidate {
            package: "prover".into(),
            version: "1.0.0".into(),
            release_statement_sha256: "ab".repeat(32),
            measurement_set: "default".into(),
            platform: platform.into(),
            parameters: BTreeMap::new(),
            registers: registers
                .iter()
                .map(|(index, value)| (format!("PCR{index}"), value.to_vec()))
                .collect(),
        }],
        deprecated: Vec::new(),
    }
}

pub(super) fn run(
    envelope: &Value,
    settings: &AttestationSettings,
    releases: &TrustedReleases,
    now_ms: u64,
    vcek: Option<Vec<u8>>,
) -> Verdict {
    let envelope = Envelope::parse(envelope.to_string().as_bytes()).expect("envelope parses");
    verify(
        &EvidenceInput::Envelope(Box::new(envelope)),
        &VerifyOptions {
            expected_nonce: Some(&NONCE),
            now_unix_ms: now_ms,
            settings,
            releases,
            snp_leaf_certificate: vcek,
            snp_crls: Vec::new(),
            tdx_collateral: None,
            allow_unbound: false,
            verified_links: None,
        },
    )
}

/// A quote over PCRs 4, 9, 11 and 12 by a software AK the test CA certified.
struct Swtpm {
    ak: TestAk,
    ca: TestAkCa,
    pcrs: BTreeMap<u8, Vec<u8>>,
}

impl Swtpm {
    fn new() -> Self {
        Swtpm {
            ak: TestAk::new("flow"),
            ca: TestAkCa::new("flow", NOW_MS / 1000 - 3600, NOW_MS / 1000 + 3600),
            pcrs: [4u8, 9, 11, 12].map(|i| (i, vec![i; 32])).into(),
        }
    }

    fn settings(&self) -> AttestationSettings {
        AttestationSettings {
            tpm_ak_roots: vec![self.ca.root_sha256()],
            ..AttestationSettings::default()
        }
    }

    /// The envelope for a quote with `extra_data` over `pcrs`.
    fn envelope_with(&self, extra_data: &[u8], pcrs: &BTreeMap<u8, Vec<u8>>) -> Value {
        let (attest, signature) = self.ak.quote(extra_data, pcrs);
        envelope(
            &attest,
            json!({
                "tpm_signature": b64(&signature),
                "tpm_ak_public": b64(&self.ak.public_area(AK_ATTRIBUTES)),
                "tpm_pcrs": pcrs_json(&BTreeMap::from([(HashAlg::Sha256, pcrs.clone())])),
                "tpm_ak_certificate": b64(&self.ca.issue(&self.ak.key())),
                "tpm_ak_intermediates": [b64(&self.ca.root)],
            }),
        )
    }

    fn envelope(&self) -> Value {
        self.envelope_with(&Sha256::digest(binding()), &self.pcrs)
    }

    fn releases(&self, platform: &str) -> TrustedReleases {
        let set: Vec<(u8, &[u8])> = [4u8, 9, 11]
            .iter()
            .map(|i| (*i, self.pcrs[i].as_slice()))
            .collect();
        releases(platform, &set)
    }
}

#[test]
fn a_quote_by_a_policy_pinned_ca_s_ak_is_accepted_for_either_cloud() {
    let swtpm = Swtpm::new();
    for platform in ["gcp-cvm", "azure-cvm"] {
        let verdict = run(
            &swtpm.envelope(),
            &swtpm.settings(),
            &swtpm.releases(platform),
            NOW_MS,
            None,
        );
        assert!(verdict.accepted, "{verdict:#?}");
        assert_eq!(verdict.platform, "vtpm");
        assert_eq!(verdict.ak_trust.as_deref(), Some("policy-ak-root"));
        let matched = verdict.matched.expect("a set matched");
        assert_eq!(
            (matched.platform.as_str(), matched.measurement_set.as_str()),
            (platform, "default")
        );
    }
}

#[test]
fn every_fault_is_rejected_with_its_code() {
    let swtpm = Swtpm::new();
    let codes = |envelope: &Value, settings: &AttestationSettings| {
        run(envelope, settings, &swtpm.releases("gcp-cvm"), NOW_MS, None)
            .codes()
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
    };
    let settings = swtpm.settings();
    let good = swtpm.envelope();
    let mut flipped = good.clone();
    let mut attest = base64::engine::general_purpose::STANDARD
        .decode(good["evidence"].as_str().unwrap())
        .unwrap();
    // A byte of the clock (after the 34-byte name and the 32-byte extraData).
    attest[0x50] ^= 1;
    flipped["evidence"] = b64(&attest).into();
    assert_eq!(codes(&flipped, &settings), ["tpm-signature-invalid"]);

    let other_binding = Sha256::digest(binding_v1(&[1; 32], b"", KEY_CONFIG));
    let replayed = swtpm.envelope_with(&other_binding, &swtpm.pcrs);
    assert_eq!(
        codes(&replayed, &settings),
        ["tpm-qualifying-data-mismatch"]
    );

    let mut changed = good.clone();
    changed["tpm_pcrs"]["sha256"]["9"] = hex::encode([0u8; 32]).into();
    assert_eq!(
        codes(&changed, &settings),
        ["tpm-pcr-digest-mismatch", "tpm-pcr-mismatch"]
    );

    let mut fewer = swtpm.pcrs.clone();
    fewer.remove(&11);
    let unquoted = swtpm.envelope_with(&Sha256::digest(binding()), &fewer);
    assert_eq!(codes(&unquoted, &settings), ["tpm-pcr-not-quoted"]);

    assert_eq!(
        codes(&good, &AttestationSettings::default()),
        ["tpm-ak-untrusted"]
    );

    let mut other_ak = good.clone();
    other_ak["tpm_ak_certificate"] = b64(&swtpm.ca.issue(&TestAk::new("other").key())).into();
    assert_eq!(codes(&other_ak, &settings), ["tpm-ak-certificate-mismatch"]);

    let mut no_path = good.clone();
    no_path
        .as_object_mut()
        .unwrap()
        .remove("tpm_ak_certificate");
    assert_eq!(codes(&no_path, &settings), ["tpm-ak-untrusted"]);

    let mut unrestricted = good.clone();
    unrestricted["tpm_ak_public"] = b64(&swtpm.ak.public_area(AK_ATTRIBUTES & !(1 << 16))).into();
    assert_eq!(codes(&unrestricted, &settings), ["tpm-ak-not-restricted"]);

    let verdict = run(
        &good,
        &settings,
        &swtpm.releases("gcp-cvm"),
        NOW_MS + 7_200_000,
        None,
    );
    assert_eq!(verdict.codes(), ["tpm-ak-certificate-expired"]);

    let verdict = run(&good, &settings, &swtpm.releases("aws-nitro"), NOW_MS, None);
    assert_eq!(verdict.codes(), ["no-release-matched"]);
    let deprecated = TrustedReleases {
        active: Vec::new(),
        deprecated: swtpm.releases("gcp-cvm").active,
    };
    assert_eq!(
        run(&good, &settings, &deprecated, NOW_MS, None).codes(),
        ["set-deprecated"]
    );
}

#[test]
fn the_envelope_contract_is_enforced() {
    let swtpm = Swtpm::new();
    let good = swtpm.envelope();
    Envelope::parse(good.to_string().as_bytes()).expect("the good envelope parses");
    let refused = |edit: &dyn Fn(&mut Value)| {
        let mut envelope = good.clone();
        edit(&mut envelope);
        Envelope::parse(envelope.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    };
    for field in ["tpm_signature", "tpm_ak_public", "tpm_pcrs"] {
        let error = refused(&|e| {
            e.as_object_mut().unwrap().remove(field);
        });
        assert!(error.contains(field), "{error}");
    }
    for index in ["24", "04", "-1", "x"] {
        let error = refused(&|e| e["tpm_pcrs"]["sha256"][index] = hex::encode([0; 32]).into());
        assert!(error.contains("tpm_pcrs"), "{index}: {error}");
    }
    let error = refused(&|e| e["tpm_pcrs"]["sha256"]["4"] = hex::encode([0; 20]).into());
    assert!(error.contains("32 bytes"), "{error}");
    let error = refused(&|e| e["tpm_pcrs"]["md5"] = json!({}));
    assert!(error.contains("md5"), "{error}");
    let error = refused(&|e| e["evidence"] = hex::encode([1, 2, 3]).into());
    assert!(error.contains("base64"), "{error}");
    let error = refused(&|e| e["platform"] = "sev-snp".into());
    assert!(error.contains("tpm_"), "{error}");
    let error = refused(&|e| e["tpm_ak_intermediates"] = json!(["", "", "", "", ""]));
    assert!(error.contains("at most 4"), "{error}");
}
