//! The sliver of CBOR (RFC 8949) the signature section uses: definite-length arrays, maps, text, byte
//! strings and integers. The encoder writes the shortest forms, exactly as ciborium and serde_cbor do,
//! which is what makes our payloads byte-equal to AWS's. The decoder is strict and allocation-bounded:
//! every length is checked against the bytes actually left before anything is allocated.

use std::fmt;

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const MAJOR_TAG: u8 = 6;
const MAJOR_SIMPLE: u8 = 7;

/// Nesting deeper than this in a value we skip is not a COSE header: refuse instead of recursing.
const MAX_SKIP_DEPTH: usize = 16;

pub(crate) fn write_head(out: &mut Vec<u8>, major: u8, argument: u64) {
    let major = major << 5;
    if argument < 24 {
        out.push(major | argument as u8);
    } else if let Ok(byte) = u8::try_from(argument) {
        out.extend_from_slice(&[major | 24, byte]);
    } else if let Ok(short) = u16::try_from(argument) {
        out.push(major | 25);
        out.extend_from_slice(&short.to_be_bytes());
    } else if let Ok(word) = u32::try_from(argument) {
        out.push(major | 26);
        out.extend_from_slice(&word.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&argument.to_be_bytes());
    }
}

pub(crate) fn write_text(out: &mut Vec<u8>, text: &str) {
    write_head(out, MAJOR_TEXT, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

pub(crate) fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_head(out, MAJOR_BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn write_array_head(out: &mut Vec<u8>, len: usize) {
    write_head(out, MAJOR_ARRAY, len as u64);
}

pub(crate) fn write_map_head(out: &mut Vec<u8>, len: usize) {
    write_head(out, MAJOR_MAP, len as u64);
}

pub(crate) fn write_uint(out: &mut Vec<u8>, value: u64) {
    write_head(out, MAJOR_UNSIGNED, value);
}

/// A negative integer `value` (< 0), e.g. the COSE algorithm -35.
pub(crate) fn write_negative(out: &mut Vec<u8>, value: i64) {
    write_head(out, MAJOR_NEGATIVE, (-1 - value) as u64);
}

/// Serde's encoding of a `Vec<u8>` without `serde_bytes`: an array with one uint per byte. AWS's EIF
/// structures use it for certificates, signatures and PCR values.
pub(crate) fn write_byte_array(out: &mut Vec<u8>, bytes: &[u8]) {
    write_array_head(out, bytes.len());
    for &byte in bytes {
        write_uint(out, u64::from(byte));
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CborError {
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for CborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CBOR byte {}: {}", self.offset, self.message)
    }
}

/// A forward-only strict decoder over a complete buffer.
pub(crate) struct CborReader<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> CborReader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        CborReader { input, position: 0 }
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, CborError> {
        Err(CborError {
            offset: self.position,
            message: message.into(),
        })
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.position)
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CborError> {
        let end = match self.position.checked_add(len) {
            Some(end) if end <= self.input.len() => end,
            _ => {
                return self.error(format!(
                    "needs {len} more bytes but only {} remain",
                    self.remaining()
                ))
            }
        };
        let slice = self.input.get(self.position..end).unwrap_or_default();
        self.position = end;
        Ok(slice)
    }

    fn peek_major(&self) -> Option<u8> {
        self.input.get(self.position).map(|byte| byte >> 5)
    }

    /// Reads an item head: (major type, argument). Indefinite lengths and reserved encodings are refused.
    fn head(&mut self) -> Result<(u8, u64), CborError> {
        let start = self.position;
        let initial = *self.take(1)?.first().unwrap_or(&0);
        let major = initial >> 5;
        let argument = match initial & 0x1f {
            small @ 0..=23 => u64::from(small),
            24 => u64::from(self.take(1)?.first().copied().unwrap_or(0)),
            25 => u64::from(u16::from_be_bytes(self.fixed()?)),
            26 => u64::from(u32::from_be_bytes(self.fixed()?)),
            27 => u64::from_be_bytes(self.fixed()?),
            31 => {
                self.position = start;
                return self.error("indefinite-length items are not used by EIF signatures");
            }
            _ => {
                self.position = start;
                return self.error(format!(
                    "reserved additional information {}",
                    initial & 0x1f
                ));
            }
        };
        Ok((major, argument))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn expect(&mut self, wanted: u8, what: &str) -> Result<u64, CborError> {
        let start = self.position;
        let (major, argument) = self.head()?;
        if major != wanted {
            self.position = start;
            return self.error(format!("expected {what} but found major type {major}"));
        }
        Ok(argument)
    }

    /// A length that must fit in what is left of the input (each element takes at least one byte).
    fn bounded_len(&self, length: u64) -> Result<usize, CborError> {
        match usize::try_from(length) {
            Ok(length) if length <= self.remaining() => Ok(length),
            _ => self.error(format!(
                "declares {length} elements/bytes but only {} bytes remain",
                self.remaining()
            )),
        }
    }

    pub fn array(&mut self) -> Result<usize, CborError> {
        let length = self.expect(MAJOR_ARRAY, "an array")?;
        self.bounded_len(length)
    }

    pub fn map(&mut self) -> Result<usize, CborError> {
        let length = self.expect(MAJOR_MAP, "a map")?;
        self.bounded_len(length)
    }

    pub fn text(&mut self) -> Result<&'a str, CborError> {
        let length = self.expect(MAJOR_TEXT, "a text string")?;
        let length = self.bounded_len(length)?;
        let start = self.position;
        let bytes = self.take(length)?;
        std::str::from_utf8(bytes).map_err(|_| CborError {
            offset: start,
            message: "text string is not UTF-8".into(),
        })
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], CborError> {
        let length = self.expect(MAJOR_BYTES, "a byte string")?;
        let length = self.bounded_len(length)?;
        self.take(length)
    }

    pub fn uint(&mut self) -> Result<u64, CborError> {
        self.expect(MAJOR_UNSIGNED, "an unsigned integer")
    }

    /// Any integer, as i128 so the full CBOR range (-2^64..2^64) fits.
    pub fn integer(&mut self) -> Result<i128, CborError> {
        let start = self.position;
        match self.head()? {
            (MAJOR_UNSIGNED, value) => Ok(i128::from(value)),
            (MAJOR_NEGATIVE, value) => Ok(-1 - i128::from(value)),
            (major, _) => {
                self.position = start;
                self.error(format!("expected an integer but found major type {major}"))
            }
        }
    }

    /// Skips a tag if the next item carries `tag` (COSE_Sign1 may be tagged 18 or not).
    pub fn skip_tag(&mut self, tag: u64) -> Result<(), CborError> {
        if self.peek_major() == Some(MAJOR_TAG) {
            let found = self.expect(MAJOR_TAG, "a tag")?;
            if found != tag {
                return self.error(format!("unexpected tag {found} (expected {tag} or none)"));
            }
        }
        Ok(())
    }

    /// The inverse of [`write_byte_array`]: an array of uints each below 256.
    pub fn byte_array(&mut self) -> Result<Vec<u8>, CborError> {
        let length = self.array()?;
        let mut out = Vec::with_capacity(length);
        for _ in 0..length {
            let start = self.position;
            let value = self.uint()?;
            match u8::try_from(value) {
                Ok(byte) => out.push(byte),
                Err(_) => {
                    return Err(CborError {
                        offset: start,
                        message: format!("byte array element {value} exceeds 255"),
                    })
                }
            }
        }
        Ok(out)
    }

    /// Skips one complete item of any type.
    pub fn skip_value(&mut self) -> Result<(), CborError> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Result<(), CborError> {
        if depth > MAX_SKIP_DEPTH {
            return self.error(format!("nested deeper than {MAX_SKIP_DEPTH} levels"));
        }
        let (major, argument) = self.head()?;
        match major {
            MAJOR_UNSIGNED | MAJOR_NEGATIVE | MAJOR_SIMPLE => Ok(()),
            MAJOR_BYTES | MAJOR_TEXT => {
                let length = self.bounded_len(argument)?;
                self.take(length).map(drop)
            }
            MAJOR_ARRAY | MAJOR_MAP => {
                let items = self.bounded_len(argument)?;
                let per_entry = if major == MAJOR_MAP { 2 } else { 1 };
                for _ in 0..items.saturating_mul(per_entry) {
                    self.skip_nested(depth + 1)?;
                }
                Ok(())
            }
            _ => self.skip_nested(depth + 1),
        }
    }

    /// Refuses trailing bytes, as the AWS decoder does.
    pub fn finish(&self, what: &str) -> Result<(), CborError> {
        if self.remaining() != 0 {
            return self.error(format!(
                "{} trailing bytes after the {what}",
                self.remaining()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_shortest_forms() {
        let mut out = Vec::new();
        write_uint(&mut out, 23);
        write_uint(&mut out, 24);
        write_uint(&mut out, 255);
        write_uint(&mut out, 256);
        write_uint(&mut out, 70_000);
        write_negative(&mut out, -35);
        write_byte_array(&mut out, &[0, 200]);
        assert_eq!(
            out,
            [
                0x17, 0x18, 0x18, 0x18, 0xff, 0x19, 1, 0, 0x1a, 0, 1, 0x11, 0x70, 0x38, 0x22, 0x82,
                0x00, 0x18, 200
            ]
        );
    }

    #[test]
    fn decoder_round_trips_and_rejects_bad_input() {
        let mut out = Vec::new();
        write_map_head(&mut out, 1);
        write_text(&mut out, "k");
        write_byte_array(&mut out, &[1, 30, 255]);
        let mut reader = CborReader::new(&out);
        assert_eq!(reader.map().unwrap(), 1);
        assert_eq!(reader.text().unwrap(), "k");
        assert_eq!(reader.byte_array().unwrap(), vec![1, 30, 255]);
        reader.finish("map").unwrap();

        // An array claiming 2^32 elements in a 5-byte input must fail before allocating.
        let huge = [0x9a, 0xff, 0xff, 0xff, 0xff];
        assert!(CborReader::new(&huge)
            .byte_array()
            .unwrap_err()
            .message
            .contains("declares"));
        // 256 does not fit a byte.
        assert!(CborReader::new(&[0x81, 0x19, 1, 0])
            .byte_array()
            .unwrap_err()
            .message
            .contains("exceeds 255"));
        // Indefinite length.
        assert!(CborReader::new(&[0x9f]).array().is_err());
        // Trailing byte.
        let mut reader = CborReader::new(&[0x00, 0x00]);
        reader.uint().unwrap();
        assert!(reader.finish("value").is_err());
        // Deep nesting is refused rather than recursed into.
        assert!(CborReader::new(&[0x81; 64]).skip_value().is_err());
    }
}
