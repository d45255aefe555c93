//! The GCE COS 85 attestation (`gcp/gce-cos-85-nonce9009.*`): quote, AK public area, AK
//! certificate chained to Google's pinned root, event log; and tampered copies.

use super::super::ak_certificate::{verify_ak_certificate, GCP_AK_ROOTS_SHA256};
use super::super::attest::{parse_signature, TpmSignature};
use super::super::eventlog::parse_event_log;
use super::super::public::{parse_public, AkKey};
use super::super::quote::{check_scheme, verify_quote};
use super::super::{HashAlg, PcrBanks, TpmError};
use super::{fixture, json_fixture, pcr_banks, pem_certificates, valid_time};

const NONCE: [u8; 2] = [0x90, 0x09];

pub(crate) struct Gce {
    pub attest: Vec<u8>,
    pub signature: Vec<u8>,
    pub ak_public: Vec<u8>,
    pub ak_certificate: Vec<u8>,
    pub event_log: Vec<u8>,
    pub pcrs: PcrBanks,
}

pub(crate) fn gce() -> Gce {
    let part = |suffix: &str| fixture(&format!("gcp/gce-cos-85-nonce9009.{suffix}"));
    Gce {
        attest: part("quote-sha256.attest"),
        signature: part("quote-sha256.sig"),
        ak_public: part("akpub.tpmt"),
        ak_certificate: part("akcert.der"),
        event_log: part("eventlog.bin"),
        pcrs: pcr_banks(&json_fixture("gcp/gce-cos-85-nonce9009.pcrs.json")),
    }
}

fn codes(errors: &[TpmError]) -> Vec<&'static str> {
    errors.iter().map(TpmError::code).collect()
}

#[test]
fn the_gce_quote_verifies_with_its_ak() {
    let gce = gce();
    let ak = parse_public(&gce.ak_public).expect("AK public area parses");
    assert!(matches!(&ak.key, AkKey::Rsa { modulus, exponent: 65_537 } if modulus.len() == 256));
    assert_eq!(ak.attributes, 0x0005_0072);
    ak.check_restricted_signing()
        .expect("a restricted signing key");
    assert_eq!(ak.name.len(), 34);
    assert_eq!(&ak.name[..2], &[0x00, 0x0b]);
    let signature = parse_signature(&gce.signature).expect("signature parses");
    assert!(
        matches!(&signature, TpmSignature::RsaSsa { hash: 0x000b, signature } if signature.len() == 256)
    );
    check_scheme(&signature, ak.scheme, ak.scheme_hash).expect("the key's own scheme");
    let verified = verify_quote(&gce.attest, &signature, &ak.key, &NONCE, &gce.pcrs)
        .unwrap_or_else(|e| panic!("{:?}", codes(&e)));
    let attest = verified.attest;
    assert_eq!(attest.extra_data, NONCE);
    assert_eq!(attest.selections.len(), 1);
    assert_eq!(attest.selections[0].bank, HashAlg::Sha256);
    assert_eq!(attest.selections[0].pcrs, (0..24).collect::<Vec<u8>>());
    // The quote's name of the signer is the AK's qualified name: same algorithm, its own digest.
    assert_eq!(&attest.qualified_signer[..2], &ak.name[..2]);
}

#[test]
fn the_gce_ak_certificate_chains_to_googles_pinned_root_and_holds_the_ak() {
    let gce = gce();
    let ak = parse_public(&gce.ak_public).unwrap();
    let at = valid_time(&gce.ak_certificate);
    let verified = verify_ak_certificate(&gce.ak_certificate, &[], &GCP_AK_ROOTS_SHA256, at)
        .expect("chains through the built-in tpm_ek_intermediate_2");
    assert_eq!(verified.key, ak.key);
    assert_eq!(verified.anchor_sha256, GCP_AK_ROOTS_SHA256[1]);
    assert_eq!(verified.authorities, 2);
    // In 2060 it has expired; before 2021-08-31 it was not yet valid.
    for at in [2_840_000_000, 1_600_000_000] {
        let error =
            verify_ak_certificate(&gce.ak_certificate, &[], &GCP_AK_ROOTS_SHA256, at).unwrap_err();
        assert_eq!(error.code(), "tpm-ak-certificate-expired", "{at}: {error}");
    }
    let error = verify_ak_certificate(&gce.ak_certificate, &[], &[[7; 32]], at).unwrap_err();
    assert_eq!(error.code(), "tpm-ak-untrusted", "{error}");
}

