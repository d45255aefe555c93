//! The Azure TDX trust path through `vtpm` envelopes (trustee's TDX VM): HCL report, its TD quote
//! and a quote by HCLAkPub. No Intel collateral exists for that VM's FMSPC (00806f050000), so
//! the collateral of another platform (dcap-qvl's v4 sample, at its time) is sent: every check
//! dcap-qvl makes before matching the platform's TCB (quote signature, QE report, PCK chain to
//! the Intel root, collateral signatures and CRLs) must pass, and the verdict must fail exactly on
//! the TCB match and on the TPM quote's qualifying data ("challenge", not the binding).

use serde_json::{json, Value};

use super::azure::trustee;
use super::flow::{b64, envelope, pcrs_json, releases, run};
use super::flow_fixtures::{rsa_public_area, rsassa};
use super::{fixture, sha256_bank};
use crate::attestation::{AttestationSettings, Verdict};
use crate::tdx::tests::V4_AT;
use crate::tpm::hcl::parse_hcl_report;
use crate::tpm::HashAlg;

const HCL_SLOT: usize = 0x20;
const RUNTIME_DATA: usize = 0x4D4;

fn collateral() -> Value {
    serde_json::from_slice(&fixture("tdx/dcapqvl-tdx_quote_v4_collateral.json")).unwrap()
}

/// The trustee TDX VM's evidence as an envelope, with `hcl` and `td_quote` (either tampered).
fn judge(hcl: &[u8], td_quote: Option<&[u8]>, collateral: Option<Value>) -> Verdict {
    let vm = trustee("tdx");
    let ak = parse_hcl_report(&vm.hcl).unwrap().ak_key().unwrap();
    let pcrs = sha256_bank(vm.pcrs.clone());
    let set = releases("azure-cvm", &[(4, &pcrs[&HashAlg::Sha256][&4])]);
    let mut fields = json!({
        "tpm_signature": b64(&rsassa(&vm.signature)),
        "tpm_ak_public": b64(&rsa_public_area(&ak)),
        "tpm_pcrs": pcrs_json(&pcrs),
        "azure_hcl_report": b64(hcl),
    });
    if let Some(quote) = td_quote {
        fields["azure_td_quote"] = json!(b64(quote));
    }
    if let Some(collateral) = collateral {
        fields["tdx_collateral"] = collateral;
    }
    run(
        &envelope(&vm.attest, fields),
        &AttestationSettings::default(),
        &set,
        V4_AT * 1000,
        None,
    )
}

fn td_quote() -> Vec<u8> {
    fixture("azure/trustee-tdx-td-quote.bin")
}

fn flipped(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[offset] ^= 0x01;
    bytes
}

const ONLY_THE_TCB_AND_THE_NONCE: [&str; 2] =
    ["tpm-qualifying-data-mismatch", "tdx-collateral-mismatch"];

#[test]
fn the_ak_chains_through_the_td_quote_up_to_the_missing_tcb_collateral() {
    let vm = trustee("tdx");
    let verdict = judge(&vm.hcl, Some(&td_quote()), Some(collateral()));
    assert_eq!(verdict.codes(), ONLY_THE_TCB_AND_THE_NONCE, "{verdict:#?}");
    let tcb = &verdict.reasons[1].message;
    assert!(tcb.contains("Fmspc mismatch"), "{tcb}");
    for name in ["ak attributes", "quote signature", "pcr digest"] {
        assert!(
            verdict.checks.iter().any(|c| c.name == name && c.passed),
            "{name}"
        );
    }
    assert_eq!(verdict.ak_trust, None);
    assert!(verdict.matched.is_none());
    // Without any collateral, that is the reason.
    let verdict = judge(&vm.hcl, Some(&td_quote()), None);
    assert_eq!(
        verdict.codes(),
        ["tpm-qualifying-data-mismatch", "tdx-collateral-missing"]
    );
}

#[test]
fn tampered_runtime_data_tdreport_or_td_quote_is_rejected() {
    let vm = trustee("tdx");
    let quote = td_quote();
    let check = |hcl: &[u8], quote: &[u8]| -> Vec<String> {
        let verdict = judge(hcl, Some(quote), Some(collateral()));
        verdict.codes().into_iter().map(str::to_owned).collect()
    };
    // A hex digit of the runtime JSON's user-data: still JSON, no longer what report_data hashes.
    let runtime = parse_hcl_report(&vm.hcl).unwrap().runtime_data;
    let text = String::from_utf8(runtime.clone()).unwrap();
    let user_data = text.find("\"user-data\":\"").expect("user-data") + 13;
    let mut hcl = vm.hcl.clone();
    hcl[RUNTIME_DATA + user_data] = if runtime[user_data] == b'0' {
        b'1'
    } else {
        b'0'
    };
    assert_eq!(
        check(&hcl, &quote),
        [
            "tpm-qualifying-data-mismatch",
            "azure-hcl-binding-mismatch",
            "tdx-collateral-mismatch"
        ]
    );
    // The TDREPORT's MRTD, and its report_data.
    assert_eq!(
        check(&flipped(&vm.hcl, HCL_SLOT + 528), &quote),
        [
            "tpm-qualifying-data-mismatch",
            "azure-td-quote-mismatch",
            "tdx-collateral-mismatch"
        ]
    );
    assert_eq!(
        check(&flipped(&vm.hcl, HCL_SLOT + 128), &quote),
        [
            "tpm-qualifying-data-mismatch",
            "azure-hcl-binding-mismatch",
            "azure-td-quote-mismatch",
            "tdx-collateral-mismatch"
        ]
    );
    // The TD quote's MRTD (signed, and compared with the TDREPORT), and its signature.
    assert_eq!(
        check(&vm.hcl, &flipped(&quote, 48 + 136)),
        [
            "tpm-qualifying-data-mismatch",
            "azure-td-quote-mismatch",
            "tdx-quote-signature-invalid"
        ]
    );
    assert_eq!(
        check(&vm.hcl, &flipped(&quote, 48 + 584 + 4 + 3)),
        [
            "tpm-qualifying-data-mismatch",
            "tdx-quote-signature-invalid"
        ]
    );
    assert_eq!(
        check(&vm.hcl, &quote[..600]),
        ["tpm-qualifying-data-mismatch", "tdx-quote-malformed"]
    );
}

/// A genuine, current, UpToDate quote of another TD vouches for nothing here.
#[test]
fn another_tds_genuine_quote_is_not_the_tdreports() {
    let vm = trustee("tdx");
    let other = fixture("tdx/dcapqvl-tdx_quote_v4.bin");
    let verdict = judge(&vm.hcl, Some(&other), Some(collateral()));
    assert_eq!(
        verdict.codes(),
        [
            "tpm-qualifying-data-mismatch",
            "azure-td-quote-mismatch",
            "azure-td-quote-mismatch"
        ],
        "{verdict:#?}"
    );
    assert_eq!(verdict.ak_trust, None);
}
