//! Real GCE and Azure quotes through `vtpm` envelopes. Their qualifying data is what their
//! sources asked for (`9009`, "challenge"), not SHA-256 of a binding, so each verdict must reject
//! with exactly that reason, while every other check (AK trust path, event log, measurements)
//! passes and is named: the rest of the flow works on real evidence.

use serde_json::json;

use super::azure::trustee;
use super::flow::{b64, envelope, pcrs_json, releases, run, NOW_MS};
use super::gcp::gce;
use super::valid_time;
use super::{fixture, sha256_bank};
use crate::attestation::{AttestationSettings, Verdict};
use crate::tpm::hcl::parse_hcl_report;
use crate::tpm::public::AkKey;
use crate::tpm::testing::AK_ATTRIBUTES;
use crate::tpm::HashAlg;

/// Every check passed but the qualifying data; the AK came by `path` and a `platform` set matched.
pub(super) fn only_the_binding_fails(verdict: &Verdict, path: &str, platform: &str) {
    assert_eq!(
        verdict.codes(),
        ["tpm-qualifying-data-mismatch"],
        "{verdict:#?}"
    );
    assert_eq!(verdict.ak_trust.as_deref(), Some(path));
    let matched = verdict.matched.as_ref().expect("the set matched");
    assert_eq!(matched.platform, platform);
}

#[test]
fn the_gce_quote_passes_every_check_but_the_binding_through_googles_ak_certificate() {
    let gce = gce();
    let fields = |event_log: &[u8]| {
        json!({
            "tpm_signature": b64(&gce.signature),
            "tpm_ak_public": b64(&gce.ak_public),
            "tpm_pcrs": pcrs_json(&gce.pcrs),
            "tpm_event_log": b64(event_log),
            "tpm_ak_certificate": b64(&gce.ak_certificate),
        })
    };
    let sha256 = &gce.pcrs[&HashAlg::Sha256];
    let set = releases(
        "gcp-cvm",
        &[(4, &sha256[&4]), (9, &sha256[&9]), (11, &sha256[&11])],
    );
    let at = valid_time(&gce.ak_certificate) * 1000;
    let settings = AttestationSettings::default();
    let verdict = run(
        &envelope(&gce.attest, fields(&gce.event_log)),
        &settings,
        &set,
        at,
        None,
    );
    only_the_binding_fails(&verdict, "gcp-ak-certificate", "gcp-cvm");
    assert!(verdict
        .checks
        .iter()
        .any(|c| c.name == "event log" && c.passed));

    // Another COS VM's event log does not replay to these PCRs.
    let other = fixture("tpm/gotpmtools-cos-93-amd-sev.bin");
    let verdict = run(
        &envelope(&gce.attest, fields(&other)),
        &settings,
        &set,
        at,
        None,
    );
    assert_eq!(
        verdict.codes(),
        [
            "tpm-qualifying-data-mismatch",
            "tpm-event-log-replay-mismatch"
        ]
    );
    // An azure-cvm set is not for an AK Google certified.
    let azure = releases("azure-cvm", &[(4, &sha256[&4])]);
    let verdict = run(
        &envelope(&gce.attest, fields(&gce.event_log)),
        &settings,
        &azure,
        at,
        None,
    );
    assert_eq!(
        verdict.codes(),
        ["tpm-qualifying-data-mismatch", "no-release-matched"]
    );
}

/// The TPMT_PUBLIC an Azure vTPM holds for its AK (RSA-2048, RSASSA-SHA256), made from HCLAkPub:
/// the trustee fixtures carry the key only as the runtime data's JWK.
pub(super) fn rsa_public_area(key: &AkKey) -> Vec<u8> {
    let AkKey::Rsa { modulus, exponent } = key else {
        panic!("Azure AKs are RSA")
    };
    let mut out = Vec::new();
    for field in [0x0001u16, 0x000b] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out.extend_from_slice(&AK_ATTRIBUTES.to_be_bytes());
    for field in [0u16, 0x0010, 0x0014, 0x000b, (modulus.len() * 8) as u16] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out.extend_from_slice(&exponent.to_be_bytes());
    out.extend_from_slice(&(modulus.len() as u16).to_be_bytes());
    out.extend_from_slice(modulus);
    out
}

pub(super) fn rsassa(signature: &[u8]) -> Vec<u8> {
    [
        &[0x00, 0x14, 0x00, 0x0b][..],
        &(signature.len() as u16).to_be_bytes(),
        signature,
    ]
    .concat()
}

#[test]
fn azure_quotes_pass_every_check_but_the_binding_through_their_hcl_reports() {
    let settings = AttestationSettings {
        snp_check_crl: false,
        ..AttestationSettings::default()
    };
    let case = |quote_vm: &str, hcl_vm: &str| {
        let vm = trustee(quote_vm);
        let hcl = trustee(hcl_vm);
        let ak = parse_hcl_report(&vm.hcl).unwrap().ak_key().unwrap();
        let pcrs = sha256_bank(vm.pcrs.clone());
        let sha256 = &pcrs[&HashAlg::Sha256];
        let set = releases(
            "azure-cvm",
            &[(4, &sha256[&4]), (9, &sha256[&9]), (11, &sha256[&11])],
        );
        let envelope = envelope(
            &vm.attest,
            json!({
                "tpm_signature": b64(&rsassa(&vm.signature)),
                "tpm_ak_public": b64(&rsa_public_area(&ak)),
                "tpm_pcrs": pcrs_json(&pcrs),
                "azure_hcl_report": b64(&hcl.hcl),
            }),
        );
        let at = hcl
            .vcek
            .as_deref()
            .map_or(NOW_MS, |vcek| valid_time(vcek) * 1000);
        run(&envelope, &settings, &set, at, hcl.vcek.clone())
    };
    let verdict = case("snp", "snp");
    only_the_binding_fails(&verdict, "azure-hcl-snp", "azure-cvm");

    let verdict = case("snp", "snp-evidence-v1");
    assert_eq!(
        verdict.codes(),
        ["tpm-qualifying-data-mismatch", "azure-hcl-ak-mismatch"]
    );
    assert_eq!(verdict.ak_trust, None);

    // A TDX HCL report needs its TD quote (tests/azure_tdx.rs sends it).
    let verdict = case("tdx", "tdx");
    assert_eq!(
        verdict.codes(),
        ["tpm-qualifying-data-mismatch", "azure-td-quote-missing"]
    );
    assert!(verdict.matched.is_none());
}
