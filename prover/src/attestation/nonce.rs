//! The client's freshness nonce, as given in `GET /attestation?nonce=<hex>`.

use std::fmt;

/// Fewer bytes than this cannot make replay unlikely; the MIP draft asks for 32.
pub const MIN_NONCE_LEN: usize = 16;
/// NSM accepts up to 512 bytes; 64 is ample for any freshness scheme and keeps requests small.
pub const MAX_NONCE_LEN: usize = 64;

/// A validated nonce: hex-decoded, MIN_NONCE_LEN..=MAX_NONCE_LEN bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Nonce(Vec<u8>);

/// Why a nonce was refused; the message tells the client what to send instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NonceError {
    #[error("missing nonce: send GET /attestation?nonce=<hex>, {MIN_NONCE_LEN} to {MAX_NONCE_LEN} random bytes")]
    Missing,
    #[error("the nonce must be hexadecimal ({MIN_NONCE_LEN} to {MAX_NONCE_LEN} bytes as 2 hex digits each): {0}")]
    NotHex(String),
    #[error(
        "the nonce is {0} bytes; send {MIN_NONCE_LEN} to {MAX_NONCE_LEN} random bytes (e.g. 32)"
    )]
    Length(usize),
}

impl Nonce {
    /// Parses the query parameter's value.
    pub fn from_hex(text: &str) -> Result<Nonce, NonceError> {
        if text.is_empty() {
            return Err(NonceError::Missing);
        }
        // Checked before decoding so an enormous parameter is refused without allocating for it.
        if text.len() > 2 * MAX_NONCE_LEN {
            return Err(NonceError::Length(text.len() / 2));
        }
        let bytes = hex::decode(text).map_err(|e| NonceError::NotHex(e.to_string()))?;
        if bytes.len() < MIN_NONCE_LEN {
            return Err(NonceError::Length(bytes.len()));
        }
        Ok(Nonce(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nonce({})", hex::encode(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hex_of_the_allowed_lengths() {
        let n = Nonce::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(n.as_bytes(), &[0xab; 32]);
        assert!(Nonce::from_hex(&"00".repeat(MIN_NONCE_LEN)).is_ok());
        assert!(Nonce::from_hex(&"FF".repeat(MAX_NONCE_LEN)).is_ok());
    }

    #[test]
    fn refuses_missing_short_long_and_non_hex_nonces() {
        assert_eq!(Nonce::from_hex(""), Err(NonceError::Missing));
        assert_eq!(Nonce::from_hex("abcd"), Err(NonceError::Length(2)));
        assert_eq!(
            Nonce::from_hex(&"00".repeat(MAX_NONCE_LEN + 1)),
            Err(NonceError::Length(MAX_NONCE_LEN + 1))
        );
        assert!(matches!(
            Nonce::from_hex(&"zz".repeat(32)),
            Err(NonceError::NotHex(_))
        ));
        assert!(matches!(Nonce::from_hex("abc"), Err(NonceError::NotHex(_))));
        let err = Nonce::from_hex("abcd").unwrap_err().to_string();
        assert!(err.contains("16 to 64"), "{err}");
    }
}
