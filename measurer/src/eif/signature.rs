//! Reading the signature section (type 4): decoding it strictly, measuring the certificate (PCR8) and
//! verifying the ES384 COSE_Sign1 over {register 0: PCR0}.
//!
//! Structural damage (bad CBOR, a certificate that does not parse) is an error: PCR8 cannot be computed.
//! A well-formed section whose signature does not check out is reported as [`SignatureStatus::Invalid`]
//! so the rest of the description (and PCR8) is still available.

use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey};
use serde::Serialize;
use x509_cert::der::Decode;
use x509_cert::Certificate;

use super::cbor::{CborError, CborReader};
use super::cose;
use super::error::EifError;
use super::signing::certificate_public_key;
use crate::digest::Digest384;
use crate::pcr::pcr8_of_der;

/// What the signature section says and whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureInfo {
    pub certificate_pem: String,
    /// RFC 4514 form, e.g. `CN=enclave signer,O=Example`.
    pub subject: String,
    pub issuer: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// The COSE algorithm of the signature, e.g. `ES384`.
    pub algorithm: String,
    pub status: SignatureStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SignatureStatus {
    /// The certificate's key signed {register 0: this image's PCR0}.
    Valid,
    /// Why the signature does not vouch for this image.
    Invalid(String),
}

/// The PEM block with this label (e.g. "CERTIFICATE"), markers included, if the text has one. The first
/// block wins, as with OpenSSL's `PEM_read`; text around it (e.g. `openssl x509 -text` output) is ignored.
pub(crate) fn pem_block<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)?;
    let after_begin = start.checked_add(begin.len())?;
    let end_at = text.get(after_begin..)?.find(&end)?;
    let stop = after_begin.checked_add(end_at)?.checked_add(end.len())?;
    text.get(start..stop)
}

/// The DER of a certificate given as PEM (first CERTIFICATE block) or as DER, checked to parse as X.509.
pub(crate) fn certificate_der(pem_or_der: &[u8]) -> Result<Vec<u8>, EifError> {
    let pem_text = std::str::from_utf8(pem_or_der)
        .ok()
        .and_then(|text| pem_block(text, "CERTIFICATE"));
    let der =
        match pem_text {
            Some(block) => {
                let (_, der) = x509_cert::der::pem::decode_vec(block.as_bytes()).map_err(|e| {
                    EifError::Certificate(format!("the CERTIFICATE PEM block does not decode: {e}"))
                })?;
                der
            }
            None if pem_or_der.first() == Some(&0x30) => pem_or_der.to_vec(),
            None => return Err(EifError::Certificate(
                "neither a PEM file with a CERTIFICATE block nor DER: pass the signing certificate"
                    .into(),
            )),
        };
    Certificate::from_der(&der)
        .map_err(|e| EifError::Certificate(format!("not an X.509 certificate: {e}")))?;
    Ok(der)
}

/// Decodes and checks a signature section against the image's PCR0; returns the report and PCR8.
pub(crate) fn inspect_signature_section(
    section: &[u8],
    pcr0: &Digest384,
) -> Result<(SignatureInfo, Digest384), EifError> {
    let entry = decode_section(section).map_err(|e| EifError::MalformedSignature(e.to_string()))?;
    let der = certificate_der(&entry.certificate_pem)?;
    let pcr8 = pcr8_of_der(&der);
    let certificate = Certificate::from_der(&der)
        .map_err(|e| EifError::Certificate(format!("not an X.509 certificate: {e}")))?;
    let cose = decode_cose_sign1(&entry.cose_sign1)
        .map_err(|e| EifError::MalformedSignature(format!("the COSE_Sign1 is malformed: {e}")))?;

    let tbs = &certificate.tbs_certificate;
    let info = SignatureInfo {
        certificate_pem: String::from_utf8_lossy(&entry.certificate_pem).into_owned(),
        subject: tbs.subject.to_string(),
        issuer: tbs.issuer.to_string(),
        not_before: tbs.validity.not_before.to_string(),
        not_after: tbs.validity.not_after.to_string(),
        algorithm: cose
            .algorithm
            .map_or_else(|| "none".to_string(), cose::algorithm_name),
        status: verify(&certificate, &cose, pcr0),
    };
    Ok((info, pcr8))
}

struct SectionEntry {
    certificate_pem: Vec<u8>,
    cose_sign1: Vec<u8>,
}

/// `[{"signing_certificate": [uint...], "signature": [uint...]}]`, nothing before or after. Exactly one
/// entry: AWS verifies only the first, so any further entry would be unverified data.
fn decode_section(section: &[u8]) -> Result<SectionEntry, CborError> {
    let mut reader = CborReader::new(section);
    let entries = reader.array()?;
    if entries != 1 {
        return Err(CborError {
            offset: 0,
            message: format!("expected an array of exactly one signature entry, found {entries}"),
        });
    }
    let fields = reader.map()?;
    let mut certificate_pem = None;
    let mut cose_sign1 = None;
    for _ in 0..fields {
        let key = reader.text()?;
        let slot = match key {
            "signing_certificate" => &mut certificate_pem,
            "signature" => &mut cose_sign1,
            other => {
                return Err(CborError {
                    offset: 0,
                    message: format!("unexpected field {other:?}"),
                })
            }
        };
        if slot.replace(reader.byte_array()?).is_some() {
            return Err(CborError {
                offset: 0,
                message: format!("field {key:?} appears twice"),
            });
        }
    }
    reader.finish("signature entry array")?;
    match (certificate_pem, cose_sign1) {
        (Some(certificate_pem), Some(cose_sign1)) => Ok(SectionEntry {
            certificate_pem,
            cose_sign1,
        }),
        _ => Err(CborError {
            offset: 0,
            message: "the entry lacks signing_certificate or signature".into(),
        }),
    }
}

