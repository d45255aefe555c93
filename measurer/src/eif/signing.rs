//! Producing the signature section (type 4): an ES384 COSE_Sign1 over {register 0: PCR0}, next to the
//! signing certificate. ECDSA uses RFC 6979 deterministic nonces, so our signed EIFs are reproducible
//! (AWS's, signed through OpenSSL with random nonces, differ on every build; their PCRs do not).

use std::fmt;

use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey};
use p384::pkcs8::DecodePrivateKey;
use p384::{PublicKey, SecretKey};
use x509_cert::der::{Decode, Encode};
use x509_cert::spki::DecodePublicKey;
use x509_cert::Certificate;

use super::cbor;
use super::cose;
use super::error::EifError;
use super::format::MAX_SIGNATURE_SIZE;
use super::signature::{certificate_der, pem_block};
use crate::digest::Digest384;

/// A P-384 private key and the certificate (PEM, stored as given in the EIF) it signs for.
#[derive(Clone)]
pub struct SigningMaterial {
    signing_key: SigningKey,
    certificate_pem: Vec<u8>,
    certificate_der: Vec<u8>,
}

impl fmt::Debug for SigningMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("SigningMaterial")
            .field("certificate_pem_len", &self.certificate_pem.len())
            .finish()
    }
}

impl SigningMaterial {
    /// Accepts a SEC1 (`EC PRIVATE KEY`, as `openssl ecparam -genkey` writes) or PKCS#8 (`PRIVATE KEY`)
    /// P-384 key, and a PEM certificate whose public key must be the key's.
    pub fn from_pem(private_key_pem: &[u8], certificate_pem: &[u8]) -> Result<Self, EifError> {
        let key_text = std::str::from_utf8(private_key_pem)
            .map_err(|_| EifError::SigningKey("the private key file is not PEM text".into()))?;
        let secret = parse_p384_secret_key(key_text)?;

        let certificate_der = certificate_der(certificate_pem)?;
        let certificate = Certificate::from_der(&certificate_der)
            .map_err(|e| EifError::Certificate(format!("not an X.509 certificate: {e}")))?;
        let certificate_key =
            certificate_public_key(&certificate).map_err(EifError::Certificate)?;
        if certificate_key != secret.public_key() {
            return Err(EifError::KeyCertificateMismatch);
        }
        Ok(SigningMaterial {
            signing_key: SigningKey::from(secret),
            certificate_pem: certificate_pem.to_vec(),
            certificate_der,
        })
    }

    pub fn certificate_pem(&self) -> &[u8] {
        &self.certificate_pem
    }

    /// The DER of the certificate, which PCR8 measures.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The complete signature section data for an image whose PCR0 is `pcr0`.
    pub(crate) fn signature_section(&self, pcr0: &Digest384) -> Result<Vec<u8>, EifError> {
        let protected = cose::es384_protected_header();
        let payload = cose::pcr_payload(pcr0);
        let signature: Signature = self
            .signing_key
            .sign(&cose::sig_structure(&protected, &payload));
        let cose_sign1 = cose::cose_sign1(&protected, &payload, &signature.to_bytes());

        let mut section =
            Vec::with_capacity(2 * (self.certificate_pem.len() + cose_sign1.len()) + 64);
        cbor::write_array_head(&mut section, 1);
        cbor::write_map_head(&mut section, 2);
        cbor::write_text(&mut section, "signing_certificate");
        cbor::write_byte_array(&mut section, &self.certificate_pem);
        cbor::write_text(&mut section, "signature");
        cbor::write_byte_array(&mut section, &cose_sign1);
        if section.len() as u64 > MAX_SIGNATURE_SIZE {
            return Err(EifError::InputTooLarge {
                what: format!(
                    "the signature section for this {}-byte certificate PEM",
                    self.certificate_pem.len()
                ),
                size: section.len() as u64,
                limit: MAX_SIGNATURE_SIZE,
            });
        }
        Ok(section)
    }
}

fn parse_p384_secret_key(key_text: &str) -> Result<SecretKey, EifError> {
    let not_p384 = |e: &dyn fmt::Display| {
        EifError::SigningKey(format!(
            "not a valid P-384 key ({e}): only P-384 keys (ES384 signatures) are supported"
        ))
    };
    if let Some(block) = pem_block(key_text, "EC PRIVATE KEY") {
        return SecretKey::from_sec1_pem(block).map_err(|e| not_p384(&e));
    }
    if let Some(block) = pem_block(key_text, "PRIVATE KEY") {
        return SecretKey::from_pkcs8_pem(block).map_err(|e| not_p384(&e));
    }
    if pem_block(key_text, "ENCRYPTED PRIVATE KEY").is_some() {
        return Err(EifError::SigningKey(
            "the private key is encrypted: decrypt it first (openssl pkey -in KEY -out PLAIN)"
                .into(),
        ));
    }
    Err(EifError::SigningKey(
        "no \"EC PRIVATE KEY\" or \"PRIVATE KEY\" PEM block found".into(),
    ))
}

/// The certificate's subject public key as a P-384 key, or why it is not one.
pub(crate) fn certificate_public_key(certificate: &Certificate) -> Result<PublicKey, String> {
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| format!("cannot re-encode its public key: {e}"))?;
    PublicKey::from_public_key_der(&spki).map_err(|_| {
        format!(
            "its public key ({}) is not a P-384 key: only P-384 (ES384) is supported",
            certificate
                .tbs_certificate
                .subject_public_key_info
                .algorithm
                .oid
        )
    })
}
