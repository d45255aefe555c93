//! AMD's certificate chain: leaf (VCEK/VLEK) → ASK/ASVK → ARK, every link RSASSA-PSS with
//! SHA-384, MGF1-SHA-384 and a 48-byte salt, the ARK self-signed and pinned by fingerprint.

use rsa::pkcs1::RsaPssParams;
use sha2::Digest;
use x509_cert::der::asn1::{BitString, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Decode, DecodePem, Encode};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::{Product, SigningKeyKind, SnpError, SnpTrust};
use crate::signature::RsaPssSha384Key;

/// Largest certificate accepted (AMD's RSA-4096 certificates are about 1.7 KiB).
pub const MAX_CERTIFICATE_BYTES: usize = 16 * 1024;

const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const PSS_SALT_BYTES: u8 = 48;

/// A CA certificate (ASK, ASVK or ARK) with its RSA key ready for PSS verification.
#[derive(Clone)]
pub(crate) struct CaCertificate {
    pub der: Vec<u8>,
    pub cert: Certificate,
    pub key: RsaPssSha384Key,
}

/// The intermediate and root that vouch for leaves of one product and key kind, already checked
/// against each other and the pinned fingerprints (validity in time is checked per use).
#[derive(Clone)]
pub(crate) struct Issuers {
    pub product: Product,
    pub kind: SigningKeyKind,
    pub intermediate: CaCertificate,
    pub ark: CaCertificate,
}

impl CaCertificate {
    pub fn parse(der: &[u8], which: &'static str) -> Result<Self, SnpError> {
        let malformed = |m: String| SnpError::MalformedCertificate(format!("{which}: {m}"));
        if der.len() > MAX_CERTIFICATE_BYTES {
            return Err(malformed(format!(
                "{} bytes, more than the {MAX_CERTIFICATE_BYTES} accepted",
                der.len()
            )));
        }
        let cert = Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let key = RsaPssSha384Key::from_spki(&cert.tbs_certificate.subject_public_key_info)
            .map_err(|e| malformed(e.to_string()))?;
        let is_ca = cert
            .tbs_certificate
            .get::<BasicConstraints>()
            .map_err(|e| malformed(e.to_string()))?
            .is_some_and(|(_, constraints)| constraints.ca);
        if !is_ca {
            return Err(SnpError::Chain(format!(
                "the {which} is not a CA certificate (basicConstraints CA is not set)"
            )));
        }
        Ok(CaCertificate {
            der: der.to_vec(),
            cert,
            key,
        })
    }

    pub fn serial(&self) -> &SerialNumber {
        &self.cert.tbs_certificate.serial_number
    }

    pub fn subject(&self) -> &Name {
        &self.cert.tbs_certificate.subject
    }
}

impl Issuers {
    /// Checks an intermediate and an ARK for leaves of `product` and `kind`: the ARK pinned,
    /// self-signed and named for the product, the intermediate named for product and kind and
    /// signed by the ARK.
    pub fn verify(
        intermediate_der: &[u8],
        ark_der: &[u8],
        product: Product,
        kind: SigningKeyKind,
        trust: &SnpTrust,
    ) -> Result<Issuers, SnpError> {
        let fingerprint: [u8; 32] = sha2::Sha256::digest(ark_der).into();
        if !trust.ark_sha256.contains(&fingerprint) {
            return Err(SnpError::RootNotPinned(hex::encode(fingerprint)));
        }
        let ark = CaCertificate::parse(ark_der, "ARK")?;
        let ark_name = format!("ARK-{}", product.name());
        expect_common_name(ark.subject(), &ark_name, "ARK", product)?;
        if ark.cert.tbs_certificate.issuer != *ark.subject() {
            return Err(SnpError::Chain("the ARK is not self-issued".into()));
        }
        verify_signed_certificate(&ark.cert, &ark.key, "ARK", "itself")?;

        let intermediate = CaCertificate::parse(intermediate_der, kind.intermediate_name())?;
        let intermediate_name = match kind {
            SigningKeyKind::Vcek => format!("SEV-{}", product.name()),
            SigningKeyKind::Vlek => format!("SEV-VLEK-{}", product.name()),
        };
        expect_common_name(
            intermediate.subject(),
            &intermediate_name,
            kind.intermediate_name(),
            product,
        )?;
        if intermediate.cert.tbs_certificate.issuer != *ark.subject() {
            return Err(SnpError::Chain(format!(
                "the {} was not issued by {ark_name}",
                kind.intermediate_name()
            )));
        }
        verify_signed_certificate(
            &intermediate.cert,
            &ark.key,
            kind.intermediate_name(),
            "the ARK",
        )?;
        Ok(Issuers {
            product,
            kind,
            intermediate,
            ark,
        })
    }

