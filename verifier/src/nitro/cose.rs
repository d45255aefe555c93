//! The COSE_Sign1 envelope (RFC 9052) of a Nitro attestation document and its ES384 signature.

use crate::signature::{EcdsaP384Key, P384_FIXED_SIGNATURE_BYTES};
use ciborium::Value;

use super::cbor::decode_strict;
use super::NitroError;

/// COSE tag for COSE_Sign1; real documents are untagged but the spec writes them tagged.
const COSE_SIGN1_TAG: u64 = 18;
/// `{1: -35}`: the only protected header AWS Nitro emits (alg = ES384).
pub(crate) const ES384_PROTECTED_HEADER: [u8; 4] = [0xa1, 0x01, 0x38, 0x22];
/// P-384 r‖s, 48 bytes each, big-endian.
const SIGNATURE_LEN: usize = P384_FIXED_SIGNATURE_BYTES;
/// The AttestationDoc size range given by AWS's specification.
const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

/// The parts of a COSE_Sign1, as received (never re-encoded: the signature covers these bytes).
pub(crate) struct CoseSign1 {
    pub protected: Vec<u8>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
}

impl CoseSign1 {
    pub(crate) fn parse(document: &[u8]) -> Result<Self, NitroError> {
        let value = decode_strict(document).map_err(NitroError::MalformedCose)?;
        let value = match value {
            Value::Tag(COSE_SIGN1_TAG, inner) => *inner,
            Value::Tag(tag, _) => {
                return Err(malformed(format!(
                    "tag {tag} where COSE_Sign1 is untagged or tag 18"
                )))
            }
            other => other,
        };
        let Value::Array(elements) = value else {
            return Err(malformed("the outer item is not an array".into()));
        };
        let Ok([protected, unprotected, payload, signature]) = <[Value; 4]>::try_from(elements)
        else {
            return Err(malformed("the outer array does not have 4 elements".into()));
        };
        let Value::Bytes(protected) = protected else {
            return Err(malformed(
                "the protected header is not a byte string".into(),
            ));
        };
        if protected != ES384_PROTECTED_HEADER {
            return Err(NitroError::WrongAlgorithm);
        }
        // The unprotected header carries no trust; it only has to be the map COSE requires.
        if !matches!(unprotected, Value::Map(_)) {
            return Err(malformed("the unprotected header is not a map".into()));
        }
        let Value::Bytes(payload) = payload else {
            return Err(malformed(
                "the payload is not an attached byte string".into(),
            ));
        };
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
            return Err(malformed(format!(
                "the payload is {} bytes, outside 1..={MAX_PAYLOAD_BYTES}",
                payload.len()
            )));
        }
        let Value::Bytes(signature) = signature else {
            return Err(malformed("the signature is not a byte string".into()));
        };
        if signature.len() != SIGNATURE_LEN {
            return Err(malformed(format!(
                "the signature is {} bytes where ES384 has {SIGNATURE_LEN}",
                signature.len()
            )));
        }
        Ok(CoseSign1 {
            protected,
            payload,
            signature,
        })
    }

    /// Verifies the signature over `Sig_structure = ["Signature1", protected, h'', payload]`.
    pub(crate) fn verify(&self, key: &EcdsaP384Key) -> Result<(), NitroError> {
        let signature: &[u8; SIGNATURE_LEN] = self
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| NitroError::Signature)?;
        key.verify_fixed(&sig_structure(&self.protected, &self.payload), signature)
            .map_err(|_| NitroError::Signature)
    }
}

/// The bytes COSE signs for a COSE_Sign1 with no external AAD.
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let structure = Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]);
    let mut bytes = Vec::with_capacity(payload.len() + 32);
    // Writing a Value into a Vec cannot fail: the Vec grows and the Value holds no float or map key
    // that ciborium could refuse.
    if ciborium::ser::into_writer(&structure, &mut bytes).is_err() {
        bytes.clear();
    }
    bytes
}

fn malformed(reason: String) -> NitroError {
    NitroError::MalformedCose(reason)
}
