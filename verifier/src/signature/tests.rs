//! Runs on whichever backend the build selected; `cargo test -p verifier` covers RustCrypto and
//! the workspace's tests (where `mpr` turns on `aws-lc`) cover AWS-LC.

use p384::ecdsa::signature::{RandomizedSigner as _, Signer as _};
use p384::ecdsa::{Signature, SigningKey};
use rand_core::OsRng;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::pss::BlindedSigningKey;
use rsa::signature::SignatureEncoding as _;
use rsa::RsaPrivateKey;
use sha2::Sha384;
use x509_cert::der::Decode as _;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use super::*;

fn spki(der: &[u8]) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_der(der).expect("a SubjectPublicKeyInfo")
}

fn p384_pair() -> (SigningKey, EcdsaP384Key) {
    let signing = SigningKey::random(&mut OsRng);
    let point = signing.verifying_key().to_encoded_point(false);
    let key = EcdsaP384Key::from_sec1(point.as_bytes()).expect("a valid point");
    (signing, key)
}

fn fixed(signature: &Signature) -> [u8; 96] {
    let mut bytes = [0u8; 96];
    bytes.copy_from_slice(&signature.to_bytes());
    bytes
}

#[test]
fn p384_der_and_fixed_signatures_verify_and_a_changed_message_does_not() {
    let (signing, key) = p384_pair();
    let message = b"attestation document";
    let signature: Signature = signing.sign(message);
    key.verify_der(message, signature.to_der().as_bytes())
        .expect("DER signature verifies");
    let fixed = fixed(&signature);
    key.verify_fixed(message, &fixed)
        .expect("fixed signature verifies");
    assert_eq!(
        key.verify_der(b"attestation documenT", signature.to_der().as_bytes()),
        Err(BadSignature)
    );
    assert_eq!(
        key.verify_fixed(b"attestation documenT", &fixed),
        Err(BadSignature)
    );
}

#[test]
fn p384_signature_by_another_key_or_garbled_is_refused() {
    let (signing, key) = p384_pair();
    let (other, _) = p384_pair();
    let message = b"report";
    let foreign: Signature = other.sign(message);
    assert_eq!(
        key.verify_fixed(message, &fixed(&foreign)),
        Err(BadSignature)
    );
    let mut garbled = fixed(&signing.sign(message));
    garbled[95] ^= 1;
    assert_eq!(key.verify_fixed(message, &garbled), Err(BadSignature));
    // Zero R and S are not a signature at all.
    assert_eq!(key.verify_fixed(message, &[0u8; 96]), Err(BadSignature));
    assert_eq!(key.verify_der(message, b"\x30\x00"), Err(BadSignature));
    assert_eq!(key.verify_der(message, b""), Err(BadSignature));
}

#[test]
fn p384_keys_must_be_points_on_the_curve() {
    let (signing, _) = p384_pair();
    let compressed = signing.verifying_key().to_encoded_point(true);
    let key = EcdsaP384Key::from_sec1(compressed.as_bytes()).expect("compressed points are read");
    let signature: Signature = signing.sign_with_rng(&mut OsRng, b"x");
    key.verify_der(b"x", signature.to_der().as_bytes())
        .expect("verifies with the compressed key");

    let mut off_curve = signing
        .verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    off_curve[96] ^= 1;
    assert!(EcdsaP384Key::from_sec1(&off_curve).is_err());
    assert!(EcdsaP384Key::from_sec1(&[]).is_err());
    assert!(EcdsaP384Key::from_sec1(&[4u8; 97]).is_err());
}

#[test]
fn p384_spki_must_name_the_curve() {
    let (signing, _) = p384_pair();
    let der = signing.verifying_key().to_public_key_der().expect("SPKI");
    EcdsaP384Key::from_spki(&spki(der.as_bytes())).expect("a P-384 SPKI is read");

    let p256 = p256_spki();
    let error = EcdsaP384Key::from_spki(&spki(&p256)).expect_err("a P-256 key is refused");
    assert_eq!(
        error.to_string(),
        "the public key is not an ECDSA P-384 key"
    );
}

/// An SPKI for a P-256 key (the curve OID differs; the point is never read).
fn p256_spki() -> Vec<u8> {
    let (signing, _) = p384_pair();
    let der = signing.verifying_key().to_public_key_der().expect("SPKI");
    let mut bytes = der.as_bytes().to_vec();
    // secp384r1 is 1.3.132.0.34 (06 05 2b 81 04 00 22); make it 1.3.132.0.35 (secp521r1).
    let at = bytes
        .windows(7)
        .position(|w| w == [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22])
        .expect("the curve OID");
    bytes[at + 6] = 0x23;
    bytes
}

fn rsa_pair(bits: usize) -> (BlindedSigningKey<Sha384>, Vec<u8>) {
    let private = RsaPrivateKey::new(&mut OsRng, bits).expect("RSA key generation");
    let public = private
        .to_public_key()
        .to_public_key_der()
        .expect("SPKI")
        .as_bytes()
        .to_vec();
    (BlindedSigningKey::new(private), public)
}

