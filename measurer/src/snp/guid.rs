//! EFI GUIDs as they are stored in firmware and in QEMU's hash table: the first three fields
//! little-endian, the last eight bytes as written ("mixed-endian", Python's `uuid.bytes_le`).

use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Converts the canonical text form at compile time; only used on constants, where a malformed
    /// literal stops the build instead of failing at run time.
    pub const fn from_text(text: &str) -> Guid {
        let text = text.as_bytes();
        assert!(text.len() == 36, "a GUID has 36 characters");
        // Byte order of the stored form relative to the text's byte order.
        const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
        let mut text_bytes = [0u8; 16];
        let mut hex_pos = 0;
        let mut i = 0;
        while i < 16 {
            if text[hex_pos] == b'-' {
                hex_pos += 1;
            }
            text_bytes[i] = hex_value(text[hex_pos]) << 4 | hex_value(text[hex_pos + 1]);
            hex_pos += 2;
            i += 1;
        }
        let mut stored = [0u8; 16];
        let mut i = 0;
        while i < 16 {
            stored[i] = text_bytes[ORDER[i]];
            i += 1;
        }
        Guid(stored)
    }

    /// Reads a stored GUID; `None` if fewer than 16 bytes are given.
    pub fn from_stored(bytes: &[u8]) -> Option<Guid> {
        bytes.get(..16)?.try_into().ok().map(Guid)
    }
}

const fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not a hex digit in a GUID constant"),
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_endian_round_trip() {
        const FOOTER: Guid = Guid::from_text("96b582de-1fb2-45f7-baea-a366c55a082d");
        assert_eq!(
            FOOTER.0,
            [
                0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a,
                0x08, 0x2d
            ]
        );
        assert_eq!(FOOTER.to_string(), "96b582de-1fb2-45f7-baea-a366c55a082d");
        assert_eq!(Guid::from_stored(&FOOTER.0), Some(FOOTER));
        assert_eq!(Guid::from_stored(&FOOTER.0[..15]), None);
    }
}
