//! newc ("SVR4 new ASCII") cpio, the initramfs format: a deterministic writer with gocpio's
//! conventions (nitro-eif.md §3.3) and a bounded reader for comparing ramdisks.

use std::fs::File;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

use super::tree::{FileData, Node, NodeKind, Tree};

const MAGIC: &[u8; 6] = b"070701";
const CRC_MAGIC: &[u8; 6] = b"070702";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// The header fields gocpio fixes rather than taking from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewcConventions {
    pub first_ino: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
}

impl NewcConventions {
    /// gocpio as vendored in linuxkit, which nitro-cli's ramdisks go through: inodes from 721,
    /// device 3:1 on every entry.
    pub const NITRO: NewcConventions = NewcConventions {
        first_ino: 721,
        dev_major: 3,
        dev_minor: 1,
    };
}

/// Streams newc entries; padding is counted from the archive start, as the kernel expects.
pub struct NewcWriter<W: Write> {
    out: W,
    conventions: NewcConventions,
    next_ino: u32,
    written: u64,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn fit_u32(what: &str, name: &str, value: u64) -> io::Result<u32> {
    u32::try_from(value).map_err(|_| {
        invalid(format!(
            "cpio entry {name:?}: {what} {value} does not fit the newc format's 32-bit field"
        ))
    })
}

impl<W: Write> NewcWriter<W> {
    pub fn new(out: W, conventions: NewcConventions) -> Self {
        NewcWriter {
            out,
            conventions,
            next_ino: conventions.first_ino,
            written: 0,
        }
    }

    /// Appends one entry. Everything is checked before the first byte is written, so a refused
    /// entry leaves the archive as it was.
    pub fn append(&mut self, name: &str, node: &Node) -> io::Result<()> {
        if name.is_empty() || name.contains('\0') || name == TRAILER {
            return Err(invalid(format!(
                "cpio entry name {name:?} is empty, holds a NUL byte or is the trailer name"
            )));
        }
        let mtime = fit_u32("mtime", name, node.mtime)?;
        let mode = (node.mode & 0o7777) | node.type_bits();
        let nlink = if node.kind == NodeKind::Dir { 2 } else { 1 };
        let (mut rdev_major, mut rdev_minor) = (0, 0);
        let mut disk_file = None;
        let size = match &node.kind {
            NodeKind::File(data) => {
                if let FileData::Disk { path, size } = data {
                    let file = File::open(path)?;
                    let actual = file.metadata()?.len();
                    if actual != *size {
                        return Err(io::Error::other(format!(
                            "{} changed size while being archived ({size} -> {actual} bytes)",
                            path.display()
                        )));
                    }
                    disk_file = Some(file);
                }
                fit_u32("file size", name, data.size())?
            }
            NodeKind::Symlink(target) => fit_u32("symlink length", name, target.len() as u64)?,
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                (rdev_major, rdev_minor) = (*major, *minor);
                0
            }
            NodeKind::Dir | NodeKind::Fifo => 0,
        };
        let fields = [
            mode, node.uid, node.gid, nlink, mtime, size, rdev_major, rdev_minor,
        ];
        self.header(name, fields)?;
        match (&node.kind, disk_file) {
            (NodeKind::File(FileData::Bytes(bytes)), _) => self.write(bytes)?,
            (NodeKind::File(FileData::Disk { path, .. }), Some(file)) => {
                let copied = io::copy(&mut file.take(size.into()), &mut self.out)?;
                if copied != u64::from(size) {
                    return Err(io::Error::other(format!(
                        "{} shrank while being archived ({size} -> {copied} bytes)",
                        path.display()
                    )));
                }
                self.advance(copied)?;
            }
            (NodeKind::Symlink(target), _) => self.write(target.as_bytes())?,
            _ => {}
        }
        self.pad(4)
    }

    /// Writes the trailer, pads the archive to 512 bytes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.header(TRAILER, [0, 0, 0, 1, 0, 0, 0, 0])?;
        self.pad(512)?;
        Ok(self.out)
    }

    /// `fields`: mode, uid, gid, nlink, mtime, filesize, rdevmajor, rdevminor.
    fn header(&mut self, name: &str, fields: [u32; 8]) -> io::Result<()> {
        let namesize = fit_u32("name length", name, (name.len() as u64).saturating_add(1))?;
        let ino = self.next_ino;
        self.next_ino = ino
            .checked_add(1)
            .ok_or_else(|| invalid("cpio inode numbers exhausted".to_owned()))?;
        let [mode, uid, gid, nlink, mtime, size, rmaj, rmin] = fields;
        let (dmaj, dmin) = (self.conventions.dev_major, self.conventions.dev_minor);
        let header = format!(
            "070701{ino:08x}{mode:08x}{uid:08x}{gid:08x}{nlink:08x}{mtime:08x}{size:08x}\
             {dmaj:08x}{dmin:08x}{rmaj:08x}{rmin:08x}{namesize:08x}{:08x}",
            0
        );
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad(4)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.advance(bytes.len() as u64)
    }

    fn advance(&mut self, n: u64) -> io::Result<()> {
        self.written = self
            .written
            .checked_add(n)
            .ok_or_else(|| invalid("cpio archive size overflows".to_owned()))?;
        Ok(())
    }

    fn pad(&mut self, to: u64) -> io::Result<()> {
        let rem = self.written % to;
        if rem != 0 {
            let zeros = [0u8; 512];
            let n = usize::try_from(to - rem).unwrap_or(0);
            self.write(zeros.get(..n).unwrap_or_default())?;
        }
        Ok(())
    }
}

