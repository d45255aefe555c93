//! Real DCAP quotes and Intel PCS collateral (`shared/fixtures/tdx`): the v4 and a v5 (TD 1.5)
//! quote UpToDate at their collateral's time, the outdated v5 sample matching no TCB level, the
//! status policy, the validity window, and tampered quotes, collateral and roots, each rejected under its code.

use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");
/// The times dcap-qvl's own tests verify these samples at (inside each collateral's window).
pub(crate) const V4_AT: u64 = 1_752_919_234;
pub(crate) const V5_AT: u64 = 1_774_003_274;

pub(crate) fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(crate) fn v4() -> (Vec<u8>, TdxCollateral) {
    (
        fixture("tdx/dcapqvl-tdx_quote_v4.bin"),
        TdxCollateral::from_json(&fixture("tdx/dcapqvl-tdx_quote_v4_collateral.json")).unwrap(),
    )
}

pub(crate) fn v5() -> (Vec<u8>, TdxCollateral) {
    (
        fixture("tdx/dcapqvl-tdx_quote_v5_outdated.bin"),
        TdxCollateral::from_json(&fixture(
            "tdx/dcapqvl-tdx_quote_v5_outdated_collateral.json",
        ))
        .unwrap(),
    )
}

fn code(result: Result<VerifiedTdQuote, TdxError>) -> &'static str {
    result.expect_err("rejected").code()
}

fn flipped(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[offset] ^= 0x01;
    bytes
}

/// v4 layout: header 48, TD 1.0 body 584, u32 length, signature 64, attestation key 64, then
/// certification data type and size (6), then the QE report.
const V4_SIGNATURE: usize = 48 + 584 + 4;
const V4_QE_REPORT: usize = V4_SIGNATURE + 64 + 64 + 6;

