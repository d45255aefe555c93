//! Safe tar import: a tar stream from outside (a container download) becomes a [`Tree`] without
//! ever writing to a path the archive names. File contents go to generated names in a work
//! directory; every path, link target, size and count is checked before it is used.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::tree::{FileData, Node, NodeKind, Tree, TreeError};

/// Bounds on what one archive may make us store; an archive beyond them is refused, not truncated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLimits {
    pub max_entries: usize,
    pub max_file_size: u64,
    pub max_total_size: u64,
    /// Bytes, for entry paths and link targets alike.
    pub max_path_len: usize,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            max_entries: 1_000_000,
            max_file_size: 8 << 30,
            max_total_size: 32 << 30,
            max_path_len: 4096,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPolicy {
    /// Device nodes and fifos are refused unless set: a build output has no business holding them.
    pub allow_devices: bool,
    /// Leading path components dropped from every entry and hard link target, like
    /// `tar --strip-components`: Docker's `GET /containers/{id}/archive?path=/out` names its root `out/`.
    pub strip_components: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the tar stream failed: {source} (is it a plain, uncompressed tar?)")]
    Read { source: io::Error },
    #[error("the tar stream ended without its end-of-archive blocks: the archive is truncated; download it again")]
    Truncated,
    #[error("the data of {path:?} is cut short: the archive is truncated; download it again")]
    TruncatedEntry { path: String },
    #[error("an entry's extension headers (long names, PAX records) exceed {max} bytes: refusing a malformed archive")]
    HeaderTooLarge { max: u64 },
    #[error("the archive has more than {max} entries: raise ImportLimits::max_entries if this is expected")]
    TooManyEntries { max: usize },
    #[error("entry path or link target {path:?} is {len} bytes, more than the limit of {max}")]
    PathTooLong {
        path: String,
        len: usize,
        max: usize,
    },
    #[error("entry path {path:?} is not valid UTF-8: rename the file in the image")]
    NonUtf8Path { path: String },
    #[error("entry {path:?} is absolute: archives must use relative paths")]
    AbsolutePath { path: String },
    #[error("entry {path:?} contains a '..' component (path traversal): refusing the archive")]
    PathTraversal { path: String },
    #[error("entry {path:?} is not a usable path (NUL byte?)")]
    BadPath { path: String },
    #[error("symlink {path:?} -> {target:?} points outside the root: refusing the archive")]
    SymlinkEscapes { path: String, target: String },
    #[error("link {path:?} has an unusable target: {reason}")]
    BadLinkTarget { path: String, reason: &'static str },
    #[error(
        "hard link {path:?} -> {target:?} is absolute or leaves the root: refusing the archive"
    )]
    HardLinkEscapes { path: String, target: String },
    #[error("hard link {path:?} -> {target:?}: the target is not an earlier regular file of this archive")]
    HardLinkTarget { path: String, target: String },
    #[error("entry {path:?} lies under {parent:?}, which is not a directory (a symlink or file): refusing the archive")]
    ParentNotDir { path: String, parent: String },
    #[error("entry {path:?} is a {kind}; device nodes and fifos are refused unless ImportPolicy::allow_devices is set")]
    DeviceNotAllowed { path: String, kind: &'static str },
    #[error("entry {path:?} has unsupported tar entry type {type_byte:?}: only directories, files, symlinks, hard links, devices and fifos are accepted")]
    UnsupportedType { path: String, type_byte: char },
    #[error("entry {path:?} has a bad header field ({field}): {source}")]
    BadHeader {
        path: String,
        field: &'static str,
        source: io::Error,
    },
    #[error("entry {path:?} has {field} {value}, beyond the 32-bit range")]
    IdTooLarge {
        path: String,
        field: &'static str,
        value: u64,
    },
    #[error("entry {path:?} is {size} bytes, more than the per-file limit of {max}")]
    FileTooLarge { path: String, size: u64, max: u64 },
    #[error("the archive's files exceed {max} bytes in total (at {path:?}): raise ImportLimits::max_total_size if this is expected")]
    TotalTooLarge { path: String, max: u64 },
    #[error("writing file contents to {}: {source} (the work directory must exist, be writable and start empty)", path.display())]
    WriteBlob { path: PathBuf, source: io::Error },
}

/// Shared between the importer and the reader the tar crate owns, so the importer can bound what
/// the crate reads on its own (headers, long names, PAX records, skipped data) and tell a clean end
/// of archive from an end of stream.
#[derive(Default)]
struct StreamState {
    /// `None` while we read entry data ourselves (bounded by the entry size).
    budget: Cell<Option<u64>>,
    exceeded: Cell<bool>,
    eof: Cell<bool>,
}

