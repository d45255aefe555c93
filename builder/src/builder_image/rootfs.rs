//! The builder image's root file system: Debian from mmdebstrap, the Rust toolchain from the host.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::archive::{add_dir, write_tar, Node, NodeKind, Tree};
use crate::hashing::HashingWriter;

use super::{io_error, BuilderImageError, BuilderImageOptions};

/// Documentation, manuals and translations are never read by a build; keeping them out makes the
/// image a third smaller. Copyright files stay: they are the packages' licences.
const DPKG_FILTERS: &[&str] = &[
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/lintian/*",
];

pub(super) fn mmdebstrap_command(
    mmdebstrap: &Path,
    options: &BuilderImageOptions,
    output: &Path,
) -> Command {
    let mut command = Command::new(mmdebstrap);
    command
        .env("SOURCE_DATE_EPOCH", options.source_date_epoch.to_string())
        // The host's locale must not leak into the chroot's maintainer scripts.
        .env("LC_ALL", "C.UTF-8")
        .arg("--variant=minbase")
        .arg(format!("--include={}", options.packages.join(",")))
        .arg("--format=tar")
        // Device nodes are the engine's business (it mounts /dev), and the import refuses them.
        .arg("--skip=output/dev");
    for filter in DPKG_FILTERS {
        command.arg(format!("--dpkgopt={filter}"));
    }
    if options.mirror.contains("snapshot.debian.org") {
        // Snapshots keep their original Release files, whose Valid-Until has long passed.
        command.arg("--aptopt=Acquire::Check-Valid-Until \"false\"");
    }
    command
        .arg(&options.suite)
        .arg(output)
        .arg(&options.mirror)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `command`, passing each stderr line to the log; on failure the last lines go in the error.
pub(super) fn run_logged(mut command: Command) -> Result<(), BuilderImageError> {
    tracing::info!(?command, "running mmdebstrap");
    let mut child = command.spawn().map_err(|source| BuilderImageError::Io {
        context: "starting",
        path: PathBuf::from(command.get_program()),
        source,
    })?;
    let mut tail = VecDeque::new();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            tracing::info!(target: "mmdebstrap", "{line}");
            if tail.len() == 20 {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    }
    let status = child
        .wait()
        .map_err(io_error("waiting for", Path::new("mmdebstrap")))?;
    if !status.success() {
        return Err(BuilderImageError::Mmdebstrap {
            status: status.to_string(),
            tail: Vec::from(tail).join("\n"),
        });
    }
    Ok(())
}

/// The toolchain as it goes into the image: [`add_toolchain`] into an empty tree.
pub(super) fn toolchain_tree(
    sysroot: &Path,
    host: &str,
    mtime: u64,
) -> Result<Tree, BuilderImageError> {
    let mut tree = Tree::new();
    add_toolchain(&mut tree, sysroot, host, mtime)?;
    Ok(tree)
}

/// SHA-256 of `toolchain` written as a deterministic tar with every mtime 0: names, modes, link
/// targets and contents, but not SOURCE_DATE_EPOCH, which is recorded on its own.
pub(super) fn toolchain_sha256(toolchain: &Tree) -> Result<String, BuilderImageError> {
    let mut timeless = toolchain.clone();
    timeless.set_all_mtimes(0);
    let writer =
        write_tar(&timeless, HashingWriter::sha256_only(std::io::sink())).map_err(io_error(
            "hashing the toolchain files listed under",
            Path::new("opt/rust"),
        ))?;
    Ok(writer.finish().1.sha256)
}

/// Adds what compiling needs from `sysroot` under `opt/rust/`: the compiler drivers, the shared
/// libraries they load and the host's standard library; documentation, sources and other tools stay
/// out (they are most of a rustup toolchain). So do rustup's bookkeeping files in `lib/rustlib/`
/// (`components`, `manifest-*`, `multirust-*`): no compiler reads them, and they list which optional
/// components are installed, which would make two rebuilders' images differ over clippy.
pub(super) fn add_toolchain(
    tree: &mut Tree,
    sysroot: &Path,
    host: &str,
    mtime: u64,
) -> Result<(), BuilderImageError> {
    let keep = |rel: &str| -> bool {
        let is_dir = sysroot.join(rel).is_dir();
        match rel.split('/').collect::<Vec<_>>().as_slice() {
            ["bin" | "lib"] => true,
            [_] => false,
            ["bin", name] => matches!(*name, "rustc" | "cargo" | "rustdoc"),
            ["lib", "rustlib"] => true,
            ["lib", name] => !is_dir && name.contains(".so"),
            ["lib", "rustlib", name] => *name == host,
            _ => true,
        }
    };
    add_dir(tree, sysroot, "opt/rust", mtime, &|rel| !keep(rel))
        .map_err(io_error("reading the toolchain at", sysroot))?;
    let has_rustc = matches!(
        tree.get("opt/rust/bin/rustc"),
        Some(Node {
            kind: NodeKind::File(_),
            ..
        })
    );
    if !has_rustc || tree.get(&format!("opt/rust/lib/rustlib/{host}")).is_none() {
        return Err(BuilderImageError::Toolchain {
            path: sysroot.to_owned(),
            detail: format!("it lacks bin/rustc or lib/rustlib/{host}/"),
        });
    }
    Ok(())
}

/// `name:architecture=version` of every installed package in dpkg's status file, sorted.
pub(super) fn installed_packages(tree: &Tree) -> Result<Vec<String>, BuilderImageError> {
    let status = match tree.get("var/lib/dpkg/status").map(|n| &n.kind) {
        Some(NodeKind::File(data)) => {
            let shown = data
                .location()
                .map_or(Path::new("var/lib/dpkg/status"), |(p, ..)| p);
            let bytes = data.read().map_err(io_error("reading", shown))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => {
            return Err(BuilderImageError::Mmdebstrap {
                status: "no var/lib/dpkg/status in its output".to_owned(),
                tail: String::new(),
            })
        }
    };
    let mut packages: Vec<String> = status
        .split("\n\n")
        .filter_map(|stanza| {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
            };
            if field("Status")? != "install ok installed" {
                return None;
            }
            let arch = field("Architecture").unwrap_or("all");
            Some(format!(
                "{}:{arch}={}",
                field("Package")?,
                field("Version")?
            ))
        })
        .collect();
    packages.sort();
    Ok(packages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::FileData;

    #[test]
    fn dpkg_status_gives_sorted_installed_packages() {
        let status = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n";
        let mut tree = Tree::new();
        let data = FileData::Bytes(std::sync::Arc::from(status.as_bytes()));
        tree.insert("var/lib/dpkg/status", Node::file(data, 0o644, 0))
            .unwrap();
        assert_eq!(
            installed_packages(&tree).unwrap(),
            ["base-files:amd64=12.4", "zlib1g:amd64=1:1.2.13"]
        );
    }

    #[test]
    fn toolchain_selection_keeps_what_compiling_needs() {
        let sysroot = tempfile::tempdir().unwrap();
        let host = "x86_64-unknown-linux-gnu";
        for file in [
            "bin/rustc",
            "bin/cargo",
            "bin/rustfmt",
            "lib/librustc_driver-1.so",
            "lib/rustlib/components",
            &format!("lib/rustlib/{host}/lib/libstd-1.rlib"),
            "lib/rustlib/src/rust/library/lib.rs",
            "lib/rustlib/etc/gdb_load_rust_pretty_printers.py",
            "share/doc/rust/README.md",
            "libexec/rust-analyzer-proc-macro-srv",
        ] {
            let path = sysroot.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
        let mut tree = Tree::new();
        add_toolchain(&mut tree, sysroot.path(), host, 5).unwrap();
        let files: Vec<_> = tree
            .iter()
            .filter(|(_, n)| matches!(n.kind, NodeKind::File(_)))
            .map(|(p, _)| p.to_owned())
            .collect();
        assert_eq!(
            files,
            [
                "opt/rust/bin/cargo",
                "opt/rust/bin/rustc",
                "opt/rust/lib/librustc_driver-1.so",
                &format!("opt/rust/lib/rustlib/{host}/lib/libstd-1.rlib"),
            ]
        );
        // The digest ignores times but not contents.
        let digest =
            |mtime| toolchain_sha256(&toolchain_tree(sysroot.path(), host, mtime).unwrap());
        assert_eq!(digest(5).unwrap(), digest(1_700_000_000).unwrap());
        let before = digest(5).unwrap();
        std::fs::write(sysroot.path().join("lib/rustlib/components"), b"clippy").unwrap();
        assert_eq!(digest(5).unwrap(), before);
        std::fs::write(sysroot.path().join("bin/rustc"), b"y").unwrap();
        assert_ne!(digest(5).unwrap(), before);

        let err = add_toolchain(
            &mut Tree::new(),
            sysroot.path(),
            "aarch64-unknown-linux-gnu",
            5,
        );
        assert!(matches!(err, Err(BuilderImageError::Toolchain { .. })));
    }
}
