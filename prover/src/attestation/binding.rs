//! Channel binding v1: what ties a piece of evidence to the client's nonce, the server's TLS key and
//! the server's OHTTP key configuration.
//!
//! ```text
//! binding = SHA-512( "mpr-attestation-binding/v1" || 0x00
//!                    || u32be(len(nonce))      || nonce
//!                    || u32be(len(tls_spki))   || tls_spki      (empty without TLS)
//!                    || u32be(len(key_config)) || key_config )  (one encoded OHTTP KeyConfig, RFC 9458 §3)
//! ```
//!
//! SEV-SNP and TDX carry it as REPORT_DATA; Nitro as the NSM document's `user_data` (with `nonce` and
//! `public_key` in their own fields too). A verifier recomputes it from its own nonce, the key of the TLS
//! connection it used and the key config it encrypts to: equal values prove the evidence was made for
//! this request by the process holding both keys. Length prefixes keep field boundaries unambiguous.
//!
//! Fixed vector (also asserted by the verifier's side):
//! - nonce      = `000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f`
//! - tls_spki   = `3059301306072a8648ce3d020106082a8648ce3d03010703420004` followed by 64 bytes `11`
//! - key_config = `010020` followed by 32 bytes `22`, then `00080001000100010003`
//! - binding    = `3e5bb159aa06588d25d18e8c6351d1f9c3d38f9d754ddc93845ba9f66483bf1f`
//!   `f8991dadf75109fa9e7f79ce07fd8ddd1a51849b200c499b40db430e54212f75`
//! - the same with an empty tls_spki (no TLS):
//!   `e7b7b00b29a78aa9cb71f88b2e1fbe43c295e3b9d748a567150fc45329634a6f`
//!   `164a7efb6d1ecd8f92dd87b45e0867e74fa54777968bc92c362b681beb0b7ad2`

use sha2::{Digest, Sha512};

use super::Nonce;

/// The domain separator; a new encoding gets a new version here.
pub const BINDING_LABEL: &[u8] = b"mpr-attestation-binding/v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the {field} is {len} bytes, more than a binding field can hold (4 GiB)")]
pub struct BindingError {
    pub field: &'static str,
    pub len: usize,
}

/// The binding for `nonce` on a channel keyed by `tls_spki` (empty without TLS) with the OHTTP key
/// configuration `key_config`.
pub fn binding(
    nonce: &Nonce,
    tls_spki: &[u8],
    key_config: &[u8],
) -> Result<[u8; 64], BindingError> {
    let mut hasher = Sha512::new();
    hasher.update(BINDING_LABEL);
    hasher.update([0u8]);
    for (field, bytes) in [
        ("nonce", nonce.as_bytes()),
        ("TLS public key", tls_spki),
        ("OHTTP key config", key_config),
    ] {
        let len = u32::try_from(bytes.len()).map_err(|_| BindingError {
            field,
            len: bytes.len(),
        })?;
        hasher.update(len.to_be_bytes());
        hasher.update(bytes);
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector_inputs() -> (Nonce, Vec<u8>, Vec<u8>) {
        let nonce =
            Nonce::from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .unwrap();
        let mut spki =
            hex::decode("3059301306072a8648ce3d020106082a8648ce3d03010703420004").unwrap();
        spki.extend_from_slice(&[0x11; 64]);
        let mut key_config = hex::decode("010020").unwrap();
        key_config.extend_from_slice(&[0x22; 32]);
        key_config.extend_from_slice(&hex::decode("00080001000100010003").unwrap());
        (nonce, spki, key_config)
    }

    #[test]
    fn binding_matches_the_documented_vector() {
        let (nonce, spki, key_config) = vector_inputs();
        assert_eq!(spki.len(), 91);
        assert_eq!(key_config.len(), 45);
        assert_eq!(
            hex::encode(binding(&nonce, &spki, &key_config).unwrap()),
            "3e5bb159aa06588d25d18e8c6351d1f9c3d38f9d754ddc93845ba9f66483bf1f\
             f8991dadf75109fa9e7f79ce07fd8ddd1a51849b200c499b40db430e54212f75"
        );
        assert_eq!(
            hex::encode(binding(&nonce, &[], &key_config).unwrap()),
            "e7b7b00b29a78aa9cb71f88b2e1fbe43c295e3b9d748a567150fc45329634a6f\
             164a7efb6d1ecd8f92dd87b45e0867e74fa54777968bc92c362b681beb0b7ad2"
        );
    }

    #[test]
    fn binding_is_the_documented_encoding_and_separates_fields() {
        let (nonce, spki, key_config) = vector_inputs();
        let mut encoded = b"mpr-attestation-binding/v1\0".to_vec();
        for field in [nonce.as_bytes(), &spki[..], &key_config[..]] {
            encoded.extend_from_slice(&(field.len() as u32).to_be_bytes());
            encoded.extend_from_slice(field);
        }
        let expected: [u8; 64] = Sha512::digest(&encoded).into();
        assert_eq!(binding(&nonce, &spki, &key_config).unwrap(), expected);
        // Moving a byte from one field to the next changes the binding (the length prefixes).
        let shifted_spki = &spki[..spki.len() - 1];
        let mut shifted_config = vec![spki[spki.len() - 1]];
        shifted_config.extend_from_slice(&key_config);
        assert_ne!(
            binding(&nonce, shifted_spki, &shifted_config).unwrap(),
            expected
        );
        let other_nonce = Nonce::from_hex(&"02".repeat(32)).unwrap();
        assert_ne!(binding(&other_nonce, &spki, &key_config).unwrap(), expected);
        assert_ne!(binding(&nonce, &spki, b"other").unwrap(), expected);
    }
}
