//! The parsers on hand-made structures: an ECC P-256 attestation key signing a quote, attribute
//! checks, and truncated or oversized input (an error every time, never a panic).

use super::super::attest::{parse_attest, parse_signature, TpmSignature};
use super::super::public::{attributes, parse_public, AkKey};
use super::super::quote::verify_signature;
use super::super::testing::{TestAk, AK_ATTRIBUTES};
use super::super::HashAlg;
use super::gcp::gce;

#[test]
fn an_ecc_p256_ak_parses_names_itself_and_verifies_its_quote() {
    let key = TestAk::new("structures");
    let public = key.public_area(AK_ATTRIBUTES);
    let ak = parse_public(&public).unwrap();
    assert!(matches!(ak.key, AkKey::P256 { .. }));
    ak.check_restricted_signing().unwrap();
    assert_eq!(
        ak.name,
        [&[0x00, 0x0b][..], &HashAlg::Sha256.digest(&[&public])].concat()
    );
    let attest = gce().attest;
    let signature = parse_signature(&key.sign(&attest)).unwrap();
    assert!(matches!(signature, TpmSignature::Ecdsa { .. }));
    verify_signature(&attest, &signature, &ak.key).unwrap();
    let mut other = attest.clone();
    other[0x30] ^= 1;
    assert_eq!(
        verify_signature(&other, &signature, &ak.key)
            .unwrap_err()
            .code(),
        "tpm-signature-invalid"
    );
    // An RSA signature cannot come from this key.
    let rsa = parse_signature(&gce().signature).unwrap();
    assert_eq!(
        verify_signature(&attest, &rsa, &ak.key).unwrap_err().code(),
        "tpm-signature-unsupported"
    );
}

#[test]
fn keys_that_are_not_restricted_signing_keys_are_refused() {
    let key = TestAk::new("structures");
    for (attribute, name) in [
        (attributes::FIXED_TPM, "fixedTPM"),
        (attributes::FIXED_PARENT, "fixedParent"),
        (attributes::SENSITIVE_DATA_ORIGIN, "sensitiveDataOrigin"),
        (attributes::RESTRICTED, "restricted"),
        (attributes::SIGN, "sign"),
    ] {
        let ak = parse_public(&key.public_area(AK_ATTRIBUTES & !attribute)).unwrap();
        let error = ak.check_restricted_signing().unwrap_err();
        assert_eq!(error.code(), "tpm-ak-not-restricted");
        assert!(error.to_string().contains(name), "{error}");
    }
    let ak = parse_public(&key.public_area(AK_ATTRIBUTES | attributes::DECRYPT)).unwrap();
    assert!(ak.check_restricted_signing().is_err());
}

#[test]
fn sha1_signatures_are_refused() {
    let gce = gce();
    let mut signature = gce.signature.clone();
    signature[2..4].copy_from_slice(&0x0004u16.to_be_bytes());
    let signature = parse_signature(&signature).unwrap();
    let ak = parse_public(&gce.ak_public).unwrap();
    assert_eq!(
        verify_signature(&gce.attest, &signature, &ak.key)
            .unwrap_err()
            .code(),
        "tpm-signature-unsupported"
    );
}

#[test]
fn every_truncation_and_extension_is_an_error() {
    let gce = gce();
    let ecc = TestAk::new("structures").public_area(AK_ATTRIBUTES);
    type Parses = fn(&[u8]) -> bool;
    let inputs: [(&[u8], Parses, &str); 4] = [
        (
            &gce.attest,
            |b| parse_attest(b).is_ok(),
            "tpm-quote-malformed",
        ),
        (
            &gce.signature,
            |b| parse_signature(b).is_ok(),
            "tpm-signature-malformed",
        ),
        (
            &gce.ak_public,
            |b| parse_public(b).is_ok(),
            "tpm-ak-public-malformed",
        ),
        (&ecc, |b| parse_public(b).is_ok(), "tpm-ak-public-malformed"),
    ];
    for (bytes, parses, what) in inputs {
        assert!(parses(bytes), "{what}: the whole structure parses");
        for cut in 0..bytes.len() {
            assert!(!parses(&bytes[..cut]), "{what}: cut at {cut}");
        }
        assert!(
            !parses(&[bytes, &[0][..]].concat()),
            "{what}: a trailing byte"
        );
        assert!(!parses(&vec![0xff; 4096]), "{what}: oversized");
    }
    assert_eq!(
        parse_attest(&gce.attest[..10]).unwrap_err().code(),
        "tpm-quote-malformed"
    );
}