#[test]
fn rsa_pss_sha384_verifies_and_refuses_changes() {
    let (signing, public) = rsa_pair(2048);
    let key = RsaPssSha384Key::from_spki(&spki(&public)).expect("an RSA key");
    let signature = signing
        .sign_with_rng(&mut OsRng, b"tbsCertificate")
        .to_vec();
    key.verify(b"tbsCertificate", &signature).expect("verifies");
    assert_eq!(key.verify(b"tbsCertificatE", &signature), Err(BadSignature));
    let mut garbled = signature.clone();
    garbled[10] ^= 0x80;
    assert_eq!(key.verify(b"tbsCertificate", &garbled), Err(BadSignature));
    assert_eq!(
        key.verify(b"tbsCertificate", &signature[1..]),
        Err(BadSignature)
    );
    assert_eq!(key.verify(b"tbsCertificate", &[]), Err(BadSignature));
}

#[test]
fn rsa_keys_below_2048_bits_are_refused() {
    let (_, public) = rsa_pair(1024);
    let error = RsaPssSha384Key::from_spki(&spki(&public)).expect_err("1024 bits is too weak");
    assert_eq!(
        error.to_string(),
        "the public key is not an RSA key of 2048 to 4096 bits"
    );
}

#[test]
fn an_ec_key_is_not_an_rsa_key() {
    let (signing, _) = p384_pair();
    let der = signing.verifying_key().to_public_key_der().expect("SPKI");
    assert!(RsaPssSha384Key::from_spki(&spki(der.as_bytes())).is_err());
}

/// Both backends judge the same mutated inputs alike: a wallet on RustCrypto and the registry on
/// AWS-LC must never disagree about evidence.
#[cfg(feature = "aws-lc")]
mod differential {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::signature::{aws_lc, rust_crypto};

    fn mutate(rng: &mut rand::rngs::StdRng, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        match rng.gen_range(0..5) {
            0 if !out.is_empty() => {
                let at = rng.gen_range(0..out.len());
                out[at] ^= 1 << rng.gen_range(0..8);
            }
            1 => out.truncate(rng.gen_range(0..=out.len())),
            2 => out.push(rng.gen()),
            3 if !out.is_empty() => {
                let at = rng.gen_range(0..out.len());
                out[at] = rng.gen();
            }
            _ => {}
        }
        out
    }

    #[test]
    fn p384_backends_agree_on_mutated_signatures_and_keys() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(12);
        let (signing, _) = p384_pair();
        let point = signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let message = b"nitro sig_structure".to_vec();
        let signature: Signature = signing.sign(&message);
        let der = signature.to_der().as_bytes().to_vec();
        let fixed = fixed(&signature);
        let mut accepted = 0;
        for round in 0..400 {
            let point = if round % 10 == 0 {
                mutate(&mut rng, &point)
            } else {
                point.clone()
            };
            let (a, b) = (
                rust_crypto::EcdsaP384::from_sec1(&point),
                aws_lc::EcdsaP384::from_sec1(&point),
            );
            assert_eq!(a.is_some(), b.is_some(), "key {}", hex::encode(&point));
            let (Some(a), Some(b)) = (a, b) else { continue };
            let message = if round % 7 == 0 {
                mutate(&mut rng, &message)
            } else {
                message.clone()
            };
            let der = mutate(&mut rng, &der);
            let verdict = a.verify_der(&message, &der);
            assert_eq!(
                verdict,
                b.verify_der(&message, &der),
                "DER {}",
                hex::encode(&der)
            );
            let mut fixed_mutated = fixed;
            if let Some(byte) = mutate(&mut rng, &fixed).first() {
                fixed_mutated[round % 96] = *byte;
            }
            assert_eq!(
                a.verify_fixed(&message, &fixed_mutated),
                b.verify_fixed(&message, &fixed_mutated),
                "fixed {}",
                hex::encode(fixed_mutated)
            );
            accepted += usize::from(verdict);
        }
        // The unmutated cases are in the mix: agreement is not only on refusals.
        assert!(accepted > 20, "{accepted}");
    }

    #[test]
    fn rsa_backends_agree_on_mutated_signatures() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(34);
        let (signing, public) = rsa_pair(2048);
        let pkcs1 = spki(&public).subject_public_key.raw_bytes().to_vec();
        let a = rust_crypto::RsaPss::from_pkcs1(&pkcs1).expect("RustCrypto reads the key");
        let b = aws_lc::RsaPss::from_pkcs1(&pkcs1).expect("AWS-LC reads the key");
        let signature = signing.sign_with_rng(&mut OsRng, b"tbs").to_vec();
        let mut accepted = 0;
        for _ in 0..200 {
            let signature = mutate(&mut rng, &signature);
            let verdict = a.verify(b"tbs", &signature);
            assert_eq!(
                verdict,
                b.verify(b"tbs", &signature),
                "{}",
                hex::encode(&signature)
            );
            accepted += usize::from(verdict);
        }
        assert!(accepted > 20, "{accepted}");
    }
}
