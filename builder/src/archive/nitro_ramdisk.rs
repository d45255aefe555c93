//! The two ramdisks nitro-cli puts in an EIF (through linuxkit), rebuilt byte for byte from their
//! documented layout (nitro-eif.md §3.3–3.6) instead of running linuxkit.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::cpio::{NewcConventions, NewcWriter};
use super::tree::{FileData, Node, NodeKind, Tree};

/// linuxkit's default mtime for every entry it synthesizes: 2017-04-18T16:30:00Z.
pub const LINUXKIT_MTIME: u64 = 1492533000;

/// linuxkit's replacement `etc/hosts` (160 bytes, SHA-256 `43037ff8…e88e`, see the tests).
const LINUXKIT_HOSTS: &[u8] = b"127.0.0.1       localhost\n\
::1     localhost ip6-localhost ip6-loopback\n\
fe00::0 ip6-localnet\n\
ff00::0 ip6-mcastprefix\n\
ff02::1 ip6-allnodes\n\
ff02::2 ip6-allrouters\n";

/// nitro-cli has linuxkit replace `etc/resolv.conf` by this symlink.
const RESOLV_TARGET: &str = "/run/resolvconf/resolv.conf";

/// Image entries linuxkit drops (exact names only: children of `dev/pts` stay).
const DROPPED: [&str; 6] = [
    ".dockerenv",
    "Dockerfile",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
];

#[derive(Debug, thiserror::Error)]
pub enum RamdiskError {
    #[error("reading ramdisk input {}: {source}", path.display())]
    Input { path: PathBuf, source: io::Error },
    #[error("writing the ramdisk failed: {0}")]
    Write(#[source] io::Error),
    #[error(
        "the image config has neither Cmd nor Entrypoint: set CMD or ENTRYPOINT in the Dockerfile"
    )]
    NoCommand,
    #[error("{list} element {element:?} contains a newline or NUL, which the enclave init cannot read back: remove it from the image config")]
    BadElement { list: &'static str, element: String },
}

fn synthesized(kind: NodeKind, mode: u32) -> Node {
    Node {
        kind,
        mode,
        uid: 0,
        gid: 0,
        mtime: LINUXKIT_MTIME,
    }
}

fn disk_file(path: &Path) -> Result<Node, RamdiskError> {
    let size = std::fs::metadata(path)
        .map_err(|source| RamdiskError::Input {
            path: path.to_owned(),
            source,
        })?
        .len();
    let data = FileData::Disk {
        path: path.to_owned(),
        size,
    };
    Ok(synthesized(NodeKind::File(data), 0o755))
}

/// The bootstrap ramdisk (ramdisk0, measured into PCR1): `dev`, `init`, `nsm.ko` (§3.4).
pub fn write_bootstrap<W: Write>(init: &Path, nsm_ko: &Path, out: W) -> Result<W, RamdiskError> {
    let init = disk_file(init)?;
    let nsm = disk_file(nsm_ko)?;
    let mut writer = NewcWriter::new(out, NewcConventions::NITRO);
    let entries = [
        ("dev", synthesized(NodeKind::Dir, 0o755)),
        ("init", init),
        ("nsm.ko", nsm),
    ];
    for (name, node) in &entries {
        writer.append(name, node).map_err(RamdiskError::Write)?;
    }
    writer.finish().map_err(RamdiskError::Write)
}

/// §3.6: `Cmd` replaces `Entrypoint` entirely when set; the result is `(cmd, env)`.
pub fn nitro_cmd_and_env(
    entrypoint: &[String],
    cmd: &[String],
    env: &[String],
) -> Result<(Vec<String>, Vec<String>), RamdiskError> {
    let chosen = if !cmd.is_empty() {
        cmd
    } else if !entrypoint.is_empty() {
        entrypoint
    } else {
        return Err(RamdiskError::NoCommand);
    };
    Ok((chosen.to_vec(), env.to_vec()))
}

/// Each element followed by `\n`, the format init reads back line by line.
fn lines(list: &'static str, elements: &[String]) -> Result<Vec<u8>, RamdiskError> {
    let mut out = Vec::new();
    for element in elements {
        if element.contains(['\n', '\0']) {
            return Err(RamdiskError::BadElement {
                list,
                element: element.clone(),
            });
        }
        out.extend_from_slice(element.as_bytes());
        out.push(b'\n');
    }
    Ok(out)
}

