//! AWS Nitro Enclaves attestation documents, verified the way a wallet must: fail closed.
//!
//! [`verify_document`] establishes that AWS's hardware signed the document (envelope, strict
//! payload, certificate path to a pinned root, COSE signature). What the document *says* is then
//! judged by the `check_*` methods of [`NitroDocument`]: freshness, the session's nonce and
//! bindings, debug mode and the expected PCRs. A wallet calls all that apply; none is implied.

mod cbor;
mod chain;
mod cose;
mod error;
mod payload;
#[cfg(any(test, feature = "test-keys"))]
pub mod testing;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use error::{CertificatePosition, NitroError};

use crate::signature::VerifiedLinks;

/// Real documents are about 5 KiB; the cap bounds all work before any parsing.
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024;

/// SHA-256 of the DER of "AWS Nitro Enclaves Root G1" (CN=aws.nitro-enclaves, valid 2019–2049).
/// Not the hash of AWS's download zip (8cf60e2b…), which is a different thing.
pub const AWS_NITRO_ROOT_G1_SHA256: [u8; 32] = [
    0x64, 0x1a, 0x03, 0x21, 0xa3, 0xe2, 0x44, 0xef, 0xe4, 0x56, 0x46, 0x31, 0x95, 0xd6, 0x06, 0x31,
    0x7e, 0xd7, 0xcd, 0xcc, 0x3c, 0x17, 0x56, 0xe0, 0x98, 0x93, 0xf3, 0xc6, 0x8f, 0x79, 0xbb, 0x5b,
];

/// The roots a document's `cabundle[0]` may be (by SHA-256 of its DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NitroTrust {
    pub root_sha256: Vec<[u8; 32]>,
}

impl Default for NitroTrust {
    /// Only AWS's production root.
    fn default() -> Self {
        NitroTrust {
            root_sha256: vec![AWS_NITRO_ROOT_G1_SHA256],
        }
    }
}

/// A document whose signature and certificate path verified. Its claims are not yet judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NitroDocument {
    pub module_id: String,
    /// Milliseconds since the Unix epoch, set by the Nitro hypervisor.
    pub timestamp_ms: u64,
    /// Always "SHA384" (anything else is refused).
    pub digest: String,
    pub pcrs: BTreeMap<u8, Vec<u8>>,
    /// The leaf certificate (DER) whose key signed the document.
    pub certificate: Vec<u8>,
    pub public_key: Option<Vec<u8>>,
    pub user_data: Option<Vec<u8>>,
    pub nonce: Option<Vec<u8>>,
}

/// Verifies everything that makes `document` a genuine AWS Nitro attestation: size, COSE_Sign1
/// envelope (ES384), strict payload, the path leaf ← cabundle[N] ← … ← cabundle[0] with
/// cabundle[0] pinned by `trust`, every certificate valid at `at_unix_seconds`, and the COSE
/// signature over the received bytes. Freshness, nonce, debug mode and PCRs are left to the
/// `check_*` methods of the result.
pub fn verify_document(
    document: &[u8],
    trust: &NitroTrust,
    at_unix_seconds: u64,
) -> Result<NitroDocument, NitroError> {
    verify_with_links(document, trust, at_unix_seconds, &VerifiedLinks::disabled())
}

/// [`verify_document`] for a verifier that sees many documents (a registry, a wallet talking to a
/// fleet): the certificate signatures it has verified once are remembered (see
/// [`VerifiedLinks`]), so a document from a known enclave costs one ECDSA verification instead of
/// five. Every other check runs on every document.
#[derive(Debug)]
pub struct NitroVerifier {
    trust: NitroTrust,
    links: VerifiedLinks,
}

impl NitroVerifier {
    pub fn new(trust: NitroTrust) -> Self {
        NitroVerifier {
            trust,
            links: VerifiedLinks::default(),
        }
    }

    pub fn trust(&self) -> &NitroTrust {
        &self.trust
    }

    pub fn verify(
        &self,
        document: &[u8],
        at_unix_seconds: u64,
    ) -> Result<NitroDocument, NitroError> {
        verify_with_links(document, &self.trust, at_unix_seconds, &self.links)
    }
}

