//! TEST KEYS ONLY: a self-made AMD-shaped chain (ARK → ASK → VCEK) that signs SEV-SNP reports,
//! for end-to-end tests (e.g. a fake configfs-tsm device). Its ARK is not AMD's, so nothing it
//! signs verifies unless a test pins it with [`TestChain::trust`]. Built with
//! `cfg(test)` or the `test-keys` feature only.
//!
//! Certificates are assembled from x509-cert's types and signed directly rather than through
//! its builder, because AMD's hwID extension is a raw (not DER-wrapped) value that the
//! builder's extension trait cannot express.

use std::str::FromStr;
use std::time::Duration;

use p384::ecdsa::SigningKey as EcdsaSigningKey;
use p384::pkcs8::EncodePublicKey;
use rand_core::OsRng;
use rsa::pss::BlindedSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha384};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::der::asn1::{BitString, Ia5StringRef, ObjectIdentifier, OctetString, UtcTime};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{DynSignatureAlgorithmIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use super::{
    build_certificate_table, SnpCertificates, SnpTrust, Tcb, ARK_GUID, ASK_GUID, VCEK_GUID,
};

/// Validity of every test certificate: 2020-01-01 to 2049-12-31 (UTCTime's last year).
pub const NOT_BEFORE: u64 = 1_577_836_800;
pub const NOT_AFTER: u64 = 2_524_521_600;
/// A time inside the validity, for tests.
pub const VALID_AT: u64 = 1_767_225_600; // 2026-01-01
pub const ARK_SERIAL: u64 = 0x10000;
pub const ASK_SERIAL: u64 = 0x10001;
/// The test chain is a Milan chain: its reports carry Milan's CPUID.
pub const TCB: Tcb = Tcb {
    fmc: None,
    bootloader: 4,
    tee: 0,
    snp: 24,
    microcode: 219,
};
const RSA_BITS: usize = 2048;
const OID_AMD: &str = "1.3.6.1.4.1.3704.1";

/// A generated ARK, ASK and VCEK (Milan-shaped) with their private keys.
pub struct TestChain {
    pub ark_der: Vec<u8>,
    pub ask_der: Vec<u8>,
    pub vcek_der: Vec<u8>,
    pub chip_id: [u8; 64],
    ark_key: BlindedSigningKey<Sha384>,
    vcek_key: EcdsaSigningKey,
}

impl TestChain {
    /// Generates fresh keys (two RSA-2048, one P-384) and the three certificates.
    pub fn generate() -> TestChain {
        let ark_key = rsa_key();
        let ask_key = rsa_key();
        let vcek_key = EcdsaSigningKey::random(&mut OsRng);
        let mut chip_id = [0u8; 64];
        for (i, byte) in chip_id.iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(7).wrapping_add(1);
        }
        let ark_name = name("ARK-Milan");
        let ask_name = name("SEV-Milan");
        let ca = || {
            vec![extension(
                BASIC_CONSTRAINTS,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                }
                .to_der()
                .expect("encodes"),
                true,
            )]
        };
        let ark_der = sign_certificate(
            ARK_SERIAL,
            &ark_name,
            &ark_name,
            rsa_spki(&ark_key),
            ca(),
            &ark_key,
        );
        let ask_der = sign_certificate(
            ASK_SERIAL,
            &ark_name,
            &ask_name,
            rsa_spki(&ask_key),
            ca(),
            &ark_key,
        );
        let vcek_spki = vcek_key
            .verifying_key()
            .to_public_key_der()
            .expect("encodes");
        let vcek_spki = SubjectPublicKeyInfoOwned::from_der(vcek_spki.as_bytes()).expect("decodes");
        let amd = |suffix: &str| {
            ObjectIdentifier::new(&format!("{OID_AMD}.{suffix}")).expect("valid OID")
        };
        let spl = |suffix: &str, value: u8| {
            extension(amd(suffix), &value.to_der().expect("encodes"), false)
        };
        let vcek_extensions = vec![
            extension(amd("1"), &0u8.to_der().expect("encodes"), false),
            extension(
                amd("2"),
                &Ia5StringRef::new("Milan-B0")
                    .expect("ASCII")
                    .to_der()
                    .expect("encodes"),
                false,
            ),
            spl("3.1", TCB.bootloader),
            spl("3.2", TCB.tee),
            spl("3.3", TCB.snp),
            spl("3.8", TCB.microcode),
            extension(amd("4"), &chip_id, false),
        ];
        let vcek_der = sign_certificate(
            0,
            &ask_name,
            &name("SEV-VCEK"),
            vcek_spki,
            vcek_extensions,
            &ask_key,
        );
        TestChain {
            ark_der,
            ask_der,
            vcek_der,
            chip_id,
            ark_key,
            vcek_key,
        }
    }

    /// The whole chain, as a host would hand it out.
    pub fn certificates(&self) -> SnpCertificates {
        SnpCertificates {
            leaf: self.vcek_der.clone(),
            intermediate: Some(self.ask_der.clone()),
            ark: Some(self.ark_der.clone()),
        }
    }

    /// The chain as a configfs-tsm `auxblob` certificate table.
    pub fn certificate_table(&self) -> Vec<u8> {
        build_certificate_table(&[
            (VCEK_GUID, &self.vcek_der),
            (ASK_GUID, &self.ask_der),
            (ARK_GUID, &self.ark_der),
        ])
    }

    pub fn ark_sha256(&self) -> [u8; 32] {
        sha2::Sha256::digest(&self.ark_der).into()
    }

    /// Trust that pins only this test ARK, with CRL checking off.
    pub fn trust(&self) -> SnpTrust {
        SnpTrust {
            ark_sha256: vec![self.ark_sha256()],
            check_crl: false,
            ..SnpTrust::default()
        }
    }

    /// A version 3 Milan report (policy 0x30000: SMT, no debug; VMPL 0; every TCB = [`TCB`])
    /// carrying `report_data` and `measurement`, signed by the VCEK.
    pub fn sign_report(&self, report_data: [u8; 64], measurement: [u8; 48]) -> Vec<u8> {
        let tcb = u64::from_le_bytes([TCB.bootloader, TCB.tee, 0, 0, 0, 0, TCB.snp, TCB.microcode]);
        let mut report = vec![0u8; super::REPORT_BYTES];
        let mut put = |offset: usize, bytes: &[u8]| {
            report[offset..offset + bytes.len()].copy_from_slice(bytes)
        };
        put(0x000, &3u32.to_le_bytes());
        put(0x008, &0x30000u64.to_le_bytes());
        put(0x034, &1u32.to_le_bytes());
        for offset in [0x038, 0x180, 0x1e0, 0x1f0] {
            put(offset, &tcb.to_le_bytes());
        }
        put(0x050, &report_data);
        put(0x090, &measurement);
        put(0x160, &[0xff; 32]);
        put(0x188, &[0x19, 0x01, 0x01]);
        put(0x1a0, &self.chip_id);
        put(0x1e8, &[29, 55, 1, 0]);
        put(0x1ec, &[29, 55, 1, 0]);
        let signature: p384::ecdsa::Signature = self.vcek_key.sign(&report[..super::SIGNED_BYTES]);
        let (r, s) = signature.split_bytes();
        // The report stores R and S little-endian in 72-byte fields.
        for (offset, scalar) in [(0x2a0, r), (0x2e8, s)] {
            for (i, byte) in scalar.iter().rev().enumerate() {
                report[offset + i] = *byte;
            }
        }
        report
    }

    /// A CRL issued by ARK-Milan, current from [`NOT_BEFORE`] to [`NOT_AFTER`], revoking
    /// `revoked` serials, signed by the test ARK.
    pub fn crl(&self, revoked: &[u64]) -> Vec<u8> {
        sign_crl(revoked, NOT_BEFORE, NOT_AFTER, &self.ark_key)
    }

    /// The same CRL with another thisUpdate/nextUpdate window (Unix seconds).
    pub fn crl_current_between(&self, revoked: &[u64], this_update: u64, next_update: u64) -> Vec<u8> {
        sign_crl(revoked, this_update, next_update, &self.ark_key)
    }

    /// The same CRL, but signed by a freshly generated key that is not the ARK's.
    pub fn crl_signed_by_another_key(&self, revoked: &[u64]) -> Vec<u8> {
        sign_crl(revoked, NOT_BEFORE, NOT_AFTER, &rsa_key())
    }
}

