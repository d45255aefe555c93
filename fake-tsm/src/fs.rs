//! The FUSE operations, each answered the way configfs answers the same system call on
//! /sys/kernel/config/tsm/report (errno values from fs/configfs and the VFS).

use std::ffi::OsStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    BsdFileFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, OpenAccMode, OpenFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::node::Node;
use crate::tree::Tree;

/// Nothing is cached by the kernel: generation and the directory list change under it.
const NO_CACHE: Duration = Duration::ZERO;

pub struct TsmFilesystem {
    tree: Mutex<Tree>,
    mounted_at: SystemTime,
}

impl TsmFilesystem {
    pub fn new(tree: Tree) -> TsmFilesystem {
        TsmFilesystem {
            tree: Mutex::new(tree),
            mounted_at: SystemTime::now(),
        }
    }

    fn tree(&self) -> MutexGuard<'_, Tree> {
        // A panic in one request must not take every later request down with it.
        self.tree
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn attributes(&self, tree: &Tree, node: Node) -> Result<FileAttr, Errno> {
        let (kind, perm, nlink, time) = match node {
            Node::Reports => (FileType::Directory, 0o755, 2, self.mounted_at),
            Node::Entry(id) => {
                let entry = tree.entry(id).ok_or(Errno::ENOENT)?;
                (FileType::Directory, 0o755, 2, entry.created)
            }
            Node::Attribute(id, attribute) => {
                let entry = tree.entry(id).ok_or(Errno::ENOENT)?;
                (
                    FileType::RegularFile,
                    attribute.permissions(),
                    1,
                    entry.created,
                )
            }
        };
        Ok(FileAttr {
            ino: node.inode(),
            // configfs attributes have no size of their own: content exists only when read.
            size: 0,
            blocks: 0,
            atime: time,
            mtime: time,
            ctime: time,
            crtime: time,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn reply_entry(&self, tree: &Tree, node: Node, reply: ReplyEntry) {
        match self.attributes(tree, node) {
            Ok(attr) => reply.entry(&NO_CACHE, &attr, Generation(0)),
            Err(errno) => reply.error(errno),
        }
    }
}

fn node(ino: INodeNo) -> Result<Node, Errno> {
    Node::from_inode(ino).ok_or(Errno::ENOENT)
}

/// Report directory names come from mkdir(2); a name that is not UTF-8 cannot be one of ours.
fn entry_name(name: &OsStr) -> Result<&str, Errno> {
    name.to_str().ok_or(Errno::ENOENT)
}

impl Filesystem for TsmFilesystem {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let tree = self.tree();
        let found = match node(parent) {
            Ok(Node::Reports) => entry_name(name)
                .and_then(|name| tree.entry_named(name).ok_or(Errno::ENOENT))
                .map(Node::Entry),
            Ok(Node::Entry(id)) => crate::entry::Attribute::from_name(name)
                .filter(|_| tree.entry(id).is_some())
                .map(|attribute| Node::Attribute(id, attribute))
                .ok_or(Errno::ENOENT),
            Ok(Node::Attribute(..)) => Err(Errno::ENOTDIR),
            Err(errno) => Err(errno),
        };
        match found {
            Ok(found) => self.reply_entry(&tree, found, reply),
            Err(errno) => reply.error(errno),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let tree = self.tree();
        match node(ino).and_then(|n| self.attributes(&tree, n)) {
            Ok(attr) => reply.attr(&NO_CACHE, &attr),
            Err(errno) => reply.error(errno),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let tree = self.tree();
        let result = node(ino).and_then(|n| {
            let attr = self.attributes(&tree, n)?;
            // Ownership and modes are fixed here (configfs would record them but nothing of
            // ours needs that); refusing is honest, pretending to apply them would not be.
            if mode.is_some() || uid.is_some() || gid.is_some() {
                return Err(Errno::EPERM);
            }
            // open(O_TRUNC) truncates before writing: configfs lets it pass on a writable
            // attribute and leaves the stored value alone, as the write that follows replaces it.
            if size.is_some() {
                match n {
                    Node::Attribute(_, attribute) if attribute.writable() => {}
                    Node::Attribute(..) => return Err(Errno::EACCES),
                    _ => return Err(Errno::EISDIR),
                }
            }
            Ok(attr)
        });
        match result {
            Ok(attr) => reply.attr(&NO_CACHE, &attr),
            Err(errno) => reply.error(errno),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut tree = self.tree();
        let made = match node(parent) {
            Ok(Node::Reports) => entry_name(name)
                .map_err(|_| Errno::EINVAL)
                .and_then(|name| tree.make_entry(name)),
            // A report item is not a group: configfs_mkdir refuses children with EPERM.
            Ok(Node::Entry(_)) => Err(Errno::EPERM),
            Ok(Node::Attribute(..)) => Err(Errno::ENOTDIR),
            Err(errno) => Err(errno),
        };
        match made {
            Ok(id) => self.reply_entry(&tree, Node::Entry(id), reply),
            Err(errno) => reply.error(errno),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut tree = self.tree();
        let removed = match node(parent) {
            Ok(Node::Reports) => entry_name(name).and_then(|name| tree.remove_entry(name)),
            Ok(Node::Entry(id)) => match crate::entry::Attribute::from_name(name) {
                Some(_) if tree.entry(id).is_some() => Err(Errno::ENOTDIR),
                _ => Err(Errno::ENOENT),
            },
            Ok(Node::Attribute(..)) => Err(Errno::ENOTDIR),
            Err(errno) => Err(errno),
        };
        match removed {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    /// open(O_CREAT) of a name configfs does not know: its directories have no `create`, so the
    /// VFS answers EACCES.
    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EACCES);
    }

    /// mknod(2), unlink(2), rename(2): operations configfs directories do not have (EPERM).
    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EPERM);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EPERM);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: fuser::RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EPERM);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let (read, write) = match flags.acc_mode() {
            OpenAccMode::O_RDONLY => (true, false),
            OpenAccMode::O_WRONLY => (false, true),
            OpenAccMode::O_RDWR => (true, true),
        };
        let opened = match node(ino) {
            Ok(Node::Attribute(id, attribute)) => self.tree().open(id, attribute, read, write),
            Ok(_) => Err(Errno::EISDIR),
            Err(errno) => Err(errno),
        };
        match opened {
            // Direct I/O: every read and write reaches us; the page cache would serve stale
            // generations and cut reads at the (zero) file size.
            Ok(handle) => reply.opened(FileHandle(handle), FopenFlags::FOPEN_DIRECT_IO),
            Err(errno) => reply.error(errno),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.tree().read(fh.0, offset, size) {
            Ok(data) => reply.data(&data),
            Err(errno) => reply.error(errno),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.tree().write(fh.0, offset, data) {
            // write() took at most INBLOB_MAX bytes, so the count fits.
            Ok(written) => reply.written(u32::try_from(written).unwrap_or(u32::MAX)),
            Err(errno) => reply.error(errno),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        match self.tree().store_written(fh.0) {
            Ok(()) => reply.ok(),
            Err(errno) => reply.error(errno),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.tree().release(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let tree = self.tree();
        let mut listing: Vec<(INodeNo, FileType, String)> = vec![
            (ino, FileType::Directory, ".".to_owned()),
            (INodeNo::ROOT, FileType::Directory, "..".to_owned()),
        ];
        match node(ino) {
            Ok(Node::Reports) => listing.extend(tree.entries().map(|(name, id)| {
                (
                    Node::Entry(id).inode(),
                    FileType::Directory,
                    name.to_owned(),
                )
            })),
            Ok(Node::Entry(id)) if tree.entry(id).is_some() => {
                listing.extend(crate::entry::Attribute::ALL.into_iter().map(|attribute| {
                    let inode = Node::Attribute(id, attribute).inode();
                    (inode, FileType::RegularFile, attribute.name().to_owned())
                }))
            }
            Ok(Node::Attribute(..)) => return reply.error(Errno::ENOTDIR),
            _ => return reply.error(Errno::ENOENT),
        }
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        for (index, (inode, kind, name)) in listing.into_iter().enumerate().skip(skip) {
            // The offset handed back is where the next readdir call resumes.
            if reply.add(inode, index as u64 + 1, kind, name) {
                break;
            }
        }
        reply.ok();
    }
}
