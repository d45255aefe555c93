//! [`Tree`]: a root file system held as sorted paths, written out in the same order every time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a regular file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileData {
    Bytes(Arc<[u8]>),
    /// A file on disk, read when the archive is written; `size` is checked then.
    Disk {
        path: PathBuf,
        size: u64,
    },
    /// `size` bytes at `offset` of a file on disk: an entry of a tar read in place (the vendor
    /// cache's 700 MiB of crates) instead of copied out into a file of its own.
    Region {
        path: PathBuf,
        offset: u64,
        size: u64,
    },
}

impl FileData {
    pub fn size(&self) -> u64 {
        match self {
            FileData::Bytes(bytes) => bytes.len() as u64,
            FileData::Disk { size, .. } | FileData::Region { size, .. } => *size,
        }
    }

    /// The file on disk holding the content, and where in it: `(path, offset, size)`.
    pub fn location(&self) -> Option<(&Path, u64, u64)> {
        match self {
            FileData::Bytes(_) => None,
            FileData::Disk { path, size } => Some((path, 0, *size)),
            FileData::Region { path, offset, size } => Some((path, *offset, *size)),
        }
    }

    /// A reader over exactly the content. A file on disk must still hold what was recorded: one
    /// that changed size, or ends before its region does, is an error rather than a short read.
    pub fn open(&self) -> io::Result<ContentReader<'_>> {
        let (path, offset, size) = match self {
            FileData::Bytes(bytes) => return Ok(ContentReader::Bytes(&bytes[..])),
            FileData::Disk { path, size } => (path, 0, *size),
            FileData::Region { path, offset, size } => (path, *offset, *size),
        };
        let mut file = File::open(path)?;
        let actual = file.metadata()?.len();
        let fits = match self {
            FileData::Region { .. } => offset.checked_add(size).is_some_and(|end| end <= actual),
            _ => actual == size,
        };
        if !fits {
            return Err(io::Error::other(format!(
                "{} changed size while being read: {size} bytes at offset {offset} were recorded, the file now has {actual}",
                path.display()
            )));
        }
        file.seek(SeekFrom::Start(offset))?;
        Ok(ContentReader::Disk {
            file: file.take(size),
            path,
            left: size,
        })
    }

    /// The whole content, for small files (lists, configuration).
    pub fn read(&self) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.size()).unwrap_or(0));
        self.open()?.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// What [`FileData::open`] returns: the content's bytes, ending with an error if the file on disk