#[test]
fn every_gce_ak_certificate_chains_to_a_google_root_and_ek_certificates_are_refused() {
    for name in ["pca_tpm_rsa_enc", "pca_tpm_ecc_enc", "uca_tpm_rsa_enc"] {
        let der = pem_certificates(&format!("gcp/gce-{name}_cert.pem")).remove(0);
        let error =
            verify_ak_certificate(&der, &[], &GCP_AK_ROOTS_SHA256, valid_time(&der)).unwrap_err();
        // An EK decrypts; it cannot sign a quote, so its certificate vouches for no AK.
        assert!(
            error.to_string().contains("digitalSignature"),
            "{name}: {error}"
        );
    }
    for (name, anchor) in [
        ("pca_tpm_rsa_sign", 0),
        ("pca_tpm_ecc_sign", 0),
        ("uca_tpm_rsa_sign", 1),
        ("uca_tpm_ecc_sign", 1),
    ] {
        let der = pem_certificates(&format!("gcp/gce-{name}_cert.pem")).remove(0);
        let verified = verify_ak_certificate(&der, &[], &GCP_AK_ROOTS_SHA256, valid_time(&der))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            verified.anchor_sha256, GCP_AK_ROOTS_SHA256[anchor],
            "{name}"
        );
        let ecc = matches!(verified.key, AkKey::P256 { .. });
        assert_eq!(ecc, name.contains("ecc"), "{name}");
    }
}

#[test]
fn the_gce_event_log_replays_to_the_quoted_pcrs_in_every_bank() {
    let gce = gce();
    let log = parse_event_log(&gce.event_log).expect("log parses");
    assert_eq!(log.banks, [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384]);
    assert_eq!(log.mismatches(&gce.pcrs), []);
    let replayed = log.replay();
    for bank in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
        for pcr in 0..=9u8 {
            assert_eq!(
                replayed[&bank].get(&pcr),
                gce.pcrs[&bank].get(&pcr),
                "{bank:?} {pcr}"
            );
        }
    }
    assert_eq!(
        hex::encode(&replayed[&HashAlg::Sha256][&0]),
        "0f35c214608d93c7a6e68ae7359b4a8be5a0e99eea9107ece427c4dea4e439cf"
    );
    let mut changed = gce.pcrs.clone();
    changed
        .get_mut(&HashAlg::Sha256)
        .unwrap()
        .insert(4, vec![0; 32]);
    let mismatches = log.mismatches(&changed);
    assert_eq!(mismatches.len(), 1);
    assert_eq!(
        (mismatches[0].bank, mismatches[0].pcr),
        (HashAlg::Sha256, 4)
    );
}

#[test]
fn tampered_gce_quotes_are_rejected_each_with_its_code() {
    let gce = gce();
    let ak = parse_public(&gce.ak_public).unwrap();
    let signature = parse_signature(&gce.signature).unwrap();
    let run = |attest: &[u8], key: &AkKey, nonce: &[u8], pcrs: &PcrBanks| {
        codes(&verify_quote(attest, &signature, key, nonce, pcrs).unwrap_err())
    };
    // One flipped byte inside the signed clock info: parses, but is not what the AK signed.
    let mut flipped = gce.attest.clone();
    flipped[0x30] ^= 1;
    assert_eq!(
        run(&flipped, &ak.key, &NONCE, &gce.pcrs),
        ["tpm-signature-invalid"]
    );
    let mut magic = gce.attest.clone();
    magic[0] ^= 1;
    assert_eq!(
        run(&magic, &ak.key, &NONCE, &gce.pcrs),
        ["tpm-quote-malformed"]
    );
    assert_eq!(
        run(&gce.attest, &ak.key, b"\x90\x08", &gce.pcrs),
        ["tpm-qualifying-data-mismatch"]
    );
    let mut pcrs = gce.pcrs.clone();
    pcrs.get_mut(&HashAlg::Sha256)
        .unwrap()
        .insert(9, vec![1; 32]);
    assert_eq!(
        run(&gce.attest, &ak.key, &NONCE, &pcrs),
        ["tpm-pcr-digest-mismatch"]
    );
    pcrs.get_mut(&HashAlg::Sha256).unwrap().remove(&9);
    assert_eq!(
        run(&gce.attest, &ak.key, &NONCE, &pcrs),
        ["tpm-pcrs-malformed"]
    );
    // Another GCE VM's AK (its certificate's key) did not sign this quote.
    let other = pem_certificates("gcp/gce-pca_tpm_rsa_sign_cert.pem").remove(0);
    let other = verify_ak_certificate(&other, &[], &GCP_AK_ROOTS_SHA256, valid_time(&other))
        .unwrap()
        .key;
    assert_eq!(
        run(&gce.attest, &other, &NONCE, &gce.pcrs),
        ["tpm-signature-invalid"]
    );
    // Several faults at once: each is reported.
    assert_eq!(
        run(&flipped, &other, b"", &pcrs),
        [
            "tpm-signature-invalid",
            "tpm-qualifying-data-mismatch",
            "tpm-pcrs-malformed"
        ]
    );
}
