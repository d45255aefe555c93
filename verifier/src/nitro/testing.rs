//! Nitro attestation documents signed with TEST keys, for tests only (this crate's, and other
//! crates' through the `test-keys` feature). The chain mirrors AWS's shape: root → regional
//! (pathLen 2) → zonal (1) → instance (0) → leaf, all P-384 / ecdsa-with-SHA384. Keys are derived
//! from fixed labels and ECDSA here is deterministic (RFC 6979), so documents are reproducible.
//!
//! Nothing here is trusted by default: only a `NitroTrust` from [`TestChain::trust`] accepts them.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use ciborium::Value;
use der::asn1::GeneralizedTime;
use der::Encode;
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, Signature, SigningKey};
use sha2::{Digest, Sha256, Sha384};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

use super::cose::{sig_structure, ES384_PROTECTED_HEADER};
use super::NitroTrust;

/// The intermediates below the root, with their pathLen, as AWS issues them.
const INTERMEDIATES: [(&str, u8); 3] = [("regional", 2), ("zonal", 1), ("instance", 0)];

/// A root, three intermediates and a leaf, all valid from `not_before` to `not_after`.
pub struct TestChain {
    /// DER, root first: what goes into `cabundle`.
    pub cabundle: Vec<Vec<u8>>,
    /// DER of the leaf: what goes into `certificate`.
    pub leaf: Vec<u8>,
    leaf_key: SigningKey,
}

impl TestChain {
    /// `label` separates independent chains (e.g. a second, untrusted root).
    pub fn new(label: &str, not_before_unix: u64, not_after_unix: u64) -> Self {
        let validity = Validity {
            not_before: time(not_before_unix),
            not_after: time(not_after_unix),
        };
        let root_key = key(label, "root");
        let root_name = name(label, "root");
        let mut cabundle = vec![certificate(
            Profile::Root,
            &root_key,
            &root_name,
            &root_key,
            &validity,
        )];
        let (mut issuer_key, mut issuer_name) = (root_key, root_name);
        for (role, path_len) in INTERMEDIATES {
            let subject_key = key(label, role);
            let subject_name = name(label, role);
            let profile = Profile::SubCA {
                issuer: issuer_name.clone(),
                path_len_constraint: Some(path_len),
            };
            cabundle.push(certificate(
                profile,
                &subject_key,
                &subject_name,
                &issuer_key,
                &validity,
            ));
            (issuer_key, issuer_name) = (subject_key, subject_name);
        }
        let leaf_key = key(label, "leaf");
        let profile = Profile::Leaf {
            issuer: issuer_name,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        let leaf = certificate(
            profile,
            &leaf_key,
            &name(label, "leaf"),
            &issuer_key,
            &validity,
        );
        TestChain {
            cabundle,
            leaf,
            leaf_key,
        }
    }

    /// Trusts this chain's root and nothing else.
    pub fn trust(&self) -> NitroTrust {
        let root = self
            .cabundle
            .first()
            .expect("a test chain always has a root");
        NitroTrust {
            root_sha256: vec![Sha256::digest(root).into()],
        }
    }

    /// A COSE_Sign1 (untagged, like real documents) over the payload of `contents`.
    pub fn sign(&self, contents: &TestDocument) -> Vec<u8> {
        self.sign_payload(&contents.encode_payload(&self.leaf, &self.cabundle))
    }

    /// Signs arbitrary payload bytes with the leaf key, for tests of malformed payloads.
    pub fn sign_payload(&self, payload: &[u8]) -> Vec<u8> {
        let signature: Signature = self
            .leaf_key
            .sign(&sig_structure(&ES384_PROTECTED_HEADER, payload));
        let envelope = Value::Array(vec![
            Value::Bytes(ES384_PROTECTED_HEADER.to_vec()),
            Value::Map(Vec::new()),
            Value::Bytes(payload.to_vec()),
            Value::Bytes(signature.to_bytes().to_vec()),
        ]);
        encode(&envelope)
    }
}

/// What a test document says.
#[derive(Debug, Clone)]
pub struct TestDocument {
    pub module_id: String,
    pub timestamp_ms: u64,
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    pub public_key: Option<Vec<u8>>,
    pub user_data: Option<Vec<u8>>,
    pub nonce: Option<Vec<u8>>,
}

impl TestDocument {
    /// PCR0..15 as a production enclave reports them: PCR0/1/2/3/4 set (to SHA-384 of
    /// "test-pcrN"), the rest zero; no optional field.
    pub fn new(timestamp_ms: u64) -> Self {
        let pcrs = (0u8..16)
            .map(|index| {
                let value = if index <= 4 {
                    Sha384::digest(format!("test-pcr{index}")).to_vec()
                } else {
                    vec![0; 48]
                };
                (index, value)
            })
            .collect();
        TestDocument {
            module_id: "i-00000000000000000-enc0000000000000000".into(),
            timestamp_ms,
            pcrs,
            public_key: None,
            user_data: None,
            nonce: None,
        }
    }

