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

    /// The vector documented in prover/src/attestation/binding.rs: both sides agree.
    #[test]
    fn matches_the_provers_fixed_vector() {
        let nonce: Vec<u8> = (0u8..32).collect();
        let mut spki =
            hex::decode("3059301306072a8648ce3d020106082a8648ce3d03010703420004").unwrap();
        spki.extend_from_slice(&[0x11; 64]);
        let mut key_config = hex::decode("010020").unwrap();
        key_config.extend_from_slice(&[0x22; 32]);
        key_config.extend_from_slice(&hex::decode("00080001000100010003").unwrap());
        assert_eq!(
            hex::encode(binding_v1(&nonce, &spki, &key_config)),
            "3e5bb159aa06588d25d18e8c6351d1f9c3d38f9d754ddc93845ba9f66483bf1f\
             f8991dadf75109fa9e7f79ce07fd8ddd1a51849b200c499b40db430e54212f75"
        );
        assert_eq!(
            hex::encode(binding_v1(&nonce, &[], &key_config)),
            "e7b7b00b29a78aa9cb71f88b2e1fbe43c295e3b9d748a567150fc45329634a6f\
             164a7efb6d1ecd8f92dd87b45e0867e74fa54777968bc92c362b681beb0b7ad2"
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