const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

fn rsa_key() -> BlindedSigningKey<Sha384> {
    BlindedSigningKey::new(RsaPrivateKey::new(&mut OsRng, RSA_BITS).expect("RSA key generation"))
}

fn rsa_spki(key: &BlindedSigningKey<Sha384>) -> SubjectPublicKeyInfoOwned {
    let der = key
        .as_ref()
        .to_public_key()
        .to_public_key_der()
        .expect("encodes");
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).expect("decodes")
}

fn name(common_name: &str) -> Name {
    Name::from_str(&format!(
        "CN={common_name},O=Advanced Micro Devices,ST=CA,L=Santa Clara,C=US,OU=Engineering"
    ))
    .expect("valid name")
}

fn extension(oid: ObjectIdentifier, value: &[u8], critical: bool) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_vec()).expect("small"),
    }
}

fn time(unix: u64) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(unix)).expect("before 2050"))
}

fn pss_sign(key: &BlindedSigningKey<Sha384>, message: &[u8]) -> BitString {
    let signature = key.sign_with_rng(&mut OsRng, message);
    BitString::from_bytes(&signature.to_vec()).expect("encodes")
}

fn sign_certificate(
    serial: u64,
    issuer: &Name,
    subject: &Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    extensions: Vec<Extension>,
    signer: &BlindedSigningKey<Sha384>,
) -> Vec<u8> {
    let algorithm = signer
        .signature_algorithm_identifier()
        .expect("PSS identifier");
    let tbs_certificate = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::from(serial),
        signature: algorithm.clone(),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: time(NOT_BEFORE),
            not_after: time(NOT_AFTER),
        },
        subject: subject.clone(),
        subject_public_key_info,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = pss_sign(signer, &tbs_certificate.to_der().expect("encodes"));
    Certificate {
        tbs_certificate,
        signature_algorithm: algorithm,
        signature,
    }
    .to_der()
    .expect("encodes")
}

fn sign_crl(revoked: &[u64], this_update: u64, next_update: u64, signer: &BlindedSigningKey<Sha384>) -> Vec<u8> {
    let algorithm = signer
        .signature_algorithm_identifier()
        .expect("PSS identifier");
    let revoked: Vec<RevokedCert> = revoked
        .iter()
        .map(|serial| RevokedCert {
            serial_number: SerialNumber::from(*serial),
            revocation_date: time(NOT_BEFORE),
            crl_entry_extensions: None,
        })
        .collect();
    let tbs_cert_list = TbsCertList {
        version: Version::V2,
        signature: algorithm.clone(),
        issuer: name("ARK-Milan"),
        this_update: time(this_update),
        next_update: Some(time(next_update)),
        revoked_certificates: (!revoked.is_empty()).then_some(revoked),
        crl_extensions: None,
    };
    let signature = pss_sign(signer, &tbs_cert_list.to_der().expect("encodes"));
    CertificateList {
        tbs_cert_list,
        signature_algorithm: algorithm,
        signature,
    }
    .to_der()
    .expect("encodes")
}
