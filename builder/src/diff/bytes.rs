//! Streamed byte comparison: sizes, SHA-256 and the first differing offset of two byte sources, in
//! 1 MiB steps; and unified diffs of small text.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{DiffError, DiffKind, Difference, Side};
use crate::archive::FileData;

const CHUNK: usize = 1 << 20;

/// Where an object's bytes are: in memory, or a range of a file (a whole file, an EIF section, a
/// cpio entry's data).
#[derive(Debug, Clone)]
pub(crate) enum Content {
    Bytes(Arc<[u8]>),
    Range {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl Content {
    /// A tree's file content, read where it lies.
    pub fn of(data: &FileData) -> Content {
        match data {
            FileData::Bytes(bytes) => Content::Bytes(Arc::clone(bytes)),
            FileData::Disk { path, size } => Content::Range {
                path: path.clone(),
                offset: 0,
                len: *size,
            },
            FileData::Region { path, offset, size } => Content::Range {
                path: path.clone(),
                offset: *offset,
                len: *size,
            },
        }
    }

    pub fn file(path: &Path) -> Result<Content, DiffError> {
        let len = std::fs::metadata(path)
            .map_err(super::io_err(format_args!("inspecting {}", path.display())))?
            .len();
        Ok(Content::Range {
            path: path.to_owned(),
            offset: 0,
            len,
        })
    }

    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(bytes) => bytes.len() as u64,
            Content::Range { len, .. } => *len,
        }
    }

    /// A reader of exactly `len()` bytes; a file that turns out shorter is an error when read.
    pub fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        match self {
            Content::Bytes(bytes) => Ok(Box::new(&bytes[..])),
            Content::Range { path, offset, len } => {
                let mut file = File::open(path)?;
                file.seek(SeekFrom::Start(*offset))?;
                Ok(Box::new(Exact {
                    inner: file.take(*len),
                    left: *len,
                }))
            }
        }
    }

    /// The whole contents when at most `max` bytes.
    pub fn read_small(&self, max: u64) -> io::Result<Option<Vec<u8>>> {
        if self.len() > max {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.open()?.read_to_end(&mut bytes)?;
        Ok(Some(bytes))
    }

    pub fn describe(&self) -> String {
        match self {
            Content::Bytes(_) => "in-memory data".to_owned(),
            Content::Range {
                path, offset: 0, ..
            } => path.display().to_string(),
            Content::Range { path, offset, len } => {
                format!("{} (bytes {offset}..+{len})", path.display())
            }
        }
    }
}

/// Fails with `UnexpectedEof` rather than ending early when the file is shorter than promised.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} bytes short: the file changed or is truncated",
                    self.left
                ),
            ));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// Reads until `buf` is full or the stream ends.
fn fill(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Sizes and digests of both sides, and where they first differ (`None`: identical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Compared {
    pub a: Side,
    pub b: Side,
    pub first_differing_offset: Option<u64>,
}

impl Compared {
    pub fn identical(&self) -> bool {
        self.first_differing_offset.is_none()
    }

    /// The difference at `path`, if the two sides differ.
    pub fn difference(&self, path: &str) -> Option<Difference> {
        self.first_differing_offset.map(|offset| {
            let mut diff = Difference::new(path, DiffKind::Changed);
            diff.a = Some(self.a.clone());
            diff.b = Some(self.b.clone());
            diff.first_differing_offset = Some(offset);
            diff
        })
    }
}

/// Streams both sides once, side by side.
pub(crate) fn compare(a: &Content, b: &Content) -> Result<Compared, DiffError> {
    let what = || format!("comparing {} with {}", a.describe(), b.describe());
    compare_io(a, b).map_err(|e| super::io_err(what())(e))
}

fn compare_io(a: &Content, b: &Content) -> io::Result<Compared> {
    let (mut ra, mut rb) = (a.open()?, b.open()?);
    let (mut buf_a, mut buf_b) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let (mut hash_a, mut hash_b) = (Sha256::new(), Sha256::new());
    let (mut size_a, mut size_b) = (0u64, 0u64);
    let mut first = None;
    loop {
        let na = fill(&mut *ra, &mut buf_a)?;
        let nb = fill(&mut *rb, &mut buf_b)?;
        if na == 0 && nb == 0 {
            break;
        }
        let (part_a, part_b) = (&buf_a[..na], &buf_b[..nb]);
        if first.is_none() && size_a == size_b {
            let common = na.min(nb);
            let mismatch = part_a
                .iter()
                .zip(part_b)
                .position(|(x, y)| x != y)
                .or((na != nb).then_some(common));
            first = mismatch.map(|pos| size_a + pos as u64);
        }
        hash_a.update(part_a);
        hash_b.update(part_b);
        size_a += na as u64;
        size_b += nb as u64;
    }
    if first.is_none() && size_a != size_b {
        first = Some(size_a.min(size_b));
    }
    let side = |size, hash: Sha256| Side {
        file_type: None,
        size: Some(size),
        sha256: Some(hex::encode(hash.finalize())),
    };
    Ok(Compared {
        a: side(size_a, hash_a),
        b: side(size_b, hash_b),
        first_differing_offset: first,
    })
}

/// Size and SHA-256 of one side.
pub(crate) fn summarize(content: &Content) -> Result<Side, DiffError> {
    let read = || -> io::Result<Side> {
        let mut reader = content.open()?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut reader, &mut HashSink(&mut hasher))?;
        Ok(Side {
            file_type: None,
            size: Some(size),
            sha256: Some(hex::encode(hasher.finalize())),
        })
    };
    read().map_err(super::io_err(format_args!(
        "reading {}",
        content.describe()
    )))
}

struct HashSink<'a>(&'a mut Sha256);