struct CoseSign1 {
    protected: Vec<u8>,
    algorithm: Option<i128>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn decode_cose_sign1(bytes: &[u8]) -> Result<CoseSign1, CborError> {
    let mut reader = CborReader::new(bytes);
    reader.skip_tag(cose::COSE_SIGN1_TAG)?;
    let items = reader.array()?;
    if items != 4 {
        return Err(CborError {
            offset: 0,
            message: format!("COSE_Sign1 has 4 elements, this has {items}"),
        });
    }
    let protected = reader.bytes()?.to_vec();
    reader.skip_value()?;
    let payload = reader.bytes()?.to_vec();
    let signature = reader.bytes()?.to_vec();
    reader.finish("COSE_Sign1")?;
    let algorithm = protected_algorithm(&protected).map_err(|e| CborError {
        offset: e.offset,
        message: format!("in the protected header: {}", e.message),
    })?;
    Ok(CoseSign1 {
        protected,
        algorithm,
        payload,
        signature,
    })
}

/// The "alg" label of a serialised protected header map (an empty byte string means an empty map).
fn protected_algorithm(protected: &[u8]) -> Result<Option<i128>, CborError> {
    if protected.is_empty() {
        return Ok(None);
    }
    let mut reader = CborReader::new(protected);
    let mut algorithm = None;
    for _ in 0..reader.map()? {
        if reader.integer()? == i128::from(cose::HEADER_ALG) {
            algorithm = Some(reader.integer()?);
        } else {
            reader.skip_value()?;
        }
    }
    reader.finish("protected header")?;
    Ok(algorithm)
}

fn verify(certificate: &Certificate, cose: &CoseSign1, pcr0: &Digest384) -> SignatureStatus {
    let invalid = |reason: String| SignatureStatus::Invalid(reason);
    match cose.algorithm {
        Some(alg) if alg == i128::from(cose::ALG_ES384) => {}
        Some(alg) => {
            return invalid(format!(
                "unsupported signature algorithm {}: only ES384 is supported",
                cose::algorithm_name(alg)
            ))
        }
        None => return invalid("the protected header names no algorithm".into()),
    }
    let public_key = match certificate_public_key(certificate) {
        Ok(key) => key,
        Err(reason) => return invalid(format!("unsupported certificate key: {reason}")),
    };
    let signature = match Signature::from_slice(&cose.signature) {
        Ok(signature) => signature,
        Err(_) => {
            return invalid(format!(
                "the signature is {} bytes, not a 96-byte ES384 r‖s",
                cose.signature.len()
            ))
        }
    };
    let message = cose::sig_structure(&cose.protected, &cose.payload);
    if VerifyingKey::from(public_key)
        .verify(&message, &signature)
        .is_err()
    {
        return invalid(
            "the COSE signature does not verify with the certificate's public key".into(),
        );
    }
    if cose.payload != cose::pcr_payload(pcr0) {
        return invalid(
            "the signature is genuine but signs a different PCR0: it belongs to another image"
                .into(),
        );
    }
    SignatureStatus::Valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_block_finds_the_first_block_amid_other_text() {
        let text = "Certificate:\n  junk\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n";
        assert_eq!(
            pem_block(text, "CERTIFICATE"),
            Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
        );
        assert_eq!(pem_block(text, "PRIVATE KEY"), None);
        assert_eq!(pem_block("-----BEGIN X-----\nno end", "X"), None);
    }

    #[test]
    fn garbage_certificates_are_errors_not_panics() {
        assert!(matches!(
            certificate_der(b"hello"),
            Err(EifError::Certificate(_))
        ));
        assert!(matches!(
            certificate_der(&[0x30, 0x82, 0xff]),
            Err(EifError::Certificate(_))
        ));
        let bad_pem = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            certificate_der(bad_pem),
            Err(EifError::Certificate(_))
        ));
    }

    #[test]
    fn section_decoding_rejects_wrong_shapes() {
        for (bytes, expected) in [
            (&[0x80][..], "exactly one"),
            (&[0x81, 0xa0, 0x00][..], "trailing"),
            (&[0x81, 0xa1, 0x61, b'x', 0x80][..], "unexpected field"),
            (&[0x81, 0xa0][..], "lacks"),
        ] {
            let error = decode_section(bytes).err().unwrap();
            assert!(error.message.contains(expected), "{bytes:02x?}: {error}");
        }
    }
}