    /// The built-in AMD intermediate and ARK for `product` and `kind`.
    pub fn builtin_ders(
        product: Product,
        kind: SigningKeyKind,
    ) -> Result<(Vec<u8>, Vec<u8>), SnpError> {
        let (intermediate, ark) = super::trust::builtin_pems(product, kind);
        let der = |pem: &str| {
            Certificate::from_pem(pem)
                .and_then(|c| c.to_der())
                .map_err(|e| {
                    SnpError::MalformedCertificate(format!("built-in AMD certificate: {e}"))
                })
        };
        Ok((der(intermediate)?, der(ark)?))
    }
}

/// Verifies a certificate's RSASSA-PSS signature made by `issuer_key`.
pub(crate) fn verify_signed_certificate(
    cert: &Certificate,
    issuer_key: &RsaPssSha384Key,
    which: &str,
    issuer: &str,
) -> Result<(), SnpError> {
    if cert.tbs_certificate.signature != cert.signature_algorithm {
        return Err(SnpError::Chain(format!(
            "the {which}'s two signature algorithm fields differ"
        )));
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|e| SnpError::MalformedCertificate(format!("{which}: {e}")))?;
    verify_pss(&tbs, &cert.signature_algorithm, &cert.signature, issuer_key)
        .map_err(|why| SnpError::Chain(format!("the {which} is not signed by {issuer} ({why})")))
}

/// RSASSA-PSS verification that first insists on AMD's exact parameters, so a weaker hash or
/// salt cannot be substituted.
pub(crate) fn verify_pss(
    message: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &BitString,
    key: &RsaPssSha384Key,
) -> Result<(), &'static str> {
    if algorithm.oid != RSASSA_PSS {
        return Err("signature algorithm is not RSASSA-PSS");
    }
    let parameters = algorithm
        .parameters
        .as_ref()
        .ok_or("RSASSA-PSS without parameters")?;
    let parameters = parameters
        .to_der()
        .map_err(|_| "unreadable RSASSA-PSS parameters")?;
    let parameters =
        RsaPssParams::from_der(&parameters).map_err(|_| "unreadable RSASSA-PSS parameters")?;
    let mgf_hash = parameters.mask_gen.parameters.as_ref().map(|hash| hash.oid);
    if parameters.hash.oid != SHA384
        || parameters.mask_gen.oid != MGF1
        || mgf_hash != Some(SHA384)
        || parameters.salt_len != PSS_SALT_BYTES
    {
        return Err("RSASSA-PSS parameters are not SHA-384, MGF1-SHA-384, salt 48");
    }
    let signature = signature
        .as_bytes()
        .ok_or("signature is not a whole number of bytes")?;
    key.verify(message, signature)
        .map_err(|_| "signature does not verify")
}

/// Checks `cert` is valid at `at` (Unix seconds).
pub(crate) fn check_validity(
    cert: &Certificate,
    which: &'static str,
    at: u64,
) -> Result<(), SnpError> {
    let validity = &cert.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if at < not_before || at > not_after {
        return Err(SnpError::CertificateExpired {
            which,
            at,
            not_before,
            not_after,
        });
    }
    Ok(())
}

/// The first common name (CN) of a distinguished name, if it is a UTF-8 or printable string.
pub(crate) fn common_name(name: &Name) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == COMMON_NAME)
        .and_then(|atv| {
            Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    PrintableStringRef::try_from(&atv.value).map(|s| s.as_str().to_owned())
                })
                .ok()
        })
}

fn expect_common_name(
    name: &Name,
    expected: &str,
    which: &str,
    product: Product,
) -> Result<(), SnpError> {
    let actual = common_name(name);
    if actual.as_deref() != Some(expected) {
        return Err(SnpError::WrongProduct(format!(
            "the leaf is for {} but the {which} is {actual:?} (expected {expected:?}); use the {} certificates",
            product.name(),
            product.name()
        )));
    }
    Ok(())
}

impl SigningKeyKind {
    /// The name of the intermediate that signs this kind of leaf.
    pub fn intermediate_name(self) -> &'static str {
        match self {
            SigningKeyKind::Vcek => "ASK",
            SigningKeyKind::Vlek => "ASVK",
        }
    }
}
