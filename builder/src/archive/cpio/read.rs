//! The bounded newc reader.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::{CRC_MAGIC, HEADER_LEN, MAGIC, TRAILER};

/// One record as stored, for listing and diffing ramdisks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub size: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// Hex SHA-256 of the data (a symlink's data is its target).
    pub sha256: String,
    /// The data itself when `size <= CpioLimits::keep_content_up_to`, for text diffs.
    pub content: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioLimits {
    /// Records, the trailer included.
    pub max_entries: usize,
    /// Bytes of a name, without its NUL.
    pub max_name_len: usize,
    /// Bytes of the whole archive, headers and padding included.
    pub max_total_size: u64,
    pub keep_content_up_to: u32,
}

impl Default for CpioLimits {
    fn default() -> Self {
        CpioLimits {
            max_entries: 1_000_000,
            max_name_len: 4096,
            max_total_size: 16 << 30,
            keep_content_up_to: 64 * 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    #[error("reading the cpio archive failed: {0}")]
    Read(#[source] io::Error),
    #[error(
        "the cpio archive is truncated at byte {offset} (inside {what}): the file is incomplete"
    )]
    Truncated { offset: u64, what: &'static str },
    #[error("the cpio archive ends at byte {offset} without a TRAILER!!! record: the file is incomplete")]
    MissingTrailer { offset: u64 },
    #[error("bad magic {found:?} at byte {offset}: not a newc cpio archive (expected \"070701\"; gzip-compressed? decompress it first)")]
    BadMagic { offset: u64, found: String },
    #[error("record at byte {offset} uses the newc CRC variant (070702), which ramdisks never use: rewrite it as plain newc")]
    CrcVariant { offset: u64 },
    #[error("header field {field} at byte {offset} is not 8 hex digits")]
    BadHexField { offset: u64, field: &'static str },
    #[error(
        "record at byte {offset} has name size {namesize}: it must be 1..={max} (name plus NUL)"
    )]
    BadNameSize {
        offset: u64,
        namesize: u32,
        max: u64,
    },
    #[error("record name at byte {offset} is not NUL-terminated or holds an inner NUL byte")]
    BadNameTerminator { offset: u64 },
    #[error("record name at byte {offset} is not valid UTF-8")]
    NonUtf8Name { offset: u64 },
    #[error("non-zero alignment padding at byte {offset}: the archive is corrupt")]
    NonZeroPadding { offset: u64 },
    #[error("non-zero bytes after the TRAILER!!! record at byte {offset}: concatenated or corrupt archive")]
    TrailingData { offset: u64 },
    #[error("the archive has more than {max} records: raise CpioLimits::max_entries if this is expected")]
    TooManyEntries { max: usize },
    #[error("the archive is larger than {max} bytes: raise CpioLimits::max_total_size if this is expected")]
    TooLarge { max: u64 },
}

/// Counts bytes from the archive start and refuses to read past `max_total_size`.
struct Source<R> {
    inner: R,
    offset: u64,
    max: u64,
}

impl<R: Read> Source<R> {
    /// Fills `buf`; `Ok(false)` when the stream ended before its first byte.
    fn fill(&mut self, buf: &mut [u8], what: &'static str) -> Result<bool, CpioError> {
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
            let n = self.read_some(rest)?;
            if n == 0 {
                if done == 0 {
                    return Ok(false);
                }
                return Err(CpioError::Truncated {
                    offset: self.offset,
                    what,
                });
            }
            done += n;
        }
        Ok(true)
    }

    fn exact(&mut self, buf: &mut [u8], what: &'static str) -> Result<(), CpioError> {
        if buf.is_empty() || self.fill(buf, what)? {
            Ok(())
        } else {
            Err(CpioError::Truncated {
                offset: self.offset,
                what,
            })
        }
    }

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, CpioError> {
        let n = loop {
            match self.inner.read(buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CpioError::Read(e)),
            }
        };
        self.offset = self.offset.saturating_add(n as u64);
        if self.offset > self.max {
            return Err(CpioError::TooLarge { max: self.max });
        }
        Ok(n)
    }

    fn padding(&mut self, what: &'static str) -> Result<(), CpioError> {
        let mut pad = [0u8; 3];
        let n = usize::try_from((4 - self.offset % 4) % 4).unwrap_or(0);
        let start = self.offset;
        let pad = pad.get_mut(..n).unwrap_or_default();
        self.exact(pad, what)?;
        if pad.iter().any(|&b| b != 0) {
            return Err(CpioError::NonZeroPadding { offset: start });
        }
        Ok(())
    }
}