struct GuardedReader<R> {
    inner: R,
    state: Rc<StreamState>,
}

impl<R: Read> Read for GuardedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let budget = self.state.budget.get();
        let want = match budget {
            None => buf.len(),
            Some(0) => {
                self.state.exceeded.set(true);
                return Err(io::Error::other("tar metadata exceeds the import limit"));
            }
            Some(left) => buf.len().min(usize::try_from(left).unwrap_or(usize::MAX)),
        };
        let n = self.inner.read(buf.get_mut(..want).unwrap_or_default())?;
        if n == 0 {
            self.state.eof.set(true);
        }
        if let Some(left) = budget {
            self.state.budget.set(Some(left.saturating_sub(n as u64)));
        }
        Ok(n)
    }
}

/// Reads a tar stream into a [`Tree`]. Regular files are copied to `work_dir/blob-NNNNNN` (created
/// exclusively, so nothing there is overwritten or followed) and referenced as [`FileData::Disk`].
/// On error, blobs already written stay in `work_dir`: the caller owns and removes it.
/// Duplicate paths: the later entry wins, as when tar extracts.
pub fn import_tar<R: Read>(
    reader: R,
    work_dir: &Path,
    limits: &ImportLimits,
    policy: &ImportPolicy,
) -> Result<Tree, ImportError> {
    read_tar(reader, Contents::CopyTo(work_dir), limits, policy)
}

/// Reads the tar file at `archive` into a [`Tree`] whose regular files stay where they are, as
/// [`FileData::Region`]s of the archive: for a large archive that is kept anyway (the vendor
/// cache), which would otherwise be copied out file by file. Checked exactly as [`import_tar`]
/// checks; the archive must not change while the tree is in use.
pub fn index_tar(
    archive: &Path,
    limits: &ImportLimits,
    policy: &ImportPolicy,
) -> Result<Tree, ImportError> {
    let file = File::open(archive).map_err(|source| ImportError::Read { source })?;
    read_tar(
        io::BufReader::with_capacity(256 * 1024, file),
        Contents::InPlace(archive),
        limits,
        policy,
    )
}

/// Where the bytes of an imported file end up.
#[derive(Clone, Copy)]
enum Contents<'a> {
    /// Copied out, each to a new file in this directory.
    CopyTo(&'a Path),
    /// Left in the archive, which is this file.
    InPlace(&'a Path),
}

fn read_tar<R: Read>(
    reader: R,
    contents: Contents<'_>,
    limits: &ImportLimits,
    policy: &ImportPolicy,
) -> Result<Tree, ImportError> {
    let state = Rc::new(StreamState::default());
    let mut archive = tar::Archive::new(GuardedReader {
        inner: reader,
        state: Rc::clone(&state),
    });
    // Room for one header, a GNU long name and long link, PAX records with both paths and some
    // xattrs, and the padding of the previous entry.
    let path_room = (limits.max_path_len as u64).saturating_add(512);
    let meta_budget = path_room.saturating_mul(4).saturating_add(66 * 1024);
    let mut entries = archive
        .entries()
        .map_err(|source| ImportError::Read { source })?;
    let mut tree = Tree::new();
    let mut importer = Importer {
        contents,
        limits,
        policy,
        count: 0,
        total: 0,
        blobs: 0,
    };
    // Bytes of the previous entry that the tar crate skips before the next header.
    let mut unread = 0u64;
    loop {
        state.budget.set(Some(meta_budget.saturating_add(unread)));
        let next = entries.next();
        state.budget.set(None);
        let mut entry = match next {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(source)) => return Err(stream_error(&state, meta_budget, source)),
        };
        unread = entry.size();
        if importer.add(&mut entry, &mut tree, &state)? {
            unread = 0;
        }
    }
    if state.eof.get() {
        return Err(ImportError::Truncated);
    }
    Ok(tree)
}

fn stream_error(state: &StreamState, max: u64, source: io::Error) -> ImportError {
    if state.exceeded.get() {
        ImportError::HeaderTooLarge { max }
    } else if state.eof.get() {
        ImportError::Truncated
    } else {
        ImportError::Read { source }
    }
}

struct Importer<'a> {
    contents: Contents<'a>,
    limits: &'a ImportLimits,
    policy: &'a ImportPolicy,
    count: usize,
    total: u64,
    blobs: u64,
}

