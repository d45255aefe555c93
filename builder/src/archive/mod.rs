//! File trees and the deterministic archives made from them.
//!
//! A [`Tree`] is an in-memory description of a root file system: every path with its type, mode,
//! owner and time, file contents either in memory or on disk. It is the one hand-off between stages:
//! container downloads are imported into a tree (safely, see `tar_read`), trees are written as
//! deterministic layer tars (`tar_write`) and as newc cpio ramdisks (`cpio`).

mod cpio;
mod dir;
mod nitro_ramdisk;
mod tar_read;
mod tar_write;
mod tree;

pub use cpio::{
    read_newc, write_tree_newc, CpioEntry, CpioError, CpioLimits, NewcConventions, NewcWriter,
};
pub use dir::add_dir;
pub use nitro_ramdisk::{
    nitro_cmd_and_env, write_bootstrap, write_customer, RamdiskError, LINUXKIT_MTIME,
};
pub use tar_read::{import_tar, index_tar, ImportError, ImportLimits, ImportPolicy};
pub use tar_write::write_tar;
pub use tree::{ContentReader, FileData, Node, NodeKind, Tree, TreeError};
