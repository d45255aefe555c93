//! The COSE_Sign1 (RFC 9052) pieces shared by signing and verification: the PCR payload, the protected
//! header and the Sig_structure. Encodings match what AWS's crate produces, byte for byte, because the
//! verifier compares the signed payload with a re-encoding of {0, PCR0}.

use super::cbor;
use crate::digest::Digest384;

/// COSE algorithm identifier of ECDSA with SHA-384 (on P-384 here).
pub(crate) const ALG_ES384: i64 = -35;
/// COSE header label "alg".
pub(crate) const HEADER_ALG: u64 = 1;
/// CBOR tag of a tagged COSE_Sign1; EIFs carry it untagged but the tag is tolerated when reading.
pub(crate) const COSE_SIGN1_TAG: u64 = 18;

/// Human name of a COSE signature algorithm, for reports.
pub(crate) fn algorithm_name(alg: i128) -> String {
    match alg {
        -7 => "ES256".into(),
        -35 => "ES384".into(),
        -36 => "ES512".into(),
        other => format!("COSE algorithm {other}"),
    }
}

/// AWS's `PcrInfo { register_index: 0, register_value: PCR0 }`, CBOR-encoded: what a signature signs.
pub(crate) fn pcr_payload(pcr0: &Digest384) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    cbor::write_map_head(&mut out, 2);
    cbor::write_text(&mut out, "register_index");
    cbor::write_uint(&mut out, 0);
    cbor::write_text(&mut out, "register_value");
    cbor::write_byte_array(&mut out, pcr0.as_bytes());
    out
}

/// The protected header `{1: -35}` as its serialised map (it travels as a byte string).
pub(crate) fn es384_protected_header() -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    cbor::write_map_head(&mut out, 1);
    cbor::write_uint(&mut out, HEADER_ALG);
    cbor::write_negative(&mut out, ALG_ES384);
    out
}

/// `["Signature1", protected, h'', payload]`: the bytes ECDSA actually signs.
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 16);
    cbor::write_array_head(&mut out, 4);
    cbor::write_text(&mut out, "Signature1");
    cbor::write_bytes(&mut out, protected);
    cbor::write_bytes(&mut out, &[]);
    cbor::write_bytes(&mut out, payload);
    out
}

/// An untagged COSE_Sign1 with an empty unprotected header.
pub(crate) fn cose_sign1(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + signature.len() + 8);
    cbor::write_array_head(&mut out, 4);
    cbor::write_bytes(&mut out, protected);
    cbor::write_map_head(&mut out, 0);
    cbor::write_bytes(&mut out, payload);
    cbor::write_bytes(&mut out, signature);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_and_protected_header_have_the_expected_shape() {
        assert_eq!(es384_protected_header(), [0xa1, 0x01, 0x38, 0x22]);
        let payload = pcr_payload(&Digest384([0x17; 48]));
        let mut expected = vec![0xa2, 0x6e];
        expected.extend_from_slice(b"register_index");
        expected.extend_from_slice(&[0x00, 0x6e]);
        expected.extend_from_slice(b"register_value");
        expected.extend_from_slice(&[0x98, 0x30]);
        expected.extend_from_slice(&[0x17; 48]);
        assert_eq!(payload, expected);
        // Bytes >= 24 take two CBOR bytes each.
        assert_eq!(
            pcr_payload(&Digest384([0x18; 48])).len(),
            expected.len() + 48
        );
    }
}