/// Writes the whole tree, in its bytewise order, as one newc archive (CVM initrds).
pub fn write_tree_newc<W: Write>(
    tree: &Tree,
    out: W,
    conventions: NewcConventions,
) -> io::Result<W> {
    let mut writer = NewcWriter::new(out, conventions);
    for (path, node) in tree.iter() {
        writer.append(path, node)?;
    }
    writer.finish()
}

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn sample() -> Tree {
        let mut tree = Tree::new();
        let bytes = |b: &[u8]| FileData::Bytes(Arc::from(b));
        tree.insert("bin/sh", Node::file(bytes(b"#!x\n"), 0o755, 9))
            .unwrap();
        tree.insert("lib64", Node::symlink("lib", 9)).unwrap();
        let dev = Node {
            kind: NodeKind::CharDevice { major: 1, minor: 3 },
            mode: 0o666,
            uid: 0,
            gid: 0,
            mtime: 9,
        };
        tree.insert("dev/null", dev).unwrap();
        tree
    }

    #[test]
    fn written_archives_read_back_field_by_field() {
        let bytes = write_tree_newc(&sample(), Vec::new(), NewcConventions::NITRO).unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let entries = read_newc(&bytes[..], &CpioLimits::default()).unwrap();
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["bin", "bin/sh", "dev", "dev/null", "lib64", TRAILER]
        );
        let inos: Vec<_> = entries.iter().map(|e| e.ino).collect();
        assert_eq!(inos, [721, 722, 723, 724, 725, 726]);
        assert_eq!((entries[0].mode, entries[0].nlink), (0o40755, 2));
        assert_eq!((entries[1].mode, entries[1].size), (0o100755, 4));
        assert_eq!(entries[1].content.as_deref(), Some(&b"#!x\n"[..]));
        assert_eq!(
            (
                entries[3].mode,
                entries[3].rdev_major,
                entries[3].rdev_minor
            ),
            (0o20666, 1, 3)
        );
        assert_eq!(
            (entries[4].mode, entries[4].content.as_deref()),
            (0o120777, Some(&b"lib"[..]))
        );
        assert!(entries[..5]
            .iter()
            .all(|e| (e.dev_major, e.dev_minor) == (3, 1)));
        let trailer = &entries[5];
        assert_eq!(
            (trailer.mode, trailer.nlink, trailer.mtime, trailer.size),
            (0, 1, 0, 0)
        );
    }

    #[test]
    fn out_of_range_fields_are_errors_not_truncations() {
        let mut writer = NewcWriter::new(Vec::new(), NewcConventions::NITRO);
        let err = writer
            .append("x", &Node::dir(0o755, u64::from(u32::MAX) + 1))
            .unwrap_err();
        assert!(err.to_string().contains("mtime"), "{err}");
        let err = writer.append(TRAILER, &Node::dir(0o755, 0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        // Nothing was written by the refused entries: the next one still gets the first inode.
        writer.append("ok", &Node::dir(0o755, 0)).unwrap();
        let bytes = writer.finish().unwrap();
        let entries = read_newc(&bytes[..], &CpioLimits::default()).unwrap();
        assert_eq!((entries[0].name.as_str(), entries[0].ino), ("ok", 721));
    }

    #[test]
    fn malformed_archives_are_refused() {
        let good = write_tree_newc(&sample(), Vec::new(), NewcConventions::NITRO).unwrap();
        let limits = CpioLimits::default();
        let read = |bytes: &[u8]| read_newc(bytes, &limits).unwrap_err();
        assert!(matches!(read(&good[..200]), CpioError::Truncated { .. }));
        assert!(matches!(
            read(&good[..0]),
            CpioError::MissingTrailer { offset: 0 }
        ));
        let mut crc = good.clone();
        crc[5] = b'2';
        assert!(matches!(read(&crc), CpioError::CrcVariant { offset: 0 }));
        let mut hex = good.clone();
        hex[10] = b'g';
        assert!(matches!(
            read(&hex),
            CpioError::BadHexField { field: "ino", .. }
        ));
        let mut tail = good.clone();
        *tail.last_mut().unwrap() = 1;
        assert!(matches!(read(&tail), CpioError::TrailingData { .. }));
        let small = CpioLimits {
            max_entries: 2,
            ..CpioLimits::default()
        };
        let err = read_newc(&good[..], &small).unwrap_err();
        assert!(matches!(err, CpioError::TooManyEntries { max: 2 }));
        let tiny = CpioLimits {
            max_total_size: 300,
            ..CpioLimits::default()
        };
        let err = read_newc(&good[..], &tiny).unwrap_err();
        assert!(matches!(err, CpioError::TooLarge { max: 300 }));
    }
}
