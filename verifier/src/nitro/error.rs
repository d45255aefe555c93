//! Everything that can make a Nitro attestation document unacceptable, each with a stable code that
//! wallets and the CLI can match on (the messages may be reworded; the codes may not).

use std::fmt;

/// Where a certificate sits in the document, so a message says which one failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificatePosition {
    /// The `certificate` field: the enclave's signing certificate.
    Leaf,
    /// `cabundle[i]`; index 0 is the root.
    Bundle(usize),
}

impl fmt::Display for CertificatePosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificatePosition::Leaf => write!(f, "the leaf certificate (`certificate`)"),
            CertificatePosition::Bundle(0) => write!(f, "the root certificate (cabundle[0])"),
            CertificatePosition::Bundle(i) => write!(f, "cabundle[{i}]"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NitroError {
    #[error("the attestation document is {size} bytes, more than the {max} accepted; a real document is about 5 KiB, so this is not one")]
    TooLarge { size: usize, max: usize },

    #[error("the attestation document is not a well-formed COSE_Sign1: {0}; pass the raw bytes returned by the enclave's NSM GetAttestationDoc call")]
    MalformedCose(String),

    #[error("the COSE protected header is not exactly {{1: -35}} (ES384), which AWS Nitro always uses; this document was not made by an AWS Nitro hypervisor")]
    WrongAlgorithm,

    #[error("the attestation document's payload is malformed: {0}; it is not an AWS Nitro AttestationDoc")]
    MalformedPayload(String),

    #[error("{position} is not a well-formed X.509 certificate: {reason}")]
    MalformedCertificate {
        position: CertificatePosition,
        reason: String,
    },

    #[error("the document's root certificate (SHA-256 {sha256_hex}) is not one the wallet trusts; only the pinned AWS Nitro Enclaves root (or a root configured in NitroTrust) is accepted")]
    RootNotPinned { sha256_hex: String },

    #[error("{position} is not issued by the certificate above it: its issuer name differs from that certificate's subject; the chain is broken or reordered")]
    ChainNameMismatch { position: CertificatePosition },

    #[error("the signature on {position} does not verify with the key of the certificate above it; the chain was tampered with")]
    ChainSignature { position: CertificatePosition },

    #[error("{position} uses {found} where AWS Nitro uses ecdsa-with-SHA384 and P-384 keys throughout; reject the document")]
    CertificateAlgorithm {
        position: CertificatePosition,
        found: String,
    },

    #[error("{position} expired at {not_after} (Unix seconds) and the document is checked at {at}; ask the enclave for a fresh document (or check a recorded one at its own time)")]
    CertificateExpired {
        position: CertificatePosition,
        not_after: u64,
        at: u64,
    },

    #[error("{position} is valid only from {not_before} (Unix seconds) and the document is checked at {at}; check the wallet's clock")]
    CertificateNotYetValid {
        position: CertificatePosition,
        not_before: u64,
        at: u64,
    },

    #[error("{position} may not be used where it is: {reason}")]
    CertificateConstraints {
        position: CertificatePosition,
        reason: String,
    },

    #[error("the COSE signature does not verify with the leaf certificate's key; the document was altered after the enclave produced it")]
    Signature,

    #[error("the document was produced {age_ms} ms ago, more than the {max_age_ms} ms allowed; ask the enclave for a fresh document")]
    Stale { age_ms: u64, max_age_ms: u64 },

    #[error("the document's timestamp is {ahead_ms} ms in the future, more than the {max_skew_ms} ms of clock skew allowed; check the wallet's clock")]
    FromTheFuture { ahead_ms: u64, max_skew_ms: u64 },

    #[error("the document carries no nonce but the wallet sent one; without it the document may be a replay, so ask again passing the nonce to the enclave")]
    NonceMissing,

    #[error("the document's nonce is not the one the wallet sent for this session; it may be a replay, so reject it")]
    NonceMismatch,

    #[error("the document carries no user_data but the session expects some; the enclave did not bind this session")]
    UserDataMissing,

    #[error("the document's user_data is not what this session expects; the document belongs to another session")]
    UserDataMismatch,

    #[error("the document's public_key is not the one expected: {0}")]
    PublicKeyMismatch(String),

    #[error("the document has no PCR{index} but the policy expects it; a missing register is a failure, never a skip (CVE-2025-64186)")]
    PcrMissing { index: u8 },

    #[error("the PCR policy expects no register at all, so it would accept any enclave; configure the expected PCR0/1/2 (and PCR8 for a signed image)")]
    PcrPolicyEmpty,

    #[error("PCR{index} in the document differs from the policy's value; the enclave is not running the expected image")]
    PcrMismatch { index: u8 },
}

impl NitroError {
    /// A stable kebab-case identifier of the variant.
    pub fn code(&self) -> &'static str {
        match self {
            NitroError::TooLarge { .. } => "nitro-too-large",
            NitroError::MalformedCose(_) => "nitro-malformed-cose",
            NitroError::WrongAlgorithm => "nitro-wrong-algorithm",
            NitroError::MalformedPayload(_) => "nitro-malformed-payload",
            NitroError::MalformedCertificate { .. } => "nitro-malformed-certificate",
            NitroError::RootNotPinned { .. } => "nitro-root-not-pinned",
            NitroError::ChainNameMismatch { .. } => "nitro-chain-name-mismatch",
            NitroError::ChainSignature { .. } => "nitro-chain-signature",
            NitroError::CertificateAlgorithm { .. } => "nitro-certificate-algorithm",
            NitroError::CertificateExpired { .. } => "nitro-certificate-expired",
            NitroError::CertificateNotYetValid { .. } => "nitro-certificate-not-yet-valid",
            NitroError::CertificateConstraints { .. } => "nitro-certificate-constraints",
            NitroError::Signature => "nitro-signature",
            NitroError::Stale { .. } => "nitro-stale",
            NitroError::FromTheFuture { .. } => "nitro-from-the-future",
            NitroError::NonceMissing => "nitro-nonce-missing",
            NitroError::NonceMismatch => "nitro-nonce-mismatch",
            NitroError::UserDataMissing => "nitro-user-data-missing",
            NitroError::UserDataMismatch => "nitro-user-data-mismatch",
            NitroError::PublicKeyMismatch(_) => "nitro-public-key-mismatch",
            NitroError::PcrMissing { .. } => "nitro-pcr-missing",
            NitroError::PcrMismatch { .. } => "nitro-pcr-mismatch",
            NitroError::PcrPolicyEmpty => "nitro-pcr-policy-empty",
        }
    }
}
