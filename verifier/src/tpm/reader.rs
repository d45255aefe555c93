//! A bounds-checked cursor over untrusted bytes: every read checks its length first, so a parser
//! built on it reports truncation as an error instead of panicking. TPM structures are
//! big-endian; event logs and Azure's HCL report are little-endian.

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, offset: 0 }
    }

    /// A reader over `bytes`, refused when longer than `max`: every structure has a size no
    /// genuine one comes near, and refusing early bounds the work an input can cause.
    pub fn limited(bytes: &'a [u8], max: usize) -> Result<Self, String> {
        if bytes.len() > max {
            return Err(format!(
                "{} bytes, more than the {max} accepted",
                bytes.len()
            ));
        }
        Ok(Reader::new(bytes))
    }

    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    pub fn take(&mut self, count: usize, what: &str) -> Result<&'a [u8], String> {
        if count > self.remaining() {
            return Err(format!(
                "{what} needs {count} bytes at offset {} but only {} remain",
                self.offset,
                self.remaining()
            ));
        }
        let taken = &self.bytes[self.offset..self.offset + count];
        self.offset += count;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u16_be(&mut self, what: &str) -> Result<u16, String> {
        self.array(what).map(u16::from_be_bytes)
    }

    pub fn u32_be(&mut self, what: &str) -> Result<u32, String> {
        self.array(what).map(u32::from_be_bytes)
    }

    pub fn u64_be(&mut self, what: &str) -> Result<u64, String> {
        self.array(what).map(u64::from_be_bytes)
    }

    pub fn u16_le(&mut self, what: &str) -> Result<u16, String> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub fn u32_le(&mut self, what: &str) -> Result<u32, String> {
        self.array(what).map(u32::from_le_bytes)
    }

    /// A TPM2B: a big-endian u16 size, then that many bytes, at most `max`.
    pub fn sized(&mut self, max: usize, what: &str) -> Result<&'a [u8], String> {
        let size = usize::from(self.u16_be(what)?);
        if size > max {
            return Err(format!(
                "{what} is {size} bytes, more than the {max} allowed"
            ));
        }
        self.take(size, what)
    }

    /// Fails unless every byte was read: trailing bytes would be unsigned or unchecked data.
    pub fn finish(&self, what: &str) -> Result<(), String> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(format!("{extra} unexpected bytes after the {what}")),
        }
    }
}
