//! Reading a directory of the host into a [`Tree`] with normalised metadata: owner 0:0, one mtime,
//! modes 0755 (directories and anything executable) or 0644, symlinks kept as symlinks (never
//! followed), so the tree depends only on names, contents and the executable bit.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::tree::{FileData, Node, NodeKind, Tree};

/// Adds everything under `dir` to `tree` below `prefix` ("" for the root), skipping paths for which
/// `skip(relative_path)` is true (and, for directories, their contents). Other file types (sockets,
/// devices) are an error: a source tree or toolchain has no business holding them.
pub fn add_dir(
    tree: &mut Tree,
    dir: &Path,
    prefix: &str,
    mtime: u64,
    skip: &dyn Fn(&str) -> bool,
) -> io::Result<()> {
    let mut stack = vec![(dir.to_owned(), String::new())];
    while let Some((host, relative)) = stack.pop() {
        for entry in fs::read_dir(&host)? {
            let entry = entry?;
            let name = entry.file_name().into_string().map_err(|name| {
                io::Error::other(format!(
                    "{}: file name {name:?} is not UTF-8",
                    host.display()
                ))
            })?;
            let rel = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            if skip(&rel) {
                continue;
            }
            let path = entry.path();
            let meta = fs::symlink_metadata(&path)?;
            let kind = meta.file_type();
            let node = if kind.is_dir() {
                stack.push((path.clone(), rel.clone()));
                Node::dir(0o755, mtime)
            } else if kind.is_symlink() {
                let target = fs::read_link(&path)?;
                let target = target.into_os_string().into_string().map_err(|t| {
                    io::Error::other(format!(
                        "{}: link target {t:?} is not UTF-8",
                        path.display()
                    ))
                })?;
                Node::symlink(target, mtime)
            } else if kind.is_file() {
                let mode = if meta.permissions().mode() & 0o111 != 0 {
                    0o755
                } else {
                    0o644
                };
                Node::file(
                    FileData::Disk {
                        path: path.clone(),
                        size: meta.len(),
                    },
                    mode,
                    mtime,
                )
            } else {
                return Err(io::Error::other(format!(
                    "{} is neither a file, a directory nor a symlink",
                    path.display()
                )));
            };
            let full = if prefix.is_empty() {
                rel
            } else {
                format!("{prefix}/{rel}")
            };
            // A directory may already be there (implicitly created); keep the one we describe.
            if node.kind == NodeKind::Dir
                && tree.get(&full).is_some_and(|n| n.kind == NodeKind::Dir)
            {
                continue;
            }
            tree.insert(&full, node).map_err(io::Error::other)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_normalised_and_symlinks_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("bin")).unwrap();
        fs::write(dir.path().join("bin/tool"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(
            dir.path().join("bin/tool"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        fs::write(dir.path().join("README"), b"hi").unwrap();
        fs::set_permissions(dir.path().join("README"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink("bin/tool", dir.path().join("link")).unwrap();
        fs::create_dir(dir.path().join("target")).unwrap();
        fs::write(dir.path().join("target/junk"), b"x").unwrap();

        let mut tree = Tree::new();
        add_dir(&mut tree, dir.path(), "opt", 42, &|p| p == "target").unwrap();
        let paths: Vec<_> = tree
            .iter()
            .map(|(p, n)| (p.to_owned(), n.mode, n.mtime))
            .collect();
        assert_eq!(
            paths,
            [
                ("opt".to_owned(), 0o755, 42),
                ("opt/README".to_owned(), 0o644, 42),
                ("opt/bin".to_owned(), 0o755, 42),
                ("opt/bin/tool".to_owned(), 0o755, 42),
                ("opt/link".to_owned(), 0o777, 42),
            ]
        );
        assert_eq!(
            tree.get("opt/link").unwrap().kind,
            NodeKind::Symlink("bin/tool".into())
        );
    }
}
