//! Documents signed with test keys show what no real fixture can: a validly signed document that
//! omits a PCR (CVE-2025-64186), and one bound to a session by nonce, user_data and public_key.

use std::collections::BTreeMap;

use crate::nitro::testing::{TestChain, TestDocument};
use crate::nitro::{verify_document, NitroError, NitroTrust};

const NOT_BEFORE: u64 = 1_800_000_000;
const NOT_AFTER: u64 = NOT_BEFORE + 3 * 3600;
const TIMESTAMP_MS: u64 = (NOT_BEFORE + 60) * 1000;

fn chain() -> TestChain {
    TestChain::new("unit", NOT_BEFORE, NOT_AFTER)
}

#[test]
fn a_test_key_document_bound_to_a_session_passes_every_check() {
    let chain = chain();
    let mut contents = TestDocument::new(TIMESTAMP_MS);
    contents.nonce = Some(b"0123456789abcdef".to_vec());
    contents.user_data = Some(b"transcript hash".to_vec());
    contents.public_key = Some(b"session public key".to_vec());
    let bytes = chain.sign(&contents);

    let document = verify_document(&bytes, &chain.trust(), TIMESTAMP_MS / 1000).unwrap();
    assert_eq!(document.timestamp_ms, TIMESTAMP_MS);
    assert_eq!(document.module_id, contents.module_id);
    assert_eq!(document.pcrs, contents.pcrs);
    assert_eq!(document.certificate, chain.leaf);
    assert!(!document.is_debug());
    document
        .check_freshness(TIMESTAMP_MS + 1000, 300_000, 1000)
        .unwrap();
    document.check_nonce(b"0123456789abcdef").unwrap();
    document.check_user_data(b"transcript hash").unwrap();
    document
        .check_public_key(Some(b"session public key"))
        .unwrap();
    let expected: BTreeMap<u8, Vec<u8>> = (0..3).map(|i| (i, contents.pcrs[&i].clone())).collect();
    document.check_pcrs(&expected).unwrap();

    assert_eq!(
        document
            .check_nonce(b"0123456789abcdeF")
            .unwrap_err()
            .code(),
        "nitro-nonce-mismatch"
    );
}

#[test]
fn a_validly_signed_document_without_pcr2_fails_a_policy_expecting_pcr2() {
    let chain = chain();
    let mut contents = TestDocument::new(TIMESTAMP_MS);
    let expected: BTreeMap<u8, Vec<u8>> = (0..3).map(|i| (i, contents.pcrs[&i].clone())).collect();
    contents.pcrs.remove(&2);
    let bytes = chain.sign(&contents);

    let document = verify_document(&bytes, &chain.trust(), TIMESTAMP_MS / 1000).unwrap();
    assert!(!document.pcrs.contains_key(&2));
    let error = document.check_pcrs(&expected).unwrap_err();
    assert_eq!(error, NitroError::PcrMissing { index: 2 });
    assert_eq!(error.code(), "nitro-pcr-missing");
}

#[test]
fn a_document_with_only_pcr10_fails_as_in_the_evervault_advisory() {
    let chain = chain();
    let mut contents = TestDocument::new(TIMESTAMP_MS);
    let expected: BTreeMap<u8, Vec<u8>> = [0u8, 1, 2, 8]
        .iter()
        .map(|&i| (i, contents.pcrs[&i].clone()))
        .collect();
    contents.pcrs = BTreeMap::from([(10, vec![7; 48])]);
    let document =
        verify_document(&chain.sign(&contents), &chain.trust(), TIMESTAMP_MS / 1000).unwrap();
    // Absent PCR0/1/2 also read as debug: a wallet that checks debug first refuses it too.
    assert!(document.is_debug());
    assert_eq!(
        document.check_pcrs(&expected).unwrap_err(),
        NitroError::PcrMissing { index: 0 }
    );
}

#[test]
fn test_keys_are_never_trusted_by_default() {
    let chain = chain();
    let bytes = chain.sign(&TestDocument::new(TIMESTAMP_MS));
    let error = verify_document(&bytes, &NitroTrust::default(), TIMESTAMP_MS / 1000).unwrap_err();
    assert_eq!(error.code(), "nitro-root-not-pinned");
}

#[test]
fn a_debug_test_document_says_so() {
    let chain = chain();
    let mut contents = TestDocument::new(TIMESTAMP_MS);
    for index in [0, 1, 2, 8] {
        contents.pcrs.insert(index, vec![0; 48]);
    }
    let document =
        verify_document(&chain.sign(&contents), &chain.trust(), TIMESTAMP_MS / 1000).unwrap();
    assert!(document.is_debug());
}

#[test]
fn the_chain_is_checked_at_the_given_time() {
    let chain = chain();
    let bytes = chain.sign(&TestDocument::new(TIMESTAMP_MS));
    verify_document(&bytes, &chain.trust(), NOT_BEFORE).unwrap();
    verify_document(&bytes, &chain.trust(), NOT_AFTER).unwrap();
    let early = verify_document(&bytes, &chain.trust(), NOT_BEFORE - 1).unwrap_err();
    assert_eq!(early.code(), "nitro-certificate-not-yet-valid");
    let late = verify_document(&bytes, &chain.trust(), NOT_AFTER + 1).unwrap_err();
    assert_eq!(late.code(), "nitro-certificate-expired");
}

#[test]
fn a_document_signed_by_another_chains_leaf_is_refused() {
    let trusted = chain();
    let other = TestChain::new("other", NOT_BEFORE, NOT_AFTER);
    let contents = TestDocument::new(TIMESTAMP_MS);
    // The trusted chain in the payload, but the signature made with the other chain's leaf key.
    let payload = contents.encode_payload(&trusted.leaf, &trusted.cabundle);
    let bytes = other.sign_payload(&payload);
    let error = verify_document(&bytes, &trusted.trust(), TIMESTAMP_MS / 1000).unwrap_err();
    assert_eq!(error, NitroError::Signature);
}