const FIELDS: [&str; 13] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

/// Reads a whole newc archive, in order and with duplicates; the last entry is the trailer.
pub fn read_newc<R: Read>(reader: R, limits: &CpioLimits) -> Result<Vec<CpioEntry>, CpioError> {
    let mut src = Source {
        inner: reader,
        offset: 0,
        max: limits.max_total_size,
    };
    let mut entries = Vec::new();
    loop {
        if entries.len() >= limits.max_entries {
            return Err(CpioError::TooManyEntries {
                max: limits.max_entries,
            });
        }
        let entry = read_entry(&mut src, limits)?;
        let done = entry.name == TRAILER;
        entries.push(entry);
        if done {
            break;
        }
    }
    let mut chunk = [0u8; 4096];
    loop {
        let start = src.offset;
        let n = src.read_some(&mut chunk)?;
        if n == 0 {
            return Ok(entries);
        }
        if let Some(pos) = chunk.get(..n).and_then(|c| c.iter().position(|&b| b != 0)) {
            return Err(CpioError::TrailingData {
                offset: start.saturating_add(pos as u64),
            });
        }
    }
}

fn read_entry<R: Read>(src: &mut Source<R>, limits: &CpioLimits) -> Result<CpioEntry, CpioError> {
    let start = src.offset;
    // The magic first, so that short garbage is reported as "not cpio" rather than "truncated".
    let mut magic = [0u8; 6];
    if !src.fill(&mut magic, "a record header")? {
        return Err(CpioError::MissingTrailer { offset: start });
    }
    if &magic == CRC_MAGIC {
        return Err(CpioError::CrcVariant { offset: start });
    }
    if &magic != MAGIC {
        return Err(CpioError::BadMagic {
            offset: start,
            found: String::from_utf8_lossy(&magic).into_owned(),
        });
    }
    let mut rest = [0u8; HEADER_LEN - 6];
    src.exact(&mut rest, "a record header")?;
    let mut values = [0u32; 13];
    for ((value, field), digits) in values.iter_mut().zip(FIELDS).zip(rest.chunks_exact(8)) {
        *value = std::str::from_utf8(digits)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or(CpioError::BadHexField {
                offset: start,
                field,
            })?;
    }
    let [ino, mode, uid, gid, nlink, mtime, size, dev_major, dev_minor, rdev_major, rdev_minor, namesize, _check] =
        values;
    let max_namesize = (limits.max_name_len as u64).saturating_add(1);
    if namesize == 0 || u64::from(namesize) > max_namesize {
        return Err(CpioError::BadNameSize {
            offset: start,
            namesize,
            max: max_namesize,
        });
    }
    let mut name = vec![0u8; usize::try_from(namesize).unwrap_or(0)];
    src.exact(&mut name, "a record name")?;
    if name.pop() != Some(0) || name.contains(&0) {
        return Err(CpioError::BadNameTerminator { offset: start });
    }
    let name = String::from_utf8(name).map_err(|_| CpioError::NonUtf8Name { offset: start })?;
    src.padding("the padding after a name")?;

    let keep = size <= limits.keep_content_up_to;
    let mut content = Vec::new();
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut left = u64::from(size);
    while left > 0 {
        let n = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let part = chunk.get_mut(..n).unwrap_or_default();
        src.exact(part, "file data")?;
        hasher.update(&*part);
        if keep {
            content.extend_from_slice(part);
        }
        left = left.saturating_sub(n as u64);
    }
    src.padding("the padding after file data")?;
    Ok(CpioEntry {
        name,
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        size,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        sha256: hex::encode(hasher.finalize()),
        content: keep.then_some(content),
    })
}