impl Importer<'_> {
    /// Adds one entry; returns whether its data was consumed.
    fn add<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        tree: &mut Tree,
        state: &StreamState,
    ) -> Result<bool, ImportError> {
        self.count = self.count.saturating_add(1);
        if self.count > self.limits.max_entries {
            return Err(ImportError::TooManyEntries {
                max: self.limits.max_entries,
            });
        }
        let raw_path = self.checked_str(&entry.path_bytes())?;
        let size = entry.size();
        if size > self.limits.max_file_size {
            return Err(ImportError::FileTooLarge {
                path: raw_path,
                size,
                max: self.limits.max_file_size,
            });
        }
        let entry_type = entry.header().entry_type();
        if entry_type.is_pax_global_extensions() {
            return Ok(false);
        }
        let path = match normalize(&raw_path, self.policy.strip_components) {
            Ok(Some(path)) => path,
            Ok(None) => return Ok(false),
            Err(Escape::Absolute) => return Err(ImportError::AbsolutePath { path: raw_path }),
            Err(Escape::Parent) => return Err(ImportError::PathTraversal { path: raw_path }),
        };
        let header = entry.header();
        let mode = field(&path, "mode", header.mode())? & 0o7777;
        let uid = id(&path, "uid", field(&path, "uid", header.uid())?)?;
        let gid = id(&path, "gid", field(&path, "gid", header.gid())?)?;
        let mtime = field(&path, "mtime", header.mtime())?;
        let mut consumed = false;
        let kind = match entry_type {
            tar::EntryType::Directory => NodeKind::Dir,
            tar::EntryType::Regular => {
                self.count_data(&path, size)?;
                match self.contents {
                    Contents::CopyTo(work_dir) => {
                        consumed = true;
                        NodeKind::File(self.copy_data(entry, work_dir, &path, size, state)?)
                    }
                    Contents::InPlace(archive) => NodeKind::File(FileData::Region {
                        path: archive.to_owned(),
                        offset: entry.raw_file_position(),
                        size,
                    }),
                }
            }
            tar::EntryType::Symlink => {
                let target = self.link_target(entry, &path)?;
                if symlink_escapes(&path, &target) {
                    return Err(ImportError::SymlinkEscapes { path, target });
                }
                NodeKind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = self.link_target(entry, &path)?;
                let resolved = match normalize(&target, self.policy.strip_components) {
                    Ok(resolved) => resolved,
                    Err(_) => return Err(ImportError::HardLinkEscapes { path, target }),
                };
                // A hard link shares the target's inode, so it takes the target's metadata too.
                match resolved.and_then(|t| tree.get(&t)) {
                    Some(node) if matches!(node.kind, NodeKind::File(_)) => {
                        let node = node.clone();
                        insert(tree, &path, node)?;
                        return Ok(false);
                    }
                    _ => return Err(ImportError::HardLinkTarget { path, target }),
                }
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                let is_char = entry_type == tar::EntryType::Char;
                self.check_devices(
                    &path,
                    if is_char {
                        "character device"
                    } else {
                        "block device"
                    },
                )?;
                let major = device(&path, "device major", header.device_major())?;
                let minor = device(&path, "device minor", header.device_minor())?;
                if is_char {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                }
            }
            tar::EntryType::Fifo => {
                self.check_devices(&path, "fifo")?;
                NodeKind::Fifo
            }
            other => {
                return Err(ImportError::UnsupportedType {
                    path,
                    type_byte: char::from(other.as_byte()),
                })
            }
        };
        let node = Node {
            kind,
            mode,
            uid,
            gid,
            mtime,
        };
        insert(tree, &path, node)?;
        Ok(consumed)
    }

    fn checked_str(&self, bytes: &[u8]) -> Result<String, ImportError> {
        let lossy = || String::from_utf8_lossy(bytes).into_owned();
        if bytes.len() > self.limits.max_path_len {
            return Err(ImportError::PathTooLong {
                path: lossy(),
                len: bytes.len(),
                max: self.limits.max_path_len,
            });
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(ImportError::NonUtf8Path { path: lossy() }),
        }
    }

    fn link_target<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        path: &str,
    ) -> Result<String, ImportError> {
        let bad = |reason| ImportError::BadLinkTarget {
            path: path.to_owned(),
            reason,
        };
        let bytes = entry
            .link_name_bytes()
            .ok_or_else(|| bad("it is missing"))?;
        if bytes.is_empty() {
            return Err(bad("it is empty"));
        }
        if bytes.contains(&0) {
            return Err(bad("it contains a NUL byte"));
        }
        self.checked_str(&bytes)
    }

    fn check_devices(&self, path: &str, kind: &'static str) -> Result<(), ImportError> {
        if self.policy.allow_devices {
            Ok(())
        } else {
            Err(ImportError::DeviceNotAllowed {
                path: path.to_owned(),
                kind,
            })
        }
    }

    fn count_data(&mut self, path: &str, size: u64) -> Result<(), ImportError> {
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_total_size {
            return Err(ImportError::TotalTooLarge {
                path: path.to_owned(),
                max: self.limits.max_total_size,
            });
        }
        Ok(())
    }

    fn copy_data<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        work_dir: &Path,
        path: &str,
        size: u64,
        state: &StreamState,
    ) -> Result<FileData, ImportError> {
        self.blobs = self.blobs.saturating_add(1);
        let blob = work_dir.join(format!("blob-{:06}", self.blobs));
        let write_err = |source| ImportError::WriteBlob {
            path: blob.clone(),
            source,
        };
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&blob)
            .map_err(write_err)?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let chunk = buf.get_mut(..want).unwrap_or_default();
            let n = match entry.read(chunk) {
                Ok(0) => 0,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(stream_error(state, 0, source)),
            };
            if n == 0 {
                return Err(ImportError::TruncatedEntry {
                    path: path.to_owned(),
                });
            }
            file.write_all(chunk.get(..n).unwrap_or_default())
                .map_err(write_err)?;
            left = left.saturating_sub(n as u64);
        }
        file.flush().map_err(write_err)?;
        Ok(FileData::Disk { path: blob, size })
    }
}

