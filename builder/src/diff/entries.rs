//! Archive members compared one by one: newc cpio entries (ramdisks) and file trees (image layers)
//! are both turned into [`Entry`] lists and matched by name and occurrence (a cpio archive may hold
//! a name twice; the kernel keeps the last).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::bytes::{self, Content};
use super::{DiffError, DiffKind, DiffOptions, Difference, FieldChange, Side};
use crate::archive::{read_newc, CpioEntry, NodeKind, Tree};

const NEWC_HEADER_LEN: u64 = 110;
const TRAILER: &str = "TRAILER!!!";

/// One member of an archive, with everything that is compared.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub file_type: &'static str,
    /// Permission bits only.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u64,
    /// cpio only: inode, link count and device of the entry.
    pub ino: Option<u32>,
    pub nlink: Option<u32>,
    pub dev: Option<(u32, u32)>,
    pub rdev: Option<(u32, u32)>,
    pub link_target: Option<String>,
    pub size: u64,
    /// Known without reading (cpio computes it while parsing).
    pub sha256: Option<String>,
    /// Regular files only.
    pub content: Option<Content>,
}

fn type_name(mode: u32) -> &'static str {
    match mode & 0o170000 {
        0o040000 => "directory",
        0o100000 => "file",
        0o120000 => "symlink",
        0o020000 => "char-device",
        0o060000 => "block-device",
        0o010000 => "fifo",
        0o140000 => "socket",
        _ => "unknown",
    }
}

/// Reads the newc archive of `len` bytes at `offset` of `path` (a ramdisk file or an EIF section).
/// Entry data stays in the file: its offset follows from the header and name sizes, since newc
/// aligns headers and data to 4 bytes from the archive start.
pub(crate) fn cpio_entries(
    path: &Path,
    offset: u64,
    len: u64,
    options: &DiffOptions,
) -> Result<Vec<Entry>, DiffError> {
    let archive = Content::Range {
        path: path.to_owned(),
        offset,
        len,
    };
    let what = archive.describe();
    let reader = archive
        .open()
        .map_err(super::io_err(format_args!("opening {what}")))?;
    let raw = read_newc(
        std::io::BufReader::with_capacity(1 << 20, reader),
        &options.cpio_limits,
    )
    .map_err(|source| DiffError::Cpio {
        what: format!("reading the cpio archive {what}"),
        source,
    })?;
    let align = |n: u64| n.saturating_add(3) & !3;
    let mut position = 0u64;
    let mut entries = Vec::with_capacity(raw.len());
    for entry in raw {
        let namesize = entry.name.len() as u64 + 1;
        let data = align(position.saturating_add(NEWC_HEADER_LEN + namesize));
        position = align(data.saturating_add(u64::from(entry.size)));
        if entry.name == TRAILER {
            break;
        }
        entries.push(from_cpio(entry, path, offset.saturating_add(data)));
    }
    Ok(entries)
}

fn from_cpio(entry: CpioEntry, path: &Path, data_offset: u64) -> Entry {
    let file_type = type_name(entry.mode);
    let kept = entry.content.map(Arc::<[u8]>::from);
    let link_target = (file_type == "symlink").then(|| match &kept {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => format!("(a {}-byte target)", entry.size),
    });
    let content = (file_type == "file").then(|| match kept {
        Some(bytes) => Content::Bytes(bytes),
        None => Content::Range {
            path: path.to_owned(),
            offset: data_offset,
            len: u64::from(entry.size),
        },
    });
    let devices = matches!(file_type, "char-device" | "block-device");
    Entry {
        name: entry.name,
        file_type,
        mode: entry.mode & 0o7777,
        uid: entry.uid,
        gid: entry.gid,
        mtime: u64::from(entry.mtime),
        ino: Some(entry.ino),
        nlink: Some(entry.nlink),
        dev: Some((entry.dev_major, entry.dev_minor)),
        rdev: devices.then_some((entry.rdev_major, entry.rdev_minor)),
        link_target,
        size: u64::from(entry.size),
        sha256: Some(entry.sha256),
        content,
    }
}

/// A tree's nodes in path order.
pub(crate) fn tree_entries(tree: &Tree) -> Vec<Entry> {
    tree.iter()
        .map(|(path, node)| {
            let (file_type, rdev, link_target, content) = match &node.kind {
                NodeKind::Dir => ("directory", None, None, None),
                NodeKind::File(data) => ("file", None, None, Some(Content::of(data))),
                NodeKind::Symlink(target) => ("symlink", None, Some(target.clone()), None),
                NodeKind::CharDevice { major, minor } => {
                    ("char-device", Some((*major, *minor)), None, None)
                }
                NodeKind::BlockDevice { major, minor } => {
                    ("block-device", Some((*major, *minor)), None, None)
                }
                NodeKind::Fifo => ("fifo", None, None, None),
            };
            Entry {
                name: path.to_owned(),
                file_type,
                mode: node.mode,
                uid: node.uid,
                gid: node.gid,
                mtime: node.mtime,
                ino: None,
                nlink: None,
                dev: None,
                rdev,
                size: content.as_ref().map_or(0, Content::len),
                link_target,
                sha256: None,
                content,
            }
        })
        .collect()
}

/// (name, how many earlier entries have that name).
fn keys(entries: &[Entry]) -> Vec<(&str, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    entries
        .iter()
        .map(|entry| {
            let count = seen.entry(entry.name.as_str()).or_default();
            let key = (entry.name.as_str(), *count);
            *count += 1;
            key
        })
        .collect()
}

