//! The certificate path of a Nitro document: leaf ← cabundle[N] ← … ← cabundle[1] ← cabundle[0],
//! where cabundle[0] must be a pinned root. AWS uses no CRLs and no name constraints, so the path
//! is validated by hand with the RFC 5280 checks that matter here: signature, algorithm, names,
//! validity, basicConstraints/pathLen and keyUsage (and refusing unknown critical extensions).

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::Certificate;

use super::{CertificatePosition, NitroError, NitroTrust};
use crate::signature::{EcdsaP384Key, VerifiedLinks, EC_PUBLIC_KEY, SECP384R1};

const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

/// What a certificate is allowed to do at its place in the path.
#[derive(Clone, Copy)]
enum Role {
    /// A CA with this many CA certificates between it and the leaf (what pathLen limits).
    Authority {
        authorities_below: usize,
    },
    Leaf,
}

/// Validates the path at `at_unix_seconds` and returns the leaf's key, the one that must have
/// signed the COSE envelope. Signatures already in `links` are not verified again.
pub(crate) fn verify_chain(
    leaf_der: &[u8],
    cabundle: &[Vec<u8>],
    trust: &NitroTrust,
    at_unix_seconds: u64,
    links: &VerifiedLinks,
) -> Result<EcdsaP384Key, NitroError> {
    let Some((root_der, intermediates)) = cabundle.split_first() else {
        return Err(NitroError::MalformedPayload("cabundle is empty".into()));
    };
    // Pinning by fingerprint is pinning by bytes: the root is trusted because it is exactly the
    // certificate the wallet knows, never because the document carries it.
    let root_sha256: [u8; 32] = Sha256::digest(root_der).into();
    if !trust.root_sha256.contains(&root_sha256) {
        return Err(NitroError::RootNotPinned {
            sha256_hex: hex::encode(root_sha256),
        });
    }

    let mut path = Vec::with_capacity(cabundle.len() + 1);
    for (index, der) in cabundle.iter().enumerate() {
        let position = CertificatePosition::Bundle(index);
        let role = Role::Authority {
            authorities_below: intermediates.len() - index,
        };
        path.push((position, role, der.as_slice(), parse(der, position)?));
    }
    path.push((
        CertificatePosition::Leaf,
        Role::Leaf,
        leaf_der,
        parse(leaf_der, CertificatePosition::Leaf)?,
    ));

    for (position, role, _, certificate) in &path {
        check_algorithms(certificate, *position)?;
        check_validity(certificate, *position, at_unix_seconds)?;
        check_extensions(certificate, *position, *role)?;
    }
    for link in path.windows(2) {
        let [(issuer_position, _, _, issuer), (position, _, child_der, child)] = link else {
            continue;
        };
        if child.tbs_certificate.issuer != issuer.tbs_certificate.subject {
            return Err(NitroError::ChainNameMismatch {
                position: *position,
            });
        }
        let issuer_point = issuer
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        links.verify(issuer_point, child_der, || {
            check_signature(child, *position, &public_key(issuer, *issuer_position)?)
        })?;
    }
    match path.last() {
        Some((position, _, _, leaf)) => public_key(leaf, *position),
        None => Err(NitroError::MalformedPayload("no leaf certificate".into())),
    }
}

fn parse(der: &[u8], position: CertificatePosition) -> Result<Certificate, NitroError> {
    let certificate =
        Certificate::from_der(der).map_err(|error| NitroError::MalformedCertificate {
            position,
            reason: error.to_string(),
        })?;
    if certificate.tbs_certificate.version != Version::V3 {
        return Err(NitroError::MalformedCertificate {
            position,
            reason: "it is not an X.509 v3 certificate".into(),
        });
    }
    Ok(certificate)
}

fn check_algorithms(
    certificate: &Certificate,
    position: CertificatePosition,
) -> Result<(), NitroError> {
    let outer = &certificate.signature_algorithm;
    if outer.oid != ECDSA_WITH_SHA384
        || outer.parameters.is_some()
        || certificate.tbs_certificate.signature != *outer
    {
        return Err(NitroError::CertificateAlgorithm {
            position,
            found: format!("signature algorithm {}", outer.oid),
        });
    }
    let key_algorithm = &certificate
        .tbs_certificate
        .subject_public_key_info
        .algorithm;
    let curve = key_algorithm
        .parameters
        .as_ref()
        .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
    if key_algorithm.oid != EC_PUBLIC_KEY || curve != Some(SECP384R1) {
        return Err(NitroError::CertificateAlgorithm {
            position,
            found: format!("key algorithm {} (curve {curve:?})", key_algorithm.oid),
        });
    }
    Ok(())
}

