//! Real documents with one thing changed are refused, each for the right reason.

use ciborium::Value;

use super::{envelope, field, fixture, flip_byte, position_of, rewrite_payload, Fixture};
use crate::nitro::testing::TestChain;
use crate::nitro::{verify_document, CertificatePosition, NitroError, NitroTrust, NitroVerifier};

fn yawn() -> Fixture {
    fixture("yawn-attestation.cose")
}

/// Verifies one-shot and with a `NitroVerifier` that has already accepted the genuine document
/// (so every certificate signature of the chain is remembered): a remembered signature must not
/// let any tampered variant through, and both must give the same reason.
fn verify(fixture: &Fixture, document: &[u8]) -> Result<(), NitroError> {
    let one_shot = verify_document(document, &NitroTrust::default(), fixture.verify_at());
    let warm = NitroVerifier::new(NitroTrust::default());
    warm.verify(&fixture.bytes, fixture.verify_at())
        .expect("the genuine document verifies");
    assert_eq!(warm.verify(document, fixture.verify_at()), one_shot);
    one_shot.map(|_| ())
}

/// The DER certificates as they sit in the document: cabundle root first, then the leaf.
fn certificates(document: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let Value::Bytes(payload) = &envelope(document)[2] else {
        panic!("payload is not bytes")
    };
    let Value::Map(map) = super::decode(payload) else {
        panic!("payload is not a map")
    };
    let get = |name: &str| {
        map.iter()
            .find(|(key, _)| key.as_text() == Some(name))
            .unwrap()
            .1
            .clone()
    };
    let Value::Array(bundle) = get("cabundle") else {
        panic!("cabundle")
    };
    let bundle = bundle
        .into_iter()
        .map(|cert| cert.into_bytes().unwrap())
        .collect();
    (bundle, get("certificate").into_bytes().unwrap())
}

#[test]
fn a_flipped_byte_in_the_payload_breaks_the_cose_signature() {
    let fixture = yawn();
    let at = position_of(&fixture.bytes, &fixture.pcr(0)) + 10;
    let error = verify(&fixture, &flip_byte(&fixture.bytes, at)).unwrap_err();
    assert_eq!(error, NitroError::Signature);
    assert_eq!(error.code(), "nitro-signature");
}

#[test]
fn a_flipped_byte_in_the_signature_is_refused() {
    for (last, code) in [(1, "nitro-signature"), (60, "nitro-signature")] {
        let fixture = yawn();
        let at = fixture.bytes.len() - last;
        let error = verify(&fixture, &flip_byte(&fixture.bytes, at)).unwrap_err();
        assert_eq!(error.code(), code);
    }
}

#[test]
fn a_flipped_byte_in_any_certificate_is_refused_naming_that_certificate() {
    let fixture = yawn();
    let (bundle, leaf) = certificates(&fixture.bytes);
    assert_eq!(bundle.len(), 4);
    let mut cases: Vec<(Vec<u8>, CertificatePosition)> = bundle
        .into_iter()
        .enumerate()
        .map(|(i, der)| (der, CertificatePosition::Bundle(i)))
        .collect();
    cases.push((leaf, CertificatePosition::Leaf));
    for (der, position) in cases {
        // The last byte belongs to the certificate's own signature value.
        let at = position_of(&fixture.bytes, &der) + der.len() - 1;
        let error = verify(&fixture, &flip_byte(&fixture.bytes, at)).unwrap_err();
        match position {
            CertificatePosition::Bundle(0) => {
                assert!(matches!(error, NitroError::RootNotPinned { .. }), "{error}");
                assert_eq!(error.code(), "nitro-root-not-pinned");
            }
            _ => {
                assert_eq!(error, NitroError::ChainSignature { position });
                assert_eq!(error.code(), "nitro-chain-signature");
            }
        }
    }
}

#[test]
fn a_flipped_byte_in_a_certificates_signed_part_is_refused() {
    let fixture = yawn();
    let (bundle, _) = certificates(&fixture.bytes);
    // Inside the zonal certificate's validity/subject area, well before its signature.
    let at = position_of(&fixture.bytes, &bundle[2]) + 200;
    let error = verify(&fixture, &flip_byte(&fixture.bytes, at)).unwrap_err();
    assert!(
        matches!(
            error.code(),
            "nitro-chain-signature" | "nitro-chain-name-mismatch" | "nitro-malformed-certificate"
        ),
        "{error}"
    );
}

#[test]
fn four_hours_after_its_timestamp_the_leaf_has_expired() {
    let fixture = yawn();
    let later = fixture.verify_at() + 4 * 3600;
    let error = verify_document(&fixture.bytes, &NitroTrust::default(), later).unwrap_err();
    assert!(
        matches!(
            error,
            NitroError::CertificateExpired {
                position: CertificatePosition::Leaf,
                at,
                ..
            } if at == later
        ),
        "{error}"
    );
    assert_eq!(error.code(), "nitro-certificate-expired");
}

#[test]
fn before_the_leaf_was_issued_the_document_is_not_yet_valid() {
    let fixture = yawn();
    let error = verify_document(
        &fixture.bytes,
        &NitroTrust::default(),
        fixture.verify_at() - 3600,
    )
    .unwrap_err();
    assert_eq!(error.code(), "nitro-certificate-not-yet-valid");
}

#[test]
fn another_self_signed_root_in_cabundle_0_is_not_pinned() {
    let fixture = yawn();
    let foreign = TestChain::new("foreign", 1_700_000_000, 1_900_000_000);
    let root = foreign.cabundle[0].clone();
    let document = rewrite_payload(&fixture.bytes, |map| {
        let Value::Array(bundle) = field(map, "cabundle") else {
            panic!("cabundle")
        };
        bundle[0] = Value::Bytes(root.clone());
    });
    let error = verify(&fixture, &document).unwrap_err();
    assert!(matches!(error, NitroError::RootNotPinned { .. }), "{error}");
    assert_eq!(error.code(), "nitro-root-not-pinned");
}

#[test]
fn a_real_document_is_refused_when_only_a_test_root_is_trusted() {
    let fixture = yawn();
    let trust = TestChain::new("only", 1_700_000_000, 1_900_000_000).trust();
    let error = verify_document(&fixture.bytes, &trust, fixture.verify_at()).unwrap_err();
    assert_eq!(error.code(), "nitro-root-not-pinned");
}

#[test]
fn reordered_intermediates_are_refused() {
    let fixture = yawn();
    let document = rewrite_payload(&fixture.bytes, |map| {
        let Value::Array(bundle) = field(map, "cabundle") else {
            panic!("cabundle")
        };
        bundle.swap(1, 2);
    });
    let error = verify(&fixture, &document).unwrap_err();
    // The zonal CA (pathLen 1) now has two CAs below it.
    assert!(
        matches!(
            error,
            NitroError::CertificateConstraints {
                position: CertificatePosition::Bundle(1),
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn a_dropped_intermediate_breaks_the_chain() {
    let fixture = yawn();
    let document = rewrite_payload(&fixture.bytes, |map| {
        let Value::Array(bundle) = field(map, "cabundle") else {
            panic!("cabundle")
        };
        bundle.remove(2);
    });
    let error = verify(&fixture, &document).unwrap_err();
    assert_eq!(
        error,
        NitroError::ChainNameMismatch {
            position: CertificatePosition::Bundle(2)
        }
    );
    assert_eq!(error.code(), "nitro-chain-name-mismatch");
}