/// ends early.
pub enum ContentReader<'a> {
    Bytes(&'a [u8]),
    Disk {
        file: io::Take<File>,
        path: &'a Path,
        left: u64,
    },
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ContentReader::Bytes(bytes) => bytes.read(buf),
            ContentReader::Disk { file, path, left } => {
                let n = file.read(buf)?;
                if n == 0 && *left > 0 && !buf.is_empty() {
                    return Err(io::Error::other(format!(
                        "{} shrank while being read ({left} bytes missing)",
                        path.display()
                    )));
                }
                *left -= n as u64;
                Ok(n)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File(FileData),
    /// The target exactly as stored (relative or absolute, never resolved on the host).
    Symlink(String),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// One path's object. `mode` holds the permission bits only (`0o7777`); the type is `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
}

impl Node {
    pub fn dir(mode: u32, mtime: u64) -> Self {
        Node {
            kind: NodeKind::Dir,
            mode,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    pub fn file(data: FileData, mode: u32, mtime: u64) -> Self {
        Node {
            kind: NodeKind::File(data),
            mode,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    pub fn symlink(target: impl Into<String>, mtime: u64) -> Self {
        Node {
            kind: NodeKind::Symlink(target.into()),
            mode: 0o777,
            uid: 0,
            gid: 0,
            mtime,
        }
    }

    /// The type bits of `st_mode` (`S_IFDIR` and friends) for this node.
    pub fn type_bits(&self) -> u32 {
        match self.kind {
            NodeKind::Dir => 0o040000,
            NodeKind::File(_) => 0o100000,
            NodeKind::Symlink(_) => 0o120000,
            NodeKind::CharDevice { .. } => 0o020000,
            NodeKind::BlockDevice { .. } => 0o060000,
            NodeKind::Fifo => 0o010000,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    #[error("path {path:?} is not a clean relative path (no leading '/', no '.', '..' or empty components)")]
    BadPath { path: String },
    #[error("cannot put {path:?} under {parent:?}, which is not a directory")]
    ParentNotDir { path: String, parent: String },
}

/// Paths are relative (`usr/bin/x`), without `.`/`..`/empty components, and sorted bytewise, so
/// iteration order (and every archive written from it) is independent of how the tree was filled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks that `path` is clean and relative and returns it without a trailing '/'.
    pub fn clean_path(path: &str) -> Result<&str, TreeError> {
        let trimmed = path.strip_suffix('/').unwrap_or(path);
        let bad = trimmed.is_empty()
            || trimmed.starts_with('/')
            || trimmed
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
            || trimmed.contains('\0');
        if bad {
            return Err(TreeError::BadPath {
                path: path.to_owned(),
            });
        }
        Ok(trimmed)
    }

    /// Inserts or replaces `path`, creating missing parent directories as `0755` root-owned
    /// directories with the node's mtime.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<(), TreeError> {
        let path = Self::clean_path(path)?;
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let parent = &path[..end + slash];
            match self.nodes.get(parent) {
                Some(existing) if existing.kind != NodeKind::Dir => {
                    return Err(TreeError::ParentNotDir {
                        path: path.to_owned(),
                        parent: parent.to_owned(),
                    })
                }
                Some(_) => {}
                None => {
                    self.nodes
                        .insert(parent.to_owned(), Node::dir(0o755, node.mtime));
                }
            }
            end += slash + 1;
        }
        if node.kind != NodeKind::Dir {
            // Replacing a directory by a file would orphan its children.
            let prefix = format!("{path}/");
            self.nodes.retain(|p, _| !p.starts_with(&prefix));
        }
        self.nodes.insert(path.to_owned(), node);
        Ok(())
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path.strip_suffix('/').unwrap_or(path))
    }

    pub fn remove(&mut self, path: &str) -> Option<Node> {
        let path = path.strip_suffix('/').unwrap_or(path);
        let prefix = format!("{path}/");
        self.nodes.retain(|p, _| !p.starts_with(&prefix));
        self.nodes.remove(path)
    }

    /// Entries in bytewise path order (parents before their children).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (p.as_str(), n))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Sum of regular file sizes.
    pub fn content_size(&self) -> u64 {
        self.nodes
            .values()
            .map(|n| match &n.kind {
                NodeKind::File(data) => data.size(),
                _ => 0,
            })
            .sum()
    }

    /// Sets every mtime to `mtime` (SOURCE_DATE_EPOCH): after a checkout every file is newer than the
    /// commit, so clamping and setting are the same, and setting does not depend on the checkout.
    pub fn set_all_mtimes(&mut self, mtime: u64) {
        for node in self.nodes.values_mut() {
            node.mtime = mtime;
        }
    }

    /// Makes root (0:0) the owner of everything: what a build container happened to run as is not
    /// part of the image.
    pub fn set_all_owners_root(&mut self) {
        for node in self.nodes.values_mut() {
            node.uid = 0;
            node.gid = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_created_and_order_is_bytewise() {
        let mut tree = Tree::new();
        tree.insert(
            "usr/bin/z",
            Node::file(FileData::Bytes(Arc::from(&b"z"[..])), 0o755, 5),
        )
        .unwrap();
        tree.insert("usr/bin/a", Node::symlink("z", 5)).unwrap();
        tree.insert("etc/", Node::dir(0o755, 5)).unwrap();
        let paths: Vec<_> = tree.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["etc", "usr", "usr/bin", "usr/bin/a", "usr/bin/z"]);
        assert_eq!(tree.get("usr/bin").unwrap().kind, NodeKind::Dir);
    }

    #[test]
    fn unclean_paths_are_refused() {
        let mut tree = Tree::new();
        for bad in ["", "/etc/passwd", "a/../b", "./a", "a//b", "..", "a\0b"] {
            let err = tree.insert(bad, Node::dir(0o755, 0)).unwrap_err();
            assert!(matches!(err, TreeError::BadPath { .. }), "{bad:?}");
        }
    }

    #[test]
    fn a_file_cannot_hold_children() {
        let mut tree = Tree::new();
        tree.insert("a", Node::symlink("/etc", 0)).unwrap();
        let err = tree.insert("a/b", Node::dir(0o755, 0)).unwrap_err();
        assert!(matches!(err, TreeError::ParentNotDir { .. }));
    }
}
