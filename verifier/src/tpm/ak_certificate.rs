//! An AK certificate chained to a pinned CA: Google's EK/AK CAs for GCE vTPMs (built in), or a
//! CA the trust policy pins (a test CA for swtpm). The path is built from the leaf up through the
//! intermediates the evidence carries and the Google certificates built into this crate, until a
//! certificate whose SHA-256 is pinned: trust comes from those exact bytes, never from the
//! evidence. Each link is checked for signature, names, validity at the given time and CA
//! constraints; unknown critical extensions are refused.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use super::public::AkKey;
use super::TpmError;
use crate::signature::{EcdsaP256Key, EcdsaP384Key, RsaSha256Key};

/// Largest certificate accepted (Google's are under 2 KiB).
pub const MAX_AK_CERTIFICATE_BYTES: usize = 8 << 10;
/// Intermediates the evidence may carry.
pub const MAX_AK_INTERMEDIATES: usize = 4;
/// CA certificates between the leaf and the pinned one, at most.
const MAX_PATH_AUTHORITIES: usize = 4;

macro_rules! gcp {
    ($file:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/roots/gcp/", $file)).as_slice()
    };
}

/// Google's vTPM CA certificates (google/go-tpm-tools `server/ca-certs`): the EK/AK CA Root and
/// Intermediate, and the older tpm_ek_v1 root with its intermediates 2 and 3.
pub const GCP_CERTIFICATES: [&[u8]; 5] = [
    gcp!("gcp_ek_ak_ca_root.crt"),
    gcp!("gcp_ek_ak_ca_intermediate_v3.crt"),
    gcp!("tpm_ek_root_1.cer"),
    gcp!("tpm_ek_intermediate_2.crt"),
    gcp!("tpm_ek_intermediate_3.crt"),
];

/// SHA-256 of the DER of Google's two vTPM roots: EK/AK CA Root, tpm_ek_v1 cloud host root.
pub const GCP_AK_ROOTS_SHA256: [[u8; 32]; 2] = [
    crate::snp::hex_literal("594759594b9b61524f6c8ef668f7177f7b9066bc0674f2f49fe9e052be78beb2"),
    crate::snp::hex_literal("9bd5285f8fb18502a7947e621ffd470266f49fcd3b73e19a190f690ad32a7caf"),
];

const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// Critical extensions understood without being checked further: the AK certificate's
/// subjectAltName (TPM manufacturer, model, version) and extendedKeyUsage.
const UNDERSTOOD: [ObjectIdentifier; 2] = [
    ObjectIdentifier::new_unwrap("2.5.29.17"),
    ObjectIdentifier::new_unwrap("2.5.29.37"),
];

/// An AK certificate whose path to a pinned CA checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAkCertificate {
    pub key: AkKey,
    /// SHA-256 of the pinned certificate the path ends at.
    pub anchor_sha256: [u8; 32],
    /// CA certificates on the path, the pinned one included.
    pub authorities: usize,
}

