//! The newc writer.

use std::io::{self, Write};

use super::TRAILER;
use crate::archive::tree::{Node, NodeKind, Tree};

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
        let mut content = None;
        let size = match &node.kind {
            NodeKind::File(data) => {
                // Opened before the header goes out, so a file that changed size fails cleanly.
                content = Some(data.open()?);
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
        match (&node.kind, content) {
            (NodeKind::File(_), Some(mut content)) => {
                let copied = io::copy(&mut content, &mut self.out)?;
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
