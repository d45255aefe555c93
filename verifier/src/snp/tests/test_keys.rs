//! Revocation and the test-key chain (RSA-2048 ARK/ASK, P-384 VCEK), generated once per run.

use std::sync::OnceLock;

use super::super::testing::{self, TestChain};
use super::super::*;

fn chain() -> &'static TestChain {
    static CHAIN: OnceLock<TestChain> = OnceLock::new();
    CHAIN.get_or_init(TestChain::generate)
}

fn signed_report() -> Vec<u8> {
    chain().sign_report([0x5a; 64], [0xa5; 48])
}

fn with_crls(crls: Vec<Vec<u8>>) -> SnpTrust {
    SnpTrust {
        check_crl: true,
        crls,
        ..chain().trust()
    }
}

#[test]
fn test_chain_report_verifies_with_its_inputs() {
    let verified = verify_report(
        &signed_report(),
        &chain().certificates(),
        &chain().trust(),
        testing::VALID_AT,
    )
    .expect("test chain verifies");
    assert_eq!(verified.report.report_data, [0x5a; 64]);
    assert_eq!(verified.report.measurement, [0xa5; 48]);
    assert_eq!(verified.product, Product::Milan);
    assert_eq!(verified.tcb, testing::TCB);
    // Through the certificate table, as a fake configfs-tsm device would hand it out.
    let certs = parse_certificate_table(&chain().certificate_table()).expect("table parses");
    verify_report(
        &signed_report(),
        &certs,
        &chain().trust(),
        testing::VALID_AT,
    )
    .expect("verifies");
}

#[test]
fn test_chain_is_not_trusted_by_default() {
    let trust = SnpTrust {
        check_crl: false,
        ..SnpTrust::default()
    };
    let err = verify_report(
        &signed_report(),
        &chain().certificates(),
        &trust,
        testing::VALID_AT,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-root-not-pinned", "{err}");
}

#[test]
fn crl_listing_nothing_accepts() {
    let trust = with_crls(vec![chain().crl(&[])]);
    let verified = verify_report(
        &signed_report(),
        &chain().certificates(),
        &trust,
        testing::VALID_AT,
    )
    .expect("not revoked");
    assert!(verified.crl_checked);
    // Revoking an unrelated serial changes nothing.
    let trust = with_crls(vec![chain().crl(&[0x4242])]);
    verify_report(
        &signed_report(),
        &chain().certificates(),
        &trust,
        testing::VALID_AT,
    )
    .expect("not revoked");
}

#[test]
fn crl_revoking_the_ask_rejects() {
    let trust = with_crls(vec![chain().crl(&[testing::ASK_SERIAL])]);
    let err = verify_report(
        &signed_report(),
        &chain().certificates(),
        &trust,
        testing::VALID_AT,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-revoked", "{err}");
    assert!(err.to_string().contains("ASK"), "{err}");
}

#[test]
fn crl_revoking_the_leaf_rejects() {
    let trust = with_crls(vec![chain().crl(&[0])]);
    let err = verify_report(
        &signed_report(),
        &chain().certificates(),
        &trust,
        testing::VALID_AT,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-revoked", "{err}");
}

#[test]
fn missing_crl_rejects() {
    let err = verify_report(
        &signed_report(),
        &chain().certificates(),
        &with_crls(vec![]),
        testing::VALID_AT,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-crl-missing", "{err}");
}

#[test]
fn crl_signed_by_another_key_rejects() {
    let trust = with_crls(vec![chain().crl_signed_by_another_key(&[])]);
    let err = verify_report(
        &signed_report(),
        &chain().certificates(),
        &trust,
        testing::VALID_AT,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-crl-invalid", "{err}");
}

#[test]
fn garbage_crl_rejects() {
    let trust = with_crls(vec![b"not a crl".to_vec()]);
    let err = verify_report(
        &signed_report(),
        &chain().certificates(),
        &trust,
        testing::VALID_AT,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-crl-invalid", "{err}");
}

#[test]
fn crl_outside_its_update_window_rejects() {
    let at = testing::VALID_AT;
    for (this_update, next_update) in [(at - 1000, at - 1), (at + 1, at + 1000)] {
        let trust = with_crls(vec![chain().crl_current_between(&[], this_update, next_update)]);
        let err = verify_report(&signed_report(), &chain().certificates(), &trust, at).unwrap_err();
        assert_eq!(err.code(), "snp-crl-invalid", "{err}");
    }
    let current = with_crls(vec![chain().crl_current_between(&[], at - 1, at + 1)]);
    verify_report(&signed_report(), &chain().certificates(), &current, at).expect("current CRL");
}

#[test]
fn leaf_signed_by_another_ask_rejects() {
    let other = TestChain::generate();
    let certs = SnpCertificates {
        leaf: other.vcek_der.clone(),
        ..chain().certificates()
    };
    let err = verify_report(
        &other.sign_report([0; 64], [0; 48]),
        &certs,
        &chain().trust(),
        testing::VALID_AT,
    )
    .unwrap_err();
    assert_eq!(err.code(), "snp-chain", "{err}");
}