pub(crate) fn verify_with_links(
    document: &[u8],
    trust: &NitroTrust,
    at_unix_seconds: u64,
    links: &VerifiedLinks,
) -> Result<NitroDocument, NitroError> {
    if document.len() > MAX_DOCUMENT_BYTES {
        return Err(NitroError::TooLarge {
            size: document.len(),
            max: MAX_DOCUMENT_BYTES,
        });
    }
    let envelope = cose::CoseSign1::parse(document)?;
    let payload = payload::AttestationPayload::parse(&envelope.payload)?;
    let leaf_key = chain::verify_chain(
        &payload.certificate,
        &payload.cabundle,
        trust,
        at_unix_seconds,
        links,
    )?;
    envelope.verify(&leaf_key)?;
    Ok(NitroDocument {
        module_id: payload.module_id,
        timestamp_ms: payload.timestamp_ms,
        digest: payload.digest,
        pcrs: payload.pcrs,
        certificate: payload.certificate,
        public_key: payload.public_key,
        user_data: payload.user_data,
        nonce: payload.nonce,
    })
}

impl NitroDocument {
    /// An enclave started with `--debug-mode` gets documents with PCR0, PCR1 and PCR2 zeroed
    /// (its memory can be read by the parent, so its measurements mean nothing). A zero PCR8
    /// alone only means an unsigned image, so it is not looked at.
    pub fn is_debug(&self) -> bool {
        [0u8, 1, 2].iter().all(|index| {
            self.pcrs
                .get(index)
                .is_none_or(|value| value.iter().all(|&byte| byte == 0))
        })
    }

    /// The document was produced at most `max_age_ms` before `now_unix_ms`, and at most
    /// `max_future_skew_ms` after it (clocks differ a little).
    pub fn check_freshness(
        &self,
        now_unix_ms: u64,
        max_age_ms: u64,
        max_future_skew_ms: u64,
    ) -> Result<(), NitroError> {
        if self.timestamp_ms > now_unix_ms {
            let ahead_ms = self.timestamp_ms - now_unix_ms;
            if ahead_ms > max_future_skew_ms {
                return Err(NitroError::FromTheFuture {
                    ahead_ms,
                    max_skew_ms: max_future_skew_ms,
                });
            }
            return Ok(());
        }
        let age_ms = now_unix_ms - self.timestamp_ms;
        if age_ms > max_age_ms {
            return Err(NitroError::Stale { age_ms, max_age_ms });
        }
        Ok(())
    }

    /// The document answers this session's challenge: its nonce is present and equal.
    pub fn check_nonce(&self, expected: &[u8]) -> Result<(), NitroError> {
        match &self.nonce {
            None => Err(NitroError::NonceMissing),
            Some(nonce) if nonce.as_slice() == expected => Ok(()),
            Some(_) => Err(NitroError::NonceMismatch),
        }
    }

    /// The enclave bound `expected` (e.g. a transcript hash) into the document.
    pub fn check_user_data(&self, expected: &[u8]) -> Result<(), NitroError> {
        match &self.user_data {
            None => Err(NitroError::UserDataMissing),
            Some(user_data) if user_data.as_slice() == expected => Ok(()),
            Some(_) => Err(NitroError::UserDataMismatch),
        }
    }

    /// `Some(key)`: the document carries exactly this public key. `None`: it carries none (a
    /// key the wallet did not ask for is not silently accepted).
    pub fn check_public_key(&self, expected: Option<&[u8]>) -> Result<(), NitroError> {
        match (self.public_key.as_deref(), expected) {
            (Some(found), Some(expected)) if found == expected => Ok(()),
            (None, None) => Ok(()),
            (Some(_), Some(_)) => Err(NitroError::PublicKeyMismatch(
                "it carries a different key; the document belongs to another session or enclave"
                    .into(),
            )),
            (None, Some(_)) => Err(NitroError::PublicKeyMismatch(
                "it carries none; the enclave did not bind its key into the document".into(),
            )),
            (Some(_), None) => Err(NitroError::PublicKeyMismatch(
                "it carries one where none was expected; update the expectation or reject it"
                    .into(),
            )),
        }
    }

    /// Every expected register must be present and byte-equal. Iterates over the *expected*
    /// indexes, never over the document's: a document that omits a register fails
    /// (Evervault CVE-2025-64186 accepted documents that simply left PCRs out). An empty
    /// expectation is refused too: it would vouch for any enclave (privkeyio/keep#577).
    pub fn check_pcrs(&self, expected: &BTreeMap<u8, Vec<u8>>) -> Result<(), NitroError> {
        if expected.is_empty() {
            return Err(NitroError::PcrPolicyEmpty);
        }
        for (&index, expected_value) in expected {
            match self.pcrs.get(&index) {
                None => return Err(NitroError::PcrMissing { index }),
                Some(value) if value == expected_value => {}
                Some(_) => return Err(NitroError::PcrMismatch { index }),
            }
        }
        Ok(())
    }
}