/// Verifies `leaf` (DER) at `at_unix_seconds` up to a certificate in `pinned_sha256`, through
/// `intermediates` and [`GCP_CERTIFICATES`].
pub fn verify_ak_certificate(
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    pinned_sha256: &[[u8; 32]],
    at_unix_seconds: u64,
) -> Result<VerifiedAkCertificate, TpmError> {
    if intermediates.len() > MAX_AK_INTERMEDIATES {
        return Err(TpmError::AkCertificateMalformed(format!(
            "{} intermediates, more than {MAX_AK_INTERMEDIATES}",
            intermediates.len()
        )));
    }
    let mut pool = Vec::new();
    for der in intermediates
        .iter()
        .map(Vec::as_slice)
        .chain(GCP_CERTIFICATES)
    {
        pool.push((der, parse(der, "an intermediate")?));
    }
    let leaf_certificate = parse(leaf, "the AK certificate")?;
    check_validity(&leaf_certificate, at_unix_seconds)?;
    check_extensions(&leaf_certificate, None)?;
    let key = ak_key(&leaf_certificate.tbs_certificate.subject_public_key_info)?;
    let mut child = &leaf_certificate;
    for authorities in 1..=MAX_PATH_AUTHORITIES {
        let (issuer_der, issuer) = pool
            .iter()
            .find(|(_, issuer)| {
                issuer.tbs_certificate.subject == child.tbs_certificate.issuer
                    && signed_by(child, issuer)
            })
            .ok_or_else(|| {
                TpmError::AkUntrusted(format!(
                    "no certificate among the {} intermediates given and Google's built-in CAs issued and signed \"{}\"",
                    intermediates.len(),
                    child.tbs_certificate.issuer
                ))
            })?;
        check_validity(issuer, at_unix_seconds)?;
        check_extensions(issuer, Some(authorities - 1))?;
        let sha256: [u8; 32] = Sha256::digest(issuer_der).into();
        if pinned_sha256.contains(&sha256) {
            return Ok(VerifiedAkCertificate {
                key,
                anchor_sha256: sha256,
                authorities,
            });
        }
        child = issuer;
    }
    Err(TpmError::AkUntrusted(format!(
        "no pinned CA within {MAX_PATH_AUTHORITIES} certificates of the AK certificate (pinned: {})",
        pinned_sha256
            .iter()
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn parse(der: &[u8], which: &str) -> Result<Certificate, TpmError> {
    if der.len() > MAX_AK_CERTIFICATE_BYTES {
        return Err(TpmError::AkCertificateMalformed(format!(
            "{which} is {} bytes, more than {MAX_AK_CERTIFICATE_BYTES}",
            der.len()
        )));
    }
    Certificate::from_der(der)
        .map_err(|e| TpmError::AkCertificateMalformed(format!("{which} is not DER X.509 ({e})")))
}

/// The certificate's key as an AK key: RSA, or ECC on NIST P-256.
pub fn ak_key(spki: &SubjectPublicKeyInfoOwned) -> Result<AkKey, TpmError> {
    let malformed = |what: &str| TpmError::AkCertificateMalformed(format!("its key {what}"));
    if RsaSha256Key::from_spki(spki).is_ok() {
        let key = rsa::pkcs1::RsaPublicKey::from_der(spki.subject_public_key.raw_bytes())
            .map_err(|_| malformed("is not PKCS#1"))?;
        return AkKey::rsa(key.modulus.as_bytes(), key.public_exponent.as_bytes())
            .map_err(|_| malformed("is not a usable RSA key"));
    }
    EcdsaP256Key::from_spki(spki).map_err(|_| malformed("is neither RSA nor ECC P-256"))?;
    match spki.subject_public_key.raw_bytes() {
        [0x04, point @ ..] if point.len() == 64 => {
            let mut x = [0u8; 32];
            let mut y = [0u8; 32];
            x.copy_from_slice(&point[..32]);
            y.copy_from_slice(&point[32..]);
            Ok(AkKey::P256 { x, y })
        }
        _ => Err(malformed("is a compressed P-256 point")),
    }
}

/// Whether `issuer`'s key made `child`'s signature, by an algorithm accepted here.
fn signed_by(child: &Certificate, issuer: &Certificate) -> bool {
    let algorithm = &child.signature_algorithm;
    let (Some(signature), Ok(tbs)) = (child.signature.as_bytes(), child.tbs_certificate.to_der())
    else {
        return false;
    };
    if child.tbs_certificate.signature != *algorithm {
        return false;
    }
    // x509-cert decodes strict DER only, so encoding the parsed TBS gives back the signed bytes.
    let spki = &issuer.tbs_certificate.subject_public_key_info;
    if algorithm.oid == SHA256_WITH_RSA {
        RsaSha256Key::from_spki(spki).is_ok_and(|key| key.verify_pkcs1v15(&tbs, signature).is_ok())
    } else if algorithm.oid == ECDSA_WITH_SHA256 {
        EcdsaP256Key::from_spki(spki).is_ok_and(|key| key.verify_der(&tbs, signature).is_ok())
    } else if algorithm.oid == ECDSA_WITH_SHA384 {
        EcdsaP384Key::from_spki(spki).is_ok_and(|key| key.verify_der(&tbs, signature).is_ok())
    } else {
        false
    }
}

fn check_validity(certificate: &Certificate, at: u64) -> Result<(), TpmError> {
    let validity = &certificate.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if (not_before..=not_after).contains(&at) {
        return Ok(());
    }
    Err(TpmError::AkCertificateExpired {
        at,
        reason: format!(
            "\"{}\" is valid from {not_before} to {not_after}",
            certificate.tbs_certificate.subject
        ),
    })
}

/// `authorities_below`: `None` for the leaf, else how many CA certificates lie between this
/// one and the leaf (what pathLen limits).
fn check_extensions(
    certificate: &Certificate,
    authorities_below: Option<usize>,
) -> Result<(), TpmError> {
    let subject = &certificate.tbs_certificate.subject;
    let refuse = |reason: String| TpmError::AkUntrusted(format!("\"{subject}\": {reason}"));
    let mut constraints = None;
    let mut usage = None;
    let extensions = certificate
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    for (i, extension) in extensions.iter().enumerate() {
        if extensions[i + 1..]
            .iter()
            .any(|o| o.extn_id == extension.extn_id)
        {
            return Err(refuse(format!(
                "extension {} appears twice",
                extension.extn_id
            )));
        }
        let value = extension.extn_value.as_bytes();
        if extension.extn_id == BASIC_CONSTRAINTS {
            constraints =
                Some(BasicConstraints::from_der(value).map_err(|e| refuse(e.to_string()))?);
        } else if extension.extn_id == KEY_USAGE {
            usage = Some(KeyUsage::from_der(value).map_err(|e| refuse(e.to_string()))?);
        } else if extension.critical && !UNDERSTOOD.contains(&extension.extn_id) {
            return Err(refuse(format!(
                "unknown critical extension {}",
                extension.extn_id
            )));
        }
    }
    let is_ca = constraints.as_ref().is_some_and(|c| c.ca);
    match authorities_below {
        None if is_ca => Err(refuse("the AK certificate is a CA certificate".into())),
        None if usage.is_some_and(|u| !u.digital_signature()) => Err(refuse(
            "the AK certificate lacks keyUsage digitalSignature".into(),
        )),
        None => Ok(()),
        Some(_) if !is_ca || usage.is_some_and(|u| !u.key_cert_sign()) => Err(refuse(
            "it issues a certificate but is not a CA with keyCertSign".into(),
        )),
        Some(below) => match constraints.and_then(|c| c.path_len_constraint) {
            Some(limit) if below > usize::from(limit) => Err(refuse(format!(
                "its pathLen {limit} allows fewer than the {below} CA certificates below it"
            ))),
            _ => Ok(()),
        },
    }
}