    /// The AttestationDoc map in the NSM's key order, absent optional fields as null.
    pub fn encode_payload(&self, leaf: &[u8], cabundle: &[Vec<u8>]) -> Vec<u8> {
        let optional = |field: &Option<Vec<u8>>| field.clone().map_or(Value::Null, Value::Bytes);
        let pcrs = self
            .pcrs
            .iter()
            .map(|(&index, value)| (Value::Integer(index.into()), Value::Bytes(value.clone())))
            .collect();
        let cabundle = cabundle.iter().cloned().map(Value::Bytes).collect();
        let map = vec![
            ("module_id", Value::Text(self.module_id.clone())),
            ("digest", Value::Text("SHA384".into())),
            ("timestamp", Value::Integer(self.timestamp_ms.into())),
            ("pcrs", Value::Map(pcrs)),
            ("certificate", Value::Bytes(leaf.to_vec())),
            ("cabundle", Value::Array(cabundle)),
            ("public_key", optional(&self.public_key)),
            ("user_data", optional(&self.user_data)),
            ("nonce", optional(&self.nonce)),
        ];
        encode(&Value::Map(
            map.into_iter()
                .map(|(key, value)| (Value::Text(key.into()), value))
                .collect(),
        ))
    }
}

fn encode(value: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(value, &mut bytes).expect("a test value encodes as CBOR");
    bytes
}

pub(crate) fn key(label: &str, role: &str) -> SigningKey {
    let seed = Sha384::digest(format!("mpr nitro test key {label} {role}"));
    SigningKey::from_slice(&seed).expect("a SHA-384 output is a valid P-384 scalar")
}

pub(crate) fn name(label: &str, role: &str) -> Name {
    Name::from_str(&format!("CN=mpr-test-{label}-{role},O=mpr test keys,C=US"))
        .expect("a fixed test name parses")
}

pub(crate) fn time(unix_seconds: u64) -> Time {
    Time::GeneralTime(
        GeneralizedTime::from_unix_duration(Duration::from_secs(unix_seconds))
            .expect("a test time is representable"),
    )
}

fn certificate(
    profile: Profile,
    subject_key: &SigningKey,
    subject: &Name,
    issuer_key: &SigningKey,
    validity: &Validity,
) -> Vec<u8> {
    let spki = SubjectPublicKeyInfoOwned::from_key(*subject_key.verifying_key())
        .expect("a P-384 key encodes as SPKI");
    certificate_for(profile, spki, subject, issuer_key, validity)
}

/// A certificate for any key, issued (ecdsa-with-SHA384) by a P-384 test key.
pub(crate) fn certificate_for(
    profile: Profile,
    spki: SubjectPublicKeyInfoOwned,
    subject: &Name,
    issuer_key: &SigningKey,
    validity: &Validity,
) -> Vec<u8> {
    let serial = SerialNumber::from(
        u32::from_be_bytes(
            Sha256::digest(subject.to_string())[..4]
                .try_into()
                .expect("4 bytes"),
        ) >> 1,
    );
    CertificateBuilder::new(
        profile,
        serial,
        *validity,
        subject.clone(),
        spki,
        issuer_key,
    )
    .expect("a test certificate is well-formed")
    .build::<DerSignature>()
    .expect("a test certificate signs")
    .to_der()
    .expect("a test certificate encodes")
}
