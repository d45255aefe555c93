//! The channel binding: what ties a piece of attestation evidence to one wallet's request and to
//! the keys the wallet will talk to. The prover computes the same bytes (prover/src/attestation/
//! binding.rs); both sides are checked against one fixed vector.
//!
//! ```text
//! binding = SHA-512( "mpr-attestation-binding/v1" || 0x00
//!                    || u32be(len(nonce))      || nonce
//!                    || u32be(len(tls_spki))   || tls_spki      (empty without TLS)
//!                    || u32be(len(key_config)) || key_config )  (the encoded OHTTP KeyConfig, RFC 9458 §3)
//! ```
//!
//! SEV-SNP and TDX carry it as REPORT_DATA; a Nitro document carries it as `user_data` (with the
//! nonce in `nonce` and the TLS key in `public_key`). Length prefixes keep the three fields from
//! sliding into each other; the label keeps the digest from meaning anything in another protocol.

use sha2::{Digest, Sha512};

pub const BINDING_LABEL: &[u8] = b"mpr-attestation-binding/v1\0";

/// The 64-byte binding of `nonce`, the server's TLS SubjectPublicKeyInfo (DER, empty when the
/// server speaks plain HTTP behind a proxy) and its encoded OHTTP key configuration.
pub fn binding_v1(nonce: &[u8], tls_spki: &[u8], key_config: &[u8]) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(BINDING_LABEL);
    for field in [nonce, tls_spki, key_config] {
        // Every field is bounded far below 4 GiB by the envelope's size limit.
        hasher.update((field.len() as u32).to_be_bytes());
        hasher.update(field);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cannot_slide_into_each_other() {
        let a = binding_v1(b"nonce-nonce-1234", b"ab", b"c");
        let b = binding_v1(b"nonce-nonce-1234", b"a", b"bc");
        assert_ne!(a, b);
        assert_ne!(
            binding_v1(b"nonce-nonce-1234", b"", b"k"),
            binding_v1(b"nonce-nonce-1235", b"", b"k")
        );
    }

    #[test]
    fn matches_the_concatenation_it_documents() {
        let nonce = [7u8; 32];
        let mut bytes = BINDING_LABEL.to_vec();
        bytes.extend_from_slice(&32u32.to_be_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&3u32.to_be_bytes());
        bytes.extend_from_slice(b"cfg");
        let expected: [u8; 64] = Sha512::digest(&bytes).into();
        assert_eq!(binding_v1(&nonce, b"", b"cfg"), expected);
    }
}
