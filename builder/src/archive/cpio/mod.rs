//! newc ("SVR4 new ASCII") cpio, the initramfs format: a deterministic writer with gocpio's
//! conventions (nitro-eif.md §3.3) and a bounded reader for comparing ramdisks.

mod read;
mod write;

pub use read::{read_newc, CpioEntry, CpioError, CpioLimits};
pub use write::{write_tree_newc, NewcConventions, NewcWriter};

const MAGIC: &[u8; 6] = b"070701";
const CRC_MAGIC: &[u8; 6] = b"070702";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::archive::{FileData, Node, NodeKind, Tree};
    use std::io;

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