fn check_validity(
    certificate: &Certificate,
    position: CertificatePosition,
    at: u64,
) -> Result<(), NitroError> {
    let validity = &certificate.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if at < not_before {
        return Err(NitroError::CertificateNotYetValid {
            position,
            not_before,
            at,
        });
    }
    if at > not_after {
        return Err(NitroError::CertificateExpired {
            position,
            not_after,
            at,
        });
    }
    Ok(())
}

fn check_extensions(
    certificate: &Certificate,
    position: CertificatePosition,
    role: Role,
) -> Result<(), NitroError> {
    let refuse = |reason: String| NitroError::CertificateConstraints { position, reason };
    let extensions = certificate
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    let mut basic_constraints = None;
    let mut key_usage = None;
    for (i, extension) in extensions.iter().enumerate() {
        if extensions
            .iter()
            .skip(i + 1)
            .any(|other| other.extn_id == extension.extn_id)
        {
            return Err(refuse(format!(
                "the extension {} appears twice",
                extension.extn_id
            )));
        }
        let value = extension.extn_value.as_bytes();
        if extension.extn_id == BASIC_CONSTRAINTS {
            basic_constraints = Some(BasicConstraints::from_der(value).map_err(|error| {
                refuse(format!("its basicConstraints does not decode ({error})"))
            })?);
        } else if extension.extn_id == KEY_USAGE {
            key_usage = Some(
                KeyUsage::from_der(value)
                    .map_err(|error| refuse(format!("its keyUsage does not decode ({error})")))?,
            );
        } else if extension.critical {
            return Err(refuse(format!(
                "it has the critical extension {}, which this verifier does not understand",
                extension.extn_id
            )));
        }
    }
    let Some(key_usage) = key_usage else {
        return Err(refuse("it has no keyUsage extension".into()));
    };
    match role {
        Role::Authority { authorities_below } => {
            let Some(constraints) = basic_constraints.filter(|constraints| constraints.ca) else {
                return Err(refuse(
                    "it signs certificates but is not marked as a CA".into(),
                ));
            };
            if let Some(path_len) = constraints.path_len_constraint {
                if authorities_below > usize::from(path_len) {
                    return Err(refuse(format!(
                        "its pathLen {path_len} allows fewer than the {authorities_below} CA certificates below it"
                    )));
                }
            }
            if !key_usage.key_cert_sign() {
                return Err(refuse(
                    "it signs certificates but lacks keyUsage keyCertSign".into(),
                ));
            }
        }
        Role::Leaf => {
            if basic_constraints.is_some_and(|constraints| constraints.ca) {
                return Err(refuse("the signing certificate is marked as a CA".into()));
            }
            if !key_usage.digital_signature() {
                return Err(refuse("it lacks keyUsage digitalSignature".into()));
            }
        }
    }
    Ok(())
}

fn public_key(
    certificate: &Certificate,
    position: CertificatePosition,
) -> Result<EcdsaP384Key, NitroError> {
    EcdsaP384Key::from_spki(&certificate.tbs_certificate.subject_public_key_info).map_err(|_| {
        NitroError::MalformedCertificate {
            position,
            reason: "its public key is not a valid P-384 point".into(),
        }
    })
}

fn check_signature(
    child: &Certificate,
    position: CertificatePosition,
    issuer_key: &EcdsaP384Key,
) -> Result<(), NitroError> {
    let broken = || NitroError::ChainSignature { position };
    let signature = child.signature.as_bytes().ok_or_else(broken)?;
    // x509-cert decodes strict DER only, so encoding the parsed TBS gives back the signed bytes.
    let tbs = child.tbs_certificate.to_der().map_err(|_| broken())?;
    issuer_key.verify_der(&tbs, signature).map_err(|_| broken())
}