#[test]
fn the_v4_sample_is_up_to_date_at_its_collaterals_time() {
    let (quote, collateral) = v4();
    let verified = verify_quote(&quote, &collateral, &TdxTrust::default(), V4_AT).unwrap();
    assert_eq!(verified.tcb_status, TcbStatus::UpToDate);
    assert!(verified.advisory_ids.is_empty());
    assert_eq!(verified.root_sha256, INTEL_SGX_ROOT_CA_SHA256);
    let body = verified.body;
    assert_eq!((body.quote_version, body.td_version), (4, 10));
    assert_eq!(
        hex::encode(body.mr_td),
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    assert!(hex::encode(body.rtmrs[0]).starts_with("44c0197b"));
    assert!(hex::encode(body.rtmrs[1]).starts_with("0084452c"));
    assert!(hex::encode(body.rtmrs[2]).starts_with("d833feef"));
    assert_eq!(body.rtmrs[3], [0; 48]);
    assert!(hex::encode(body.report_data).starts_with("9a9d48e7"));
    assert!(!body.debug());
    assert_eq!(parse_quote(&quote).unwrap(), body);
}

#[test]
fn a_v5_td15_quote_verifies_and_the_outdated_sample_matches_no_tcb_level() {
    let (_, collateral) = v5();
    let quote = fixture("tdx/gotdx-quote_v5_sample.dat");
    let verified = verify_quote(&quote, &collateral, &TdxTrust::default(), V5_AT).unwrap();
    assert_eq!(verified.tcb_status, TcbStatus::UpToDate);
    assert_eq!(
        (verified.body.quote_version, verified.body.td_version),
        (5, 15)
    );
    assert!(hex::encode(verified.body.mr_td).starts_with("7348651a"));
    assert!(hex::encode(verified.body.rtmrs[0]).starts_with("5c8daf76"));
    assert!(hex::encode(verified.body.report_data).starts_with("945eaacf"));
    // dcap-qvl's "outdated" sample: its SVNs are below every level this TCB info rates, so it
    // has no status a policy could allow.
    let (outdated, _) = v5();
    let every_status = TdxTrust {
        allowed_tcb_statuses: ACCEPTABLE_TCB_STATUSES.to_vec(),
        ..TdxTrust::default()
    };
    let error = verify_quote(&outdated, &collateral, &every_status, V5_AT).unwrap_err();
    assert_eq!(error.code(), "tdx-tcb-level-unmatched");
    assert!(error.to_string().contains("update the host"));
    let body = parse_quote(&outdated).unwrap();
    assert_eq!((body.quote_version, body.td_version), (5, 15));
    assert!(hex::encode(body.mr_td).starts_with("273828c46252fcbd"));
}

#[test]
fn statuses_other_than_up_to_date_need_the_policy_and_revoked_is_never_accepted() {
    let advisories = vec!["INTEL-SA-00837".to_owned()];
    let strict = TdxTrust::default();
    assert_eq!(judge_status(TcbStatus::UpToDate, &[], &strict), Ok(()));
    for status in ACCEPTABLE_TCB_STATUSES {
        let error = judge_status(status, &advisories, &strict).unwrap_err();
        assert_eq!(error.code(), "tdx-tcb-status-not-allowed");
        assert!(error.to_string().contains(&status.to_string()));
        assert!(error.to_string().contains("INTEL-SA-00837"));
        let allowing = TdxTrust {
            allowed_tcb_statuses: vec![status],
            ..TdxTrust::default()
        };
        assert_eq!(judge_status(status, &advisories, &allowing), Ok(()));
        let other = ACCEPTABLE_TCB_STATUSES
            .into_iter()
            .find(|s| *s != status)
            .unwrap();
        assert!(judge_status(other, &advisories, &allowing).is_err());
    }
    let everything = TdxTrust {
        allowed_tcb_statuses: ACCEPTABLE_TCB_STATUSES.to_vec(),
        ..TdxTrust::default()
    };
    assert_eq!(
        judge_status(TcbStatus::Revoked, &[], &everything)
            .unwrap_err()
            .code(),
        "tdx-tcb-revoked"
    );
}

#[test]
fn outside_the_collateral_window_is_rejected_as_expired() {
    let (quote, collateral) = v4();
    let trust = TdxTrust::default();
    // Window: 2025-06-19T10:32:27Z to 2025-07-19T10:00:35Z.
    for at in [1_750_329_147 - 3600, 1_752_919_235 + 3600, 1_900_000_000] {
        let error = verify_quote(&quote, &collateral, &trust, at).unwrap_err();
        assert_eq!(error.code(), "tdx-collateral-expired", "{at}: {error}");
        assert!(error.to_string().contains("fetch current collateral"));
    }
    // The v5 collateral is a different FMSPC's, and current only in 2026.
    let (_, other) = v5();
    assert_eq!(
        code(verify_quote(&quote, &other, &trust, V4_AT)),
        "tdx-collateral-expired"
    );
}

#[test]
fn tampered_quotes_are_rejected_with_their_reason() {
    let (quote, collateral) = v4();
    let trust = TdxTrust::default();
    let check = |bytes: &[u8]| code(verify_quote(bytes, &collateral, &trust, V4_AT));
    // MRTD, in the signed body.
    assert_eq!(
        check(&flipped(&quote, 48 + 136)),
        "tdx-quote-signature-invalid"
    );
    // report_data.
    assert_eq!(
        check(&flipped(&quote, 48 + 520)),
        "tdx-quote-signature-invalid"
    );
    assert_eq!(
        check(&flipped(&quote, V4_SIGNATURE + 10)),
        "tdx-quote-signature-invalid"
    );
    assert_eq!(
        check(&flipped(&quote, V4_QE_REPORT + 100)),
        "tdx-qe-report-invalid"
    );
    assert_eq!(check(&quote[..quote.len() / 2]), "tdx-quote-malformed");
    assert_eq!(check(&[]), "tdx-quote-malformed");
    // TEE type 0 (SGX): not a TD quote, whatever else verifies.
    let mut sgx = quote.clone();
    sgx[4] = 0;
    assert_eq!(check(&sgx), "tdx-quote-malformed");
    let mut padded = quote.clone();
    padded.resize(MAX_QUOTE_BYTES + 1, 0);
    assert_eq!(check(&padded), "tdx-quote-too-large");
}

fn edited(collateral: &TdxCollateral, edit: impl FnOnce(&mut QuoteCollateralV3)) -> TdxCollateral {
    let mut inner = collateral.as_dcap().clone();
    edit(&mut inner);
    TdxCollateral(inner)
}

#[test]
fn tampered_collateral_is_rejected_with_its_reason() {
    let (quote, collateral) = v4();
    let trust = TdxTrust::default();
    let check = |collateral: &TdxCollateral| code(verify_quote(&quote, collateral, &trust, V4_AT));
    let tcb_edited = edited(&collateral, |c| {
        c.tcb_info = c.tcb_info.replacen("UpToDate", "OutOfDate", 1);
    });
    assert_eq!(check(&tcb_edited), "tdx-collateral-signature-invalid");
    let qe_edited = edited(&collateral, |c| {
        c.qe_identity = c
            .qe_identity
            .replacen("\"isvprodid\":2", "\"isvprodid\":3", 1);
        assert!(c.qe_identity.contains("isvprodid\":3"));
    });
    assert_eq!(check(&qe_edited), "tdx-collateral-signature-invalid");
    let signature_flipped = edited(&collateral, |c| c.tcb_info_signature[5] ^= 1);
    assert_eq!(
        check(&signature_flipped),
        "tdx-collateral-signature-invalid"
    );
    // The CRLs swapped: the root CRL must be signed by the root.
    let crls_swapped = edited(&collateral, |c| {
        std::mem::swap(&mut c.root_ca_crl, &mut c.pck_crl)
    });
    assert_eq!(check(&crls_swapped), "tdx-collateral-signature-invalid");
    // The same CA's PCK CRL of 2023 (go-tdx-guest's), long past its nextUpdate.
    let crl_of_2023 = edited(&collateral, |c| c.pck_crl = fixture("tdx/gotdx-pckcrl"));
    assert_eq!(check(&crl_of_2023), "tdx-collateral-expired");
    // The TCB Info signed by a certificate chain that is not its signer's: the PCK CRL's.
    let chain_swapped = edited(&collateral, |c| {
        c.tcb_info_issuer_chain = c.pck_crl_issuer_chain.clone();
    });
    assert_eq!(check(&chain_swapped), "tdx-chain-invalid");
    let unparsable = edited(&collateral, |c| c.tcb_info = "{".into());
    assert_eq!(check(&unparsable), "tdx-collateral-signature-invalid");
}

#[test]
fn only_a_pinned_root_is_trusted() {
    let (quote, collateral) = v4();
    let trust = TdxTrust {
        root_sha256: vec![[0x11; 32]],
        ..TdxTrust::default()
    };
    let error = verify_quote(&quote, &collateral, &trust, V4_AT).unwrap_err();
    assert_eq!(error.code(), "tdx-root-not-pinned");
    assert!(error
        .to_string()
        .contains(&hex::encode(INTEL_SGX_ROOT_CA_SHA256)));
    assert!(error.to_string().contains(&"11".repeat(32)));
}

#[test]
fn collateral_json_is_bounded_and_checked() {
    let too_large = vec![b' '; MAX_COLLATERAL_BYTES + 1];
    assert_eq!(
        TdxCollateral::from_json(&too_large).unwrap_err().code(),
        "tdx-collateral-too-large"
    );
    for bad in [&b"{}"[..], b"[]", b"{\"tcb_info\": 1}", b"\xff"] {
        assert_eq!(
            TdxCollateral::from_json(bad).unwrap_err().code(),
            "tdx-collateral-malformed"
        );
    }
}
