//! c2sp.org/tlog-cosignature, Ed25519 version (signature type 0x04): a witness signs
//! `cosignature/v1\ntime <T>\n` followed by the checkpoint text, and the signature line carries
//! `key ID ‖ u64 big-endian T ‖ 64-byte signature`. The time is always an argument: this crate has
//! no clock.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::keys::SignatureInvalid;

/// Cosignature timestamps must not exceed 2^63 - 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;
/// Timestamp (8 bytes) and Ed25519 signature (64 bytes).
pub const COSIGNATURE_BYTES: usize = 72;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    #[error("cosignature timestamp {0} exceeds 2^63 - 1: pass POSIX seconds")]
    TimestampTooLarge(u64),
    #[error(
        "this key is not a cosigner (type 0x04) key: generate one with KeyKind::CosignatureV1"
    )]
    NotACosignerKey,
}

/// The message a cosigner signs for `checkpoint_text` at `timestamp`.
pub fn signed_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    let mut message = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    message.extend_from_slice(checkpoint_text.as_bytes());
    message
}

/// The signature bytes after the key ID: u64 big-endian timestamp ‖ Ed25519 signature.
pub(crate) fn sign(
    key: &SigningKey,
    checkpoint_text: &str,
    timestamp: u64,
) -> Result<Vec<u8>, CosignError> {
    if timestamp > MAX_TIMESTAMP {
        return Err(CosignError::TimestampTooLarge(timestamp));
    }
    let signature = key.sign(&signed_message(checkpoint_text, timestamp));
    let mut out = Vec::with_capacity(COSIGNATURE_BYTES);
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&signature.to_bytes());
    Ok(out)
}

/// Verifies the bytes after the key ID; returns the cosigner's timestamp.
pub(crate) fn verify(
    key: &VerifyingKey,
    checkpoint_text: &str,
    bytes: &[u8],
) -> Result<u64, SignatureInvalid> {
    if bytes.len() != COSIGNATURE_BYTES {
        return Err(SignatureInvalid);
    }
    let timestamp = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| SignatureInvalid)?);
    if timestamp > MAX_TIMESTAMP {
        return Err(SignatureInvalid);
    }
    let signature = Signature::from_slice(&bytes[8..]).map_err(|_| SignatureInvalid)?;
    key.verify_strict(&signed_message(checkpoint_text, timestamp), &signature)
        .map_err(|_| SignatureInvalid)?;
    Ok(timestamp)
}