fn insert(tree: &mut Tree, path: &str, node: Node) -> Result<(), ImportError> {
    tree.insert(path, node).map_err(|e| match e {
        TreeError::ParentNotDir { path, parent } => ImportError::ParentNotDir { path, parent },
        TreeError::BadPath { path } => ImportError::BadPath { path },
    })
}

fn field<T>(path: &str, field: &'static str, value: io::Result<T>) -> Result<T, ImportError> {
    value.map_err(|source| ImportError::BadHeader {
        path: path.to_owned(),
        field,
        source,
    })
}

fn id(path: &str, field: &'static str, value: u64) -> Result<u32, ImportError> {
    u32::try_from(value).map_err(|_| ImportError::IdTooLarge {
        path: path.to_owned(),
        field,
        value,
    })
}

fn device(
    path: &str,
    name: &'static str,
    value: io::Result<Option<u32>>,
) -> Result<u32, ImportError> {
    field(path, name, value)?.ok_or_else(|| ImportError::BadHeader {
        path: path.to_owned(),
        field: name,
        source: io::Error::other("old-style header without device numbers"),
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Escape {
    Absolute,
    Parent,
}

/// Cleans an archive path (`./usr//bin/` -> `usr/bin`) and drops `strip` leading components;
/// `None` for the root itself. Anything that could leave the root is an error, not cleaned away.
fn normalize(raw: &str, strip: usize) -> Result<Option<String>, Escape> {
    if raw.starts_with('/') {
        return Err(Escape::Absolute);
    }
    let mut parts = Vec::new();
    for component in raw.split('/') {
        match component {
            "" | "." => {}
            ".." => return Err(Escape::Parent),
            other => parts.push(other),
        }
    }
    Ok(parts
        .get(strip..)
        .filter(|rest| !rest.is_empty())
        .map(|rest| rest.join("/")))
}

/// Whether a relative target, resolved lexically from the link's directory, climbs above the
/// root. Absolute targets resolve inside the root once it is a chroot or container.
fn symlink_escapes(link: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth = link.matches('/').count();
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return true,
            },
            _ => depth = depth.saturating_add(1),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_stripped() {
        assert_eq!(normalize("./usr/bin", 0), Ok(Some("usr/bin".into())));
        assert_eq!(normalize("./", 0), Ok(None));
        assert_eq!(normalize(".", 0), Ok(None));
        assert_eq!(normalize("out/", 1), Ok(None));
        assert_eq!(normalize("out/a//b/", 1), Ok(Some("a/b".into())));
        assert_eq!(normalize("/etc/passwd", 0), Err(Escape::Absolute));
        assert_eq!(normalize("out/../../x", 1), Err(Escape::Parent));
    }

    #[test]
    fn relative_symlinks_may_not_climb_above_the_root() {
        assert!(!symlink_escapes("lib64", "/lib/ld.so"));
        assert!(!symlink_escapes("usr/lib64", "../lib"));
        assert!(!symlink_escapes("a/b/c", "../../x/./y"));
        assert!(symlink_escapes("a", "../../etc"));
        assert!(symlink_escapes("usr/x", "../../etc"));
        assert!(symlink_escapes("a/b", "c/../../../d"));
    }

    #[test]
    fn an_empty_stream_is_truncated_and_an_empty_archive_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let (limits, policy) = (ImportLimits::default(), ImportPolicy::default());
        let err = import_tar(&b""[..], dir.path(), &limits, &policy).unwrap_err();
        assert!(matches!(err, ImportError::Truncated), "{err}");
        let tree = import_tar(&[0u8; 1024][..], dir.path(), &limits, &policy).unwrap();
        assert!(tree.is_empty());
    }
}
