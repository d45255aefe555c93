//! vTPM evidence made with TEST keys, for tests only (this crate's, and other crates' through the
//! `test-keys` feature): a test AK CA (P-384, the policy pins it under `tpm_ak_roots`), AK
//! certificates it issues for any AK (a software ECC AK here, or swtpm's), and quotes by an ECC
//! P-256 AK. Keys come from fixed labels and ECDSA is deterministic, so evidence is reproducible.

use std::collections::BTreeMap;

use der::asn1::{BitString, ObjectIdentifier};
use der::Any;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use sha2::{Digest, Sha256};
use x509_cert::builder::Profile;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::Validity;

use super::attest::{TPM_ALG_ECDSA, TPM_GENERATED_VALUE, TPM_ST_ATTEST_QUOTE};
use super::public::{AkKey, TPM_ALG_ECC, TPM_ALG_NULL, TPM_ECC_NIST_P256};
use super::HashAlg;
use crate::nitro::testing::{certificate_for, key, name, time};
use crate::signature::{EC_PUBLIC_KEY, SECP256R1};

/// fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, restricted, sign: a TPM's AK.
pub const AK_ATTRIBUTES: u32 = 0x0005_0072;
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A self-signed test CA that issues AK certificates.
pub struct TestAkCa {
    /// DER of the CA certificate: what goes into `tpm_ak_intermediates`.
    pub root: Vec<u8>,
    label: String,
    validity: Validity,
}

impl TestAkCa {
    pub fn new(label: &str, not_before_unix: u64, not_after_unix: u64) -> Self {
        let validity = Validity {
            not_before: time(not_before_unix),
            not_after: time(not_after_unix),
        };
        let ca_key = key(label, "tpm-ak-ca");
        let ca_name = name(label, "tpm-ak-ca");
        let spki = SubjectPublicKeyInfoOwned::from_key(*ca_key.verifying_key())
            .expect("a P-384 key encodes as SPKI");
        let root = certificate_for(Profile::Root, spki, &ca_name, &ca_key, &validity);
        TestAkCa {
            root,
            label: label.to_owned(),
            validity,
        }
    }

    /// SHA-256 of the CA certificate: what the policy's `tpm_ak_roots` lists.
    pub fn root_sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.root).into()
    }

    /// An AK certificate for `ak` (digitalSignature, not a CA).
    pub fn issue(&self, ak: &AkKey) -> Vec<u8> {
        let profile = Profile::Leaf {
            issuer: name(&self.label, "tpm-ak-ca"),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        certificate_for(
            profile,
            spki(ak),
            &name(&self.label, "tpm-ak"),
            &key(&self.label, "tpm-ak-ca"),
            &self.validity,
        )
    }
}

fn spki(ak: &AkKey) -> SubjectPublicKeyInfoOwned {
    let (oid, parameters, key) = match ak {
        AkKey::Rsa { modulus, exponent } => {
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(modulus),
                rsa::BigUint::from(*exponent),
            )
            .expect("a valid RSA test key");
            let der = key.to_pkcs1_der().expect("encodes").as_bytes().to_vec();
            (RSA_ENCRYPTION, Some(Any::null()), der)
        }
        AkKey::P256 { x, y } => (
            EC_PUBLIC_KEY,
            Some(Any::encode_from(&SECP256R1).expect("an OID encodes")),
            [&[0x04][..], x, y].concat(),
        ),
    };
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned { oid, parameters },
        subject_public_key: BitString::from_bytes(&key).expect("a key fits a BIT STRING"),
    }
}

/// A software ECC P-256 attestation key that quotes like a TPM.
pub struct TestAk {
    key: SigningKey,
}

impl TestAk {
    pub fn new(label: &str) -> Self {
        let seed = Sha256::digest(format!("mpr tpm test AK {label}"));
        TestAk {
            key: SigningKey::from_slice(&seed).expect("a SHA-256 output is a P-256 scalar"),
        }
    }

    pub fn key(&self) -> AkKey {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        x.copy_from_slice(point.x().expect("uncompressed"));
        y.copy_from_slice(point.y().expect("uncompressed"));
        AkKey::P256 { x, y }
    }

    /// Its TPMT_PUBLIC with `attributes` (normally [`AK_ATTRIBUTES`]), ECDSA-SHA256 fixed.
    pub fn public_area(&self, attributes: u32) -> Vec<u8> {
        let AkKey::P256 { x, y } = self.key() else {
            unreachable!("a P-256 key")
        };
        let mut out = Vec::new();
        for field in [TPM_ALG_ECC, HashAlg::Sha256.id()] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        out.extend_from_slice(&attributes.to_be_bytes());
        for field in [
            0, // authPolicy: empty
            TPM_ALG_NULL,
            TPM_ALG_ECDSA,
            HashAlg::Sha256.id(),
            TPM_ECC_NIST_P256,
            TPM_ALG_NULL, // kdf
        ] {
            out.extend_from_slice(&u16::to_be_bytes(field));
        }
        for coordinate in [x, y] {
            out.extend_from_slice(&32u16.to_be_bytes());
            out.extend_from_slice(&coordinate);
        }
        out
    }

    /// A TPMT_SIGNATURE (ECDSA, SHA-256) over `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(message);
        let bytes = signature.to_bytes();
        let mut out = Vec::new();
        out.extend_from_slice(&TPM_ALG_ECDSA.to_be_bytes());
        out.extend_from_slice(&HashAlg::Sha256.id().to_be_bytes());
        for half in [&bytes[..32], &bytes[32..]] {
            out.extend_from_slice(&32u16.to_be_bytes());
            out.extend_from_slice(half);
        }
        out
    }

    /// TPMS_ATTEST of a quote over the SHA-256 `pcrs` with `extra_data`, and its signature.
    pub fn quote(&self, extra_data: &[u8], pcrs: &BTreeMap<u8, Vec<u8>>) -> (Vec<u8>, Vec<u8>) {
        let mut attest = Vec::new();
        attest.extend_from_slice(&TPM_GENERATED_VALUE.to_be_bytes());
        attest.extend_from_slice(&TPM_ST_ATTEST_QUOTE.to_be_bytes());
        let name = [&HashAlg::Sha256.id().to_be_bytes()[..], &[0x11; 32]].concat();
        for sized in [&name[..], extra_data] {
            attest.extend_from_slice(&(sized.len() as u16).to_be_bytes());
            attest.extend_from_slice(sized);
        }
        attest.extend_from_slice(&1_000_000u64.to_be_bytes()); // clock
        attest.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 1]); // resetCount, restartCount, safe
        attest.extend_from_slice(&0x2020_0312_0012_0003u64.to_be_bytes()); // firmwareVersion
        attest.extend_from_slice(&1u32.to_be_bytes());
        attest.extend_from_slice(&HashAlg::Sha256.id().to_be_bytes());
        let mut bitmap = [0u8; 3];
        for index in pcrs.keys() {
            bitmap[usize::from(*index / 8)] |= 1 << (index % 8);
        }
        attest.push(3);
        attest.extend_from_slice(&bitmap);
        let values: Vec<&[u8]> = pcrs.values().map(Vec::as_slice).collect();
        let digest = HashAlg::Sha256.digest(&values);
        attest.extend_from_slice(&(digest.len() as u16).to_be_bytes());
        attest.extend_from_slice(&digest);
        let signature = self.sign(&attest);
        (attest, signature)
    }
}
