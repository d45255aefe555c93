//! Digests of everything the build reads and writes, computed while the bytes stream past.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};

/// Size and digests of one blob, as recorded in build records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobDigests {
    pub size: u64,
    pub sha256: String,
    /// Left out for large build outputs (EIFs, ramdisks), where a SHA-384 pass would cost more than
    /// the rest of their assembly: SHA-256 runs on the CPU's SHA extensions, SHA-384 does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha384: Option<String>,
}

/// A writer that hashes (SHA-256, and SHA-384 unless asked not to) and counts what goes through it.
pub struct HashingWriter<W> {
    inner: W,
    sha256: Sha256,
    sha384: Option<Sha384>,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    /// SHA-256 and SHA-384.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            sha256: Sha256::new(),
            sha384: Some(Sha384::new()),
            size: 0,
        }
    }

    /// SHA-256 only, for large outputs.
    pub fn sha256_only(inner: W) -> Self {
        HashingWriter {
            inner,
            sha256: Sha256::new(),
            sha384: None,
            size: 0,
        }
    }

    /// How many bytes went through so far.
    pub fn bytes_written(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> (W, BlobDigests) {
        let digests = BlobDigests {
            size: self.size,
            sha256: hex::encode(self.sha256.finalize()),
            sha384: self.sha384.map(|h| hex::encode(h.finalize())),
        };
        (self.inner, digests)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        if let Some(sha384) = &mut self.sha384 {
            sha384.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Digests of a file, streamed.
pub fn digest_file(path: &std::path::Path) -> io::Result<BlobDigests> {
    digest_reader(std::fs::File::open(path)?)
}

/// Digests of everything a reader gives.
pub fn digest_reader(mut reader: impl io::Read) -> io::Result<BlobDigests> {
    let mut writer = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut writer)?;
    Ok(writer.finish().1)
}

/// Size and SHA-256 of a file, streamed.
pub fn sha256_file(path: &std::path::Path) -> io::Result<BlobDigests> {
    let mut file = std::fs::File::open(path)?;
    let mut writer = HashingWriter::sha256_only(io::sink());
    io::copy(&mut file, &mut writer)?;
    Ok(writer.finish().1)
}

/// Digests of bytes in memory.
pub fn digest_bytes(bytes: &[u8]) -> BlobDigests {
    let mut writer = HashingWriter::new(io::sink());
    writer
        .write_all(bytes)
        .expect("writing to a sink cannot fail");
    writer.finish().1
}