impl io::Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// UTF-8 without NUL bytes.
fn as_text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|text| !text.contains('\0'))
}

/// A unified diff (3 lines of context) when both sides are text.
pub(crate) fn text_diff(name: &str, a: &[u8], b: &[u8]) -> Option<String> {
    let (a, b) = (as_text(a)?, as_text(b)?);
    let diff = similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    Some(diff)
}

/// [`text_diff`] of two contents, when both are at most `max` bytes.
pub(crate) fn text_diff_of(
    name: &str,
    a: &Content,
    b: &Content,
    max: u64,
) -> Result<Option<String>, DiffError> {
    let read = |c: &Content| {
        c.read_small(max)
            .map_err(super::io_err(format_args!("reading {}", c.describe())))
    };
    match (read(a)?, read(b)?) {
        (Some(a), Some(b)) => Ok(text_diff(name, &a, &b)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(bytes: &[u8]) -> Content {
        Content::Bytes(Arc::from(bytes))
    }

    #[test]
    fn first_differing_offset_and_prefixes() {
        let same = compare(&mem(b"abc"), &mem(b"abc")).unwrap();
        assert!(same.identical());
        assert_eq!(same.a, same.b);
        let changed = compare(&mem(b"abcd"), &mem(b"abXd")).unwrap();
        assert_eq!(changed.first_differing_offset, Some(2));
        let longer = compare(&mem(b"abc"), &mem(b"abcdef")).unwrap();
        assert_eq!(longer.first_differing_offset, Some(3));
        assert_eq!((longer.a.size, longer.b.size), (Some(3), Some(6)));
        let empty = compare(&mem(b""), &mem(b"x")).unwrap();
        assert_eq!(empty.first_differing_offset, Some(0));
    }

    #[test]
    fn across_chunks_and_file_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = vec![7u8; CHUNK * 2 + 100];
        let path_a = dir.path().join("a");
        std::fs::write(&path_a, &data).unwrap();
        data[CHUNK + 5] = 8;
        let path_b = dir.path().join("b");
        std::fs::write(&path_b, &data).unwrap();
        let a = Content::file(&path_a).unwrap();
        let b = Content::file(&path_b).unwrap();
        let compared = compare(&a, &b).unwrap();
        assert_eq!(compared.first_differing_offset, Some(CHUNK as u64 + 5));
        assert_eq!(
            compared.b.sha256.unwrap(),
            hex::encode(Sha256::digest(&data))
        );
        let range = |path: &Path, offset| Content::Range {
            path: path.to_owned(),
            offset,
            len: 10,
        };
        let ranged = compare(&range(&path_a, CHUNK as u64), &range(&path_b, CHUNK as u64)).unwrap();
        assert_eq!(ranged.first_differing_offset, Some(5));
        let short = Content::Range {
            path: path_a,
            offset: 0,
            len: data.len() as u64 + 1,
        };
        assert!(compare(&short, &b).is_err());
    }

    #[test]
    fn text_diffs_only_for_text() {
        let diff = text_diff("x", b"a\nb\n", b"a\nc\n").unwrap();
        assert!(diff.contains("--- a/x\n+++ b/x\n"), "{diff}");
        assert!(diff.contains("-b\n+c\n"), "{diff}");
        assert!(text_diff("x", b"a\0", b"b").is_none());
        assert!(text_diff("x", &[0xff], b"b").is_none());
    }
}
