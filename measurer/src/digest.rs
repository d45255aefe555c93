//! The 48-byte SHA-384 value that both Nitro PCRs and SEV-SNP launch digests are made of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A SHA-384-sized measurement value (a PCR, a launch digest). Displays and serialises as lowercase hex,
/// the form nitro-cli and sev-snp-measure print, so values compare as strings across tools.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest384(pub [u8; 48]);

impl Digest384 {
    pub const ZERO: Digest384 = Digest384([0; 48]);

    pub fn as_bytes(&self) -> &[u8; 48] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<[u8; 48]> for Digest384 {
    fn from(bytes: [u8; 48]) -> Self {
        Digest384(bytes)
    }
}

impl fmt::Display for Digest384 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Digest384 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest384({})", self.to_hex())
    }
}

/// Why a string is not a SHA-384 value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseDigestError {
    #[error("expected 96 hex digits (a SHA-384 value), got {0} characters")]
    Length(usize),
    #[error("not hexadecimal: {0}")]
    Hex(#[from] hex::FromHexError),
}

impl FromStr for Digest384 {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() != 96 {
            return Err(ParseDigestError::Length(s.len()));
        }
        let mut out = [0u8; 48];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Digest384(out))
    }
}

impl Serialize for Digest384 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest384 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let d = Digest384([0xab; 48]);
        assert_eq!(d.to_hex().parse::<Digest384>().unwrap(), d);
        assert_eq!("abc".parse::<Digest384>(), Err(ParseDigestError::Length(3)));
        assert!("zz".repeat(48).parse::<Digest384>().is_err());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest384>(&json).unwrap(), d);
    }
}
