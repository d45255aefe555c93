//! Big-endian TPM 2.0 marshaling for the few structures the attester sends and reads (TPM 2.0
//! Library Part 2). Every read is bounds-checked: a short or malformed response is an error, never a
//! panic, since the bytes come from a device (or a socket) we do not control.

/// Builds a command's handle or parameter area.
#[derive(Debug, Default, Clone)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.0.push(value);
        self
    }

    pub fn u16(&mut self, value: u16) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// A TPM2B: u16 size then the bytes. Callers pass buffers far below 64 KiB (digests, templates,
    /// NV chunks); a longer one would be a bug, reported as the TPM's own TPM_RC_SIZE would be.
    pub fn tpm2b(&mut self, bytes: &[u8]) -> Result<&mut Self, WireError> {
        let len = u16::try_from(bytes.len()).map_err(|_| {
            WireError(format!(
                "a {}-byte TPM2B does not fit a u16 size",
                bytes.len()
            ))
        })?;
        Ok(self.u16(len).bytes(bytes))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// What was wrong with bytes being read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

/// Reads a response (or a structure inside one) front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, offset: 0 }
    }

    pub fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], WireError> {
        let rest = &self.bytes[self.offset..];
        if rest.len() < len {
            return Err(WireError(format!(
                "{what}: needs {len} bytes at offset {}, only {} left",
                self.offset,
                rest.len()
            )));
        }
        self.offset += len;
        Ok(&rest[..len])
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, WireError> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, WireError> {
        let bytes = self.take(2, what)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, WireError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, WireError> {
        let bytes = self.take(8, what)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_be_bytes(array))
    }

    /// A TPM2B's contents (without its u16 size).
    pub fn tpm2b(&mut self, what: &str) -> Result<&'a [u8], WireError> {
        let len = self.u16(what)?;
        self.take(usize::from(len), what)
    }

    pub fn remaining(&self) -> &'a [u8] {
        &self.bytes[self.offset..]
    }

    /// The bytes read so far.
    pub fn consumed(&self) -> &'a [u8] {
        &self.bytes[..self.offset]
    }

    /// Errors unless every byte was read: trailing bytes mean we misread the structure.
    pub fn finish(&self, what: &str) -> Result<(), WireError> {
        let left = self.bytes.len() - self.offset;
        if left == 0 {
            Ok(())
        } else {
            Err(WireError(format!(
                "{what}: {left} unexpected trailing bytes"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_refuses_short_input() {
        let mut writer = Writer::new();
        writer.u8(1).u16(0x0203).u32(0x0405_0607);
        writer.tpm2b(b"abc").unwrap();
        let bytes = writer.into_bytes();
        assert_eq!(bytes, [1, 2, 3, 4, 5, 6, 7, 0, 3, b'a', b'b', b'c']);
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8("a").unwrap(), 1);
        assert_eq!(reader.u16("b").unwrap(), 0x0203);
        assert_eq!(reader.u32("c").unwrap(), 0x0405_0607);
        assert_eq!(reader.tpm2b("d").unwrap(), b"abc");
        reader.finish("all").unwrap();
        let mut short = Reader::new(&[0, 5, 1]);
        let err = short.tpm2b("digest").unwrap_err();
        assert!(err.0.contains("digest: needs 5 bytes"), "{err}");
        let mut trailing = Reader::new(&[0, 0, 9]);
        trailing.u16("x").unwrap();
        assert!(trailing.finish("response").is_err());
        assert!(Writer::new().tpm2b(&vec![0; 70_000]).is_err());
    }
}
