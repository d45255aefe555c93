//! The five real AWS documents verify at their own time and parse to the values in fixtures.json;
//! the claim checks judge them as a wallet should.

use std::collections::BTreeMap;

use super::{fixture, fixtures};
use crate::nitro::{verify_document, NitroError, NitroTrust};

#[test]
fn every_real_document_verifies_at_its_own_time_and_parses_to_its_recorded_facts() {
    for fixture in fixtures() {
        let document = verify_document(&fixture.bytes, &NitroTrust::default(), fixture.verify_at())
            .unwrap_or_else(|error| panic!("{}: {error}", fixture.file));
        assert_eq!(
            fixture.verify_at(),
            fixture.timestamp_ms() / 1000,
            "{}",
            fixture.file
        );
        assert_eq!(
            document.module_id,
            fixture.facts["module_id"].as_str().unwrap()
        );
        assert_eq!(document.timestamp_ms, fixture.timestamp_ms());
        assert_eq!(document.digest, "SHA384");
        assert_eq!(document.pcrs.len(), 16, "{}", fixture.file);
        let nonzero: Vec<u8> = fixture.facts["nonzero_pcr_indexes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|index| index.as_u64().unwrap() as u8)
            .collect();
        for (&index, value) in &document.pcrs {
            assert_eq!(value.len(), 48);
            if [0, 1, 2, 3, 4, 8].contains(&index) {
                assert_eq!(*value, fixture.pcr(index), "{} PCR{index}", fixture.file);
            }
            let is_zero = value.iter().all(|&byte| byte == 0);
            assert_eq!(
                !is_zero,
                nonzero.contains(&index),
                "{} PCR{index}",
                fixture.file
            );
        }
        for (name, parsed) in [
            ("nonce", &document.nonce),
            ("user_data", &document.user_data),
            ("public_key", &document.public_key),
        ] {
            let facts = &fixture.facts[name];
            assert_eq!(
                parsed.is_some(),
                facts["present"].as_bool().unwrap(),
                "{name}"
            );
            if let Some(value) = parsed {
                assert_eq!(
                    value.len() as u64,
                    facts["length"].as_u64().unwrap(),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn debug_documents_verify_but_say_they_are_debug_and_production_ones_do_not() {
    let mut debug = 0;
    for fixture in fixtures() {
        let document =
            verify_document(&fixture.bytes, &NitroTrust::default(), fixture.verify_at()).unwrap();
        let recorded = fixture.facts["debug_mode"].as_bool().unwrap();
        assert_eq!(document.is_debug(), recorded, "{}", fixture.file);
        debug += usize::from(recorded);
    }
    assert_eq!(debug, 3, "three of the five fixtures are debug documents");
}

#[test]
fn a_debug_document_fails_a_policy_with_real_image_pcrs() {
    let production = fixture("yawn-attestation.cose");
    let expected: BTreeMap<u8, Vec<u8>> = (0..3).map(|i| (i, production.pcr(i))).collect();
    let debug = fixture("ev-valid-attestation-doc-base64");
    let document =
        verify_document(&debug.bytes, &NitroTrust::default(), debug.verify_at()).unwrap();
    let error = document.check_pcrs(&expected).unwrap_err();
    assert_eq!(error, NitroError::PcrMismatch { index: 0 });
    assert_eq!(error.code(), "nitro-pcr-mismatch");
}

#[test]
fn production_documents_match_their_image_pcrs_but_not_an_expected_signing_certificate() {
    for file in ["yawn-attestation.cose", "anjuna-sample_prod_doc.bin"] {
        let fixture = fixture(file);
        let document =
            verify_document(&fixture.bytes, &NitroTrust::default(), fixture.verify_at()).unwrap();
        let mut expected: BTreeMap<u8, Vec<u8>> = (0..3).map(|i| (i, fixture.pcr(i))).collect();
        document.check_pcrs(&expected).unwrap();
        // The release is expected to be a signed EIF; these images were not signed (PCR8 = 0).
        expected.insert(8, vec![0x5a; 48]);
        let error = document.check_pcrs(&expected).unwrap_err();
        assert_eq!(error, NitroError::PcrMismatch { index: 8 });
        assert_eq!(error.code(), "nitro-pcr-mismatch");
    }
}

#[test]
fn an_empty_pcr_policy_is_refused_rather_than_vouching_for_any_enclave() {
    let fixture = fixture("yawn-attestation.cose");
    let document =
        verify_document(&fixture.bytes, &NitroTrust::default(), fixture.verify_at()).unwrap();
    let error = document.check_pcrs(&BTreeMap::new()).unwrap_err();
    assert_eq!(error.code(), "nitro-pcr-policy-empty");
}

#[test]
fn nonce_user_data_and_public_key_checks_compare_what_the_document_carries() {
    let fixture = fixture("anjuna-sample_attestation_doc_full.bin");
    let document =
        verify_document(&fixture.bytes, &NitroTrust::default(), fixture.verify_at()).unwrap();
    document.check_nonce(b"Nonce\n").unwrap();
    assert_eq!(
        document.check_nonce(b"Nonce!").unwrap_err().code(),
        "nitro-nonce-mismatch"
    );
    document.check_user_data(b"Hello World!\n").unwrap();
    let error = document.check_user_data(b"Hello World?\n").unwrap_err();
    assert_eq!(error.code(), "nitro-user-data-mismatch");
    let key = document.public_key.clone().unwrap();
    document.check_public_key(Some(&key)).unwrap();
    let error = document.check_public_key(Some(&key[1..])).unwrap_err();
    assert_eq!(error.code(), "nitro-public-key-mismatch");
    let error = document.check_public_key(None).unwrap_err();
    assert_eq!(error.code(), "nitro-public-key-mismatch");

    let bare = super::fixture("anjuna-sample_prod_doc.bin");
    let bare = verify_document(&bare.bytes, &NitroTrust::default(), bare.verify_at()).unwrap();
    assert_eq!(
        bare.check_nonce(b"Nonce\n").unwrap_err().code(),
        "nitro-nonce-missing"
    );
    assert_eq!(
        bare.check_user_data(b"x").unwrap_err().code(),
        "nitro-user-data-missing"
    );
    bare.check_public_key(None).unwrap();
    assert_eq!(
        bare.check_public_key(Some(&key)).unwrap_err().code(),
        "nitro-public-key-mismatch"
    );
}

#[test]
fn freshness_is_judged_against_the_callers_clock() {
    let fixture = fixture("yawn-attestation.cose");
    let document =
        verify_document(&fixture.bytes, &NitroTrust::default(), fixture.verify_at()).unwrap();
    let at = fixture.timestamp_ms();
    let five_minutes = 5 * 60 * 1000;
    document.check_freshness(at, five_minutes, 1000).unwrap();
    document
        .check_freshness(at + five_minutes, five_minutes, 1000)
        .unwrap();
    document
        .check_freshness(at - 1000, five_minutes, 1000)
        .unwrap();
    let error = document
        .check_freshness(at + five_minutes + 1, five_minutes, 1000)
        .unwrap_err();
    assert_eq!(
        error,
        NitroError::Stale {
            age_ms: five_minutes + 1,
            max_age_ms: five_minutes
        }
    );
    assert_eq!(error.code(), "nitro-stale");
    let error = document
        .check_freshness(at - 1001, five_minutes, 1000)
        .unwrap_err();
    assert_eq!(error.code(), "nitro-from-the-future");
}

#[test]
fn the_pinned_root_constant_is_the_fixture_root() {
    use sha2::{Digest, Sha256};
    let root = std::fs::read(format!("{}/aws_nitro_root_g1.der", super::FIXTURES)).unwrap();
    let digest: [u8; 32] = Sha256::digest(&root).into();
    assert_eq!(digest, crate::nitro::AWS_NITRO_ROOT_G1_SHA256);
    assert_eq!(
        hex::encode(crate::nitro::AWS_NITRO_ROOT_G1_SHA256),
        "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    );
}