fn entry_path(prefix: &str, (name, occurrence): (&str, usize)) -> String {
    let path = super::join(prefix, name);
    if occurrence == 0 {
        path
    } else {
        format!("{path}#{}", occurrence + 1)
    }
}

/// Compares two archives' members; paths are `prefix/name` (`prefix/name#2` for a second entry of
/// the same name).
pub(crate) fn compare_entries(
    prefix: &str,
    a: &[Entry],
    b: &[Entry],
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let (keys_a, keys_b) = (keys(a), keys(b));
    let index_b: HashMap<(&str, usize), usize> = keys_b
        .iter()
        .enumerate()
        .map(|(i, key)| (*key, i))
        .collect();
    // Inode numbers are positional; they are compared only when the member lists line up, so one
    // added file does not make every later entry "changed".
    let same_order = keys_a == keys_b;
    let mut matched_b = vec![false; b.len()];
    let mut order_a = Vec::new();
    for (entry_a, key) in a.iter().zip(&keys_a) {
        let path = entry_path(prefix, *key);
        match index_b.get(key) {
            Some(&i) => {
                if let (Some(flag), Some(entry_b)) = (matched_b.get_mut(i), b.get(i)) {
                    *flag = true;
                    order_a.push(*key);
                    compare_pair(&path, entry_a, entry_b, same_order, options, out)?;
                }
            }
            None => out.push(one_sided(path, DiffKind::Removed, entry_a)?),
        }
    }
    let order_b: Vec<_> = keys_b
        .iter()
        .zip(&matched_b)
        .filter(|(_, matched)| **matched)
        .map(|(key, _)| *key)
        .collect();
    if let Some(position) = order_a.iter().zip(&order_b).position(|(x, y)| x != y) {
        let mut diff = Difference::new(prefix, DiffKind::Changed);
        diff.note = Some(format!(
            "the common entries are in a different order: the {}th is {:?} in A, {:?} in B",
            position + 1,
            order_a.get(position).map_or("", |k| k.0),
            order_b.get(position).map_or("", |k| k.0),
        ));
        out.push(diff);
    }
    for ((entry_b, key), matched) in b.iter().zip(&keys_b).zip(&matched_b) {
        if !matched {
            out.push(one_sided(
                entry_path(prefix, *key),
                DiffKind::Added,
                entry_b,
            )?);
        }
    }
    Ok(())
}

fn side(entry: &Entry) -> Result<Side, DiffError> {
    let mut side = match (&entry.content, &entry.sha256) {
        (_, Some(sha256)) => Side {
            file_type: None,
            size: Some(entry.size),
            sha256: Some(sha256.clone()),
        },
        (Some(content), None) => bytes::summarize(content)?,
        (None, None) => Side::default(),
    };
    side.file_type = Some(entry.file_type.to_owned());
    Ok(side)
}

fn one_sided(path: String, kind: DiffKind, entry: &Entry) -> Result<Difference, DiffError> {
    let mut diff = Difference::one_sided(path, kind, side(entry)?);
    if let Some(target) = &entry.link_target {
        diff.note = Some(format!("-> {target}"));
    }
    Ok(diff)
}

fn metadata(entry: &Entry, with_ino: bool) -> Vec<(&'static str, Option<Value>)> {
    let pair = |p: Option<(u32, u32)>| p.map(|(x, y)| Value::from(format!("{x}:{y}")));
    vec![
        ("type", Some(Value::from(entry.file_type))),
        ("mode", Some(Value::from(format!("{:04o}", entry.mode)))),
        ("uid", Some(Value::from(entry.uid))),
        ("gid", Some(Value::from(entry.gid))),
        ("mtime", Some(Value::from(entry.mtime))),
        ("link target", entry.link_target.clone().map(Value::from)),
        ("rdev", pair(entry.rdev)),
        ("nlink", entry.nlink.map(Value::from)),
        ("dev", pair(entry.dev)),
        ("ino", entry.ino.filter(|_| with_ino).map(Value::from)),
    ]
}

fn compare_pair(
    path: &str,
    a: &Entry,
    b: &Entry,
    same_order: bool,
    options: &DiffOptions,
    out: &mut Vec<Difference>,
) -> Result<(), DiffError> {
    let mut diff = Difference::new(path, DiffKind::Changed);
    for ((field, va), (_, vb)) in metadata(a, same_order)
        .into_iter()
        .zip(metadata(b, same_order))
    {
        if va != vb {
            diff.fields.push(FieldChange {
                field: field.to_owned(),
                a: va,
                b: vb,
            });
        }
    }
    let digests_differ = match (&a.sha256, &b.sha256) {
        (Some(x), Some(y)) => x != y || a.size != b.size,
        _ => true,
    };
    if let (Some(ca), Some(cb), true) = (&a.content, &b.content, digests_differ) {
        let compared = bytes::compare(ca, cb)?;
        if !compared.identical() {
            diff.a = Some(compared.a);
            diff.b = Some(compared.b);
            diff.first_differing_offset = compared.first_differing_offset;
            diff.unified_diff = bytes::text_diff_of(&a.name, ca, cb, options.max_text_diff)?;
        }
    } else if digests_differ && a.file_type != "file" && (a.size, &a.sha256) != (b.size, &b.sha256)
    {
        // Symlinks and other non-files: their data (a target) is already a field; show the sizes.
        diff.a = Some(side(a)?);
        diff.b = Some(side(b)?);
    }
    if !diff.fields.is_empty() || diff.a.is_some() {
        out.push(diff);
    }
    Ok(())
}
