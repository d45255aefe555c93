//! How evidence binds the client's nonce and the server's TLS key.
//!
//! SEV-SNP and TDX reports carry 64 bytes of caller data (REPORT_DATA); mpr puts
//! `SHA-512(nonce || SubjectPublicKeyInfo DER)` there. A verifier recomputes it from its own nonce and
//! the public key of the TLS connection it is talking over: equal values prove the report was made
//! for this request by the process holding that key. Nitro documents have separate `nonce` and
//! `public_key` fields and need no hashing.

use sha2::{Digest, Sha512};

use super::Nonce;

/// The REPORT_DATA an SEV-SNP or TDX report must carry for `nonce` on a channel keyed by `spki_der`.
pub fn report_data(nonce: &Nonce, spki_der: &[u8]) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(nonce.as_bytes());
    hasher.update(spki_der);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_is_sha512_of_nonce_then_spki() {
        let nonce = Nonce::from_hex(&"01".repeat(32)).unwrap();
        let spki = b"spki-der";
        let mut concatenated = vec![1u8; 32];
        concatenated.extend_from_slice(spki);
        let expected: [u8; 64] = Sha512::digest(&concatenated).into();
        assert_eq!(report_data(&nonce, spki), expected);
        // Another key or another nonce gives other report data.
        assert_ne!(report_data(&nonce, b"other"), expected);
        let other_nonce = Nonce::from_hex(&"02".repeat(32)).unwrap();
        assert_ne!(report_data(&other_nonce, spki), expected);
    }
}
