//! Deterministic tar: entries in the tree's bytewise order, GNU headers filled field by field (mode,
//! uid/gid, mtime from the node; empty user and group names; no atime/ctime, no PAX records), so the
//! bytes depend on the tree alone.

use std::io::{self, Write};

use super::tree::{NodeKind, Tree};

/// Writes `tree` as a tar stream (ending with the two zero blocks) and returns the writer.
pub fn write_tar<W: Write>(tree: &Tree, out: W) -> io::Result<W> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for (path, node) in tree.iter() {
        let mut header = tar::Header::new_gnu();
        header.set_mode(node.mode & 0o7777);
        header.set_uid(node.uid.into());
        header.set_gid(node.gid.into());
        header.set_mtime(node.mtime);
        header.set_size(0);
        match &node.kind {
            NodeKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut header, format!("{path}/"), io::empty())?;
            }
            NodeKind::File(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.size());
                builder.append_data(&mut header, path, data.open()?)?;
            }
            NodeKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut header, path, target)?;
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                let kind = if matches!(node.kind, NodeKind::CharDevice { .. }) {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                header.set_entry_type(kind);
                header.set_device_major(*major)?;
                header.set_device_minor(*minor)?;
                builder.append_data(&mut header, path, io::empty())?;
            }
            NodeKind::Fifo => {
                header.set_entry_type(tar::EntryType::Fifo);
                builder.append_data(&mut header, path, io::empty())?;
            }
        }
    }
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::archive::FileData;
    use crate::archive::Node;

    fn sample(order: &[usize]) -> Tree {
        let items: Vec<(&str, Node)> = vec![
            ("bin/prover", Node::file(FileData::Bytes(Arc::from(&b"\x7fELF"[..])), 0o755, 7)),
            ("etc/hosts", Node::file(FileData::Bytes(Arc::from(&b"127.0.0.1 localhost\n"[..])), 0o644, 7)),
            ("lib64/ld.so", Node::symlink("../lib/ld.so", 7)),
            (
                "a/very/long/path/that/goes/past/the/hundred/byte/limit/of/the/ustar/name/field/so/it/needs/gnu/long/names/file",
                Node::file(FileData::Bytes(Arc::from(&b"x"[..])), 0o600, 7),
            ),
        ];
        let mut tree = Tree::new();
        for &i in order {
            tree.insert(items[i].0, items[i].1.clone()).unwrap();
        }
        tree
    }

    #[test]
    fn bytes_do_not_depend_on_insertion_order() {
        let a = write_tar(&sample(&[0, 1, 2, 3]), Vec::new()).unwrap();
        let b = write_tar(&sample(&[3, 2, 1, 0]), Vec::new()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn entries_read_back_with_their_metadata() {
        let bytes = write_tar(&sample(&[0, 1, 2, 3]), Vec::new()).unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let header = entry.header();
            assert_eq!(header.mtime().unwrap(), 7);
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.username().unwrap(), Some(""));
            seen.push(entry.path().unwrap().to_string_lossy().into_owned());
        }
        assert_eq!(seen[0], "a/");
        assert!(seen.iter().any(|p| p.ends_with("gnu/long/names/file")));
        assert!(seen.contains(&"lib64/ld.so".to_owned()));
    }

    #[test]
    fn a_disk_file_that_changed_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let mut tree = Tree::new();
        tree.insert("f", Node::file(FileData::Disk { path, size: 2 }, 0o644, 0))
            .unwrap();
        let err = write_tar(&tree, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("changed size"), "{err}");
    }

    #[test]
    fn a_region_is_archived_from_its_offset_and_must_lie_within_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("archive");
        std::fs::write(&path, b"0123456789").unwrap();
        let region = |offset, size| FileData::Region {
            path: path.clone(),
            offset,
            size,
        };
        assert_eq!(region(3, 4).read().unwrap(), b"3456");
        let mut tree = Tree::new();
        tree.insert("f", Node::file(region(8, 2), 0o644, 0))
            .unwrap();
        let tar = write_tar(&tree, Vec::new()).unwrap();
        assert_eq!(&tar[512..514], b"89");
        let mut tree = Tree::new();
        tree.insert("f", Node::file(region(8, 3), 0o644, 0))
            .unwrap();
        let err = write_tar(&tree, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("changed size"), "{err}");
    }
}