/// The customer ramdisk (ramdisk1, measured into PCR2), in linuxkit's order (§3.5).
///
/// linuxkit emits image entries in the order of the image tar, which for nitro-cli comes from
/// `docker export`, whose exact order is not documented. We use the tree's bytewise path order
/// instead: our documented rootfs order (as monzo/aws-nitro-util does). PCR2 therefore matches
/// nitro-cli's only when docker's order is the same; it is reproducible from the tree either way.
/// Hard links cannot occur: the tree holds them as regular files.
pub fn write_customer<W: Write>(
    rootfs: &Tree,
    cmd: &[String],
    env: &[String],
    out: W,
) -> Result<W, RamdiskError> {
    let cmd = lines("Cmd", cmd)?;
    let env = lines("Env", env)?;
    let mut writer = NewcWriter::new(out, NewcConventions::NITRO);
    let mut append =
        |name: &str, node: &Node| writer.append(name, node).map_err(RamdiskError::Write);
    let dir = || synthesized(NodeKind::Dir, 0o755);

    append("rootfs", &dir())?;
    let (mut has_mtab, mut has_resolv) = (false, false);
    for (path, node) in rootfs.iter() {
        if DROPPED.contains(&path) {
            continue;
        }
        let mut node = node.clone();
        match path {
            "etc/hosts" => {
                node.kind = NodeKind::File(FileData::Bytes(Arc::from(LINUXKIT_HOSTS)));
                node.mtime = LINUXKIT_MTIME;
            }
            "etc/resolv.conf" => {
                node.kind = NodeKind::Symlink(RESOLV_TARGET.to_owned());
                node.mtime = LINUXKIT_MTIME;
                has_resolv = true;
            }
            // A touch entry found in the image keeps its place; only its time is reset. The
            // directory touch keys end in '/' and never match a cleaned name, so only this one can.
            "etc/mtab" => {
                node.mtime = LINUXKIT_MTIME;
                has_mtab = true;
            }
            _ => {}
        }
        append(&format!("rootfs/{path}"), &node)?;
    }

    // Missing touch entries, in the sorted order of their keys ("dev/" < "dev/pts/" < ...).
    for name in ["dev", "dev/pts", "dev/shm", "etc"] {
        append(&format!("rootfs/{name}"), &dir())?;
    }
    if !has_mtab {
        let mtab = synthesized(NodeKind::Symlink("/proc/mounts".to_owned()), 0o755);
        append("rootfs/etc/mtab", &mtab)?;
    }
    if !has_resolv {
        let resolv = synthesized(NodeKind::Symlink(RESOLV_TARGET.to_owned()), 0o644);
        append("rootfs/etc/resolv.conf", &resolv)?;
    }
    for name in ["proc", "sys"] {
        append(&format!("rootfs/{name}"), &dir())?;
    }

    // The YAML `files:` section; `rootfs` comes again as the implicit parent of `rootfs/dev`.
    for name in [
        "rootfs",
        "rootfs/dev",
        "rootfs/run",
        "rootfs/sys",
        "rootfs/var",
        "rootfs/proc",
        "rootfs/tmp",
    ] {
        append(name, &dir())?;
    }
    for (name, bytes) in [("cmd", cmd), ("env", env)] {
        let file = NodeKind::File(FileData::Bytes(Arc::from(bytes)));
        append(name, &synthesized(file, 0o644))?;
    }
    writer.finish().map_err(RamdiskError::Write)
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::archive::cpio::{read_newc, CpioEntry, CpioLimits};

    fn read(bytes: &[u8]) -> Vec<CpioEntry> {
        read_newc(bytes, &CpioLimits::default()).unwrap()
    }

    #[test]
    fn hosts_file_is_linuxkits() {
        assert_eq!(LINUXKIT_HOSTS.len(), 160);
        assert_eq!(
            hex::encode(Sha256::digest(LINUXKIT_HOSTS)),
            "43037ff87af87fda11c4377e963593a0f55e513702779db721c6ce574c06e88e"
        );
    }

    #[test]
    fn bootstrap_layout_matches_the_notes() {
        let dir = tempfile::tempdir().unwrap();
        let (init, nsm) = (dir.path().join("init"), dir.path().join("nsm.ko"));
        std::fs::write(&init, vec![0x7f; 1001]).unwrap();
        std::fs::write(&nsm, b"nsm").unwrap();
        let bytes = write_bootstrap(&init, &nsm, Vec::new()).unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let entries = read(&bytes);
        let rows: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.ino, e.mode, e.nlink, e.mtime, e.size))
            .collect();
        let t = LINUXKIT_MTIME as u32;
        assert_eq!(
            rows,
            [
                ("dev", 721, 0o40755, 2, t, 0),
                ("init", 722, 0o100755, 1, t, 1001),
                ("nsm.ko", 723, 0o100755, 1, t, 3),
                ("TRAILER!!!", 724, 0, 1, 0, 0),
            ]
        );
        assert!(entries
            .iter()
            .all(|e| (e.uid, e.gid, e.dev_major, e.dev_minor) == (0, 0, 3, 1)));
        assert_eq!(entries[2].content.as_deref(), Some(&b"nsm"[..]));
        // dev: 110-byte header + "dev\0" = 114, padded to 116. init: 116 + 110 + "init\0" = 231,
        // padded to 232 where its data starts; 1001 bytes padded to 1236, where nsm.ko starts.
        assert!(bytes[232..1233].iter().all(|&b| b == 0x7f));
        assert_eq!(&bytes[1233..1236], [0, 0, 0]);
        assert_eq!(&bytes[1236..1242], b"070701");
    }

    #[test]
    fn customer_layout_keeps_linuxkits_order_and_duplicates() {
        let mut tree = Tree::new();
        let file = |b: &[u8], mtime| Node::file(FileData::Bytes(Arc::from(b)), 0o644, mtime);
        tree.insert("app/prover", file(b"elf", 5)).unwrap();
        tree.insert("etc/hosts", file(b"1.2.3.4 x\n", 5)).unwrap();
        tree.insert("etc/hostname", file(b"box\n", 5)).unwrap();
        tree.insert("etc/resolv.conf", file(b"nameserver 1.1.1.1\n", 5))
            .unwrap();
        tree.insert("dev/pts", Node::dir(0o755, 5)).unwrap();
        tree.insert(".dockerenv", file(b"", 5)).unwrap();
        let (cmd, env) = nitro_cmd_and_env(
            &["/bin/sh".into()],
            &["/app/prover".into(), "--port".into(), "6300".into()],
            &["RUST_LOG=info".into()],
        )
        .unwrap();
        let bytes = write_customer(&tree, &cmd, &env, Vec::new()).unwrap();
        let entries = read(&bytes);
        let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "rootfs",
                "rootfs/app",
                "rootfs/app/prover",
                "rootfs/dev",
                "rootfs/etc",
                "rootfs/etc/hosts",
                "rootfs/etc/resolv.conf",
                "rootfs/dev",
                "rootfs/dev/pts",
                "rootfs/dev/shm",
                "rootfs/etc",
                "rootfs/etc/mtab",
                "rootfs/proc",
                "rootfs/sys",
                "rootfs",
                "rootfs/dev",
                "rootfs/run",
                "rootfs/sys",
                "rootfs/var",
                "rootfs/proc",
                "rootfs/tmp",
                "cmd",
                "env",
                "TRAILER!!!",
            ]
        );
        let inos: Vec<_> = entries.iter().map(|e| e.ino).collect();
        assert_eq!(inos, (721..745).collect::<Vec<_>>());
        let by_name = |i: usize| &entries[i];
        let t = LINUXKIT_MTIME as u32;
        assert_eq!(
            (by_name(2).mtime, by_name(2).content.as_deref()),
            (5, Some(&b"elf"[..]))
        );
        assert_eq!((by_name(3).mtime, by_name(3).mode), (5, 0o40755));
        assert_eq!(
            (by_name(5).mtime, by_name(5).size, by_name(5).mode),
            (t, 160, 0o100644)
        );
        assert_eq!(
            (by_name(6).mode, by_name(6).content.as_deref()),
            (0o120644, Some(RESOLV_TARGET.as_bytes()))
        );
        assert_eq!(
            (by_name(11).mode, by_name(11).content.as_deref()),
            (0o120755, Some(&b"/proc/mounts"[..]))
        );
        assert_eq!(
            by_name(21).content.as_deref(),
            Some(&b"/app/prover\n--port\n6300\n"[..])
        );
        assert_eq!(
            (by_name(22).mode, by_name(22).content.as_deref()),
            (0o100644, Some(&b"RUST_LOG=info\n"[..]))
        );
        assert!(entries[7..23].iter().all(|e| e.mtime == t && e.uid == 0));
    }

    #[test]
    fn a_missing_resolv_conf_is_touched_as_a_symlink() {
        let bytes = write_customer(&Tree::new(), &[], &[], Vec::new()).unwrap();
        let entries = read(&bytes);
        let resolv = entries
            .iter()
            .find(|e| e.name == "rootfs/etc/resolv.conf")
            .unwrap();
        assert_eq!(
            (resolv.mode, resolv.mtime),
            (0o120644, LINUXKIT_MTIME as u32)
        );
        let cmd = entries.iter().find(|e| e.name == "cmd").unwrap();
        assert_eq!(cmd.size, 0);
    }

    #[test]
    fn cmd_wins_over_entrypoint_and_neither_is_an_error() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (cmd, _) = nitro_cmd_and_env(&s(&["/ep"]), &s(&["/cmd", "a"]), &[]).unwrap();
        assert_eq!(cmd, s(&["/cmd", "a"]));
        let (cmd, env) = nitro_cmd_and_env(&s(&["/ep", "x"]), &[], &s(&["A=1"])).unwrap();
        assert_eq!((cmd, env), (s(&["/ep", "x"]), s(&["A=1"])));
        assert!(matches!(
            nitro_cmd_and_env(&[], &[], &[]),
            Err(RamdiskError::NoCommand)
        ));
        let err = write_customer(&Tree::new(), &s(&["a\nb"]), &[], Vec::new()).unwrap_err();
        assert!(matches!(err, RamdiskError::BadElement { list: "Cmd", .. }));
    }
}
