//! Interoperability with the GNU tools (tar, cpio) and busybox, and the importer's defences against
//! hostile tars built byte by byte.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use builder::archive::{
    import_tar, index_tar, read_newc, write_tar, write_tree_newc, CpioError, CpioLimits, FileData,
    ImportError, ImportLimits, ImportPolicy, NewcConventions, Node, NodeKind, Tree,
};

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stderr(Stdio::piped())
        .output()
        .expect("tool is installed");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn blob_contents(tree: &Tree, path: &str) -> Vec<u8> {
    match &tree.get(path).unwrap().kind {
        NodeKind::File(data) => data.read().unwrap(),
        other => panic!("{path} is {other:?}"),
    }
}

/// The same bytes read in place (`index_tar`): the tree must archive to the same bytes as the
/// copied one, and a refusal must be the same refusal, except that data cut short is found as a
/// truncated archive (the tar reader skips the data instead of copying it).
fn check_in_place(
    tar: &[u8],
    limits: &ImportLimits,
    policy: &ImportPolicy,
    copied: &Result<Tree, ImportError>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("archive.tar");
    fs::write(&path, tar).unwrap();
    let in_place = index_tar(&path, limits, policy);
    match (copied, &in_place) {
        (Ok(copied), Ok(indexed)) => {
            assert_eq!(
                write_tar(copied, Vec::new()).unwrap(),
                write_tar(indexed, Vec::new()).unwrap()
            );
            for (_, node) in indexed.iter() {
                if let NodeKind::File(data) = &node.kind {
                    assert!(matches!(data, FileData::Region { .. }), "{data:?}");
                }
            }
        }
        (Err(ImportError::TruncatedEntry { .. }), Err(ImportError::Truncated)) => {}
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "copied: {a}; in place: {b}"
        ),
        (a, b) => panic!(
            "copied: {:?}; in place: {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
}

const LONG: &str = "long/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/file.txt";

fn sample_dir(root: &Path) {
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join(LONG).parent().unwrap()).unwrap();
    fs::write(root.join("d/f.txt"), b"hello\n").unwrap();
    fs::write(root.join("bin/tool"), b"#!/bin/sh\n").unwrap();
    fs::write(root.join(LONG), b"long\n").unwrap();
    fs::hard_link(root.join("d/f.txt"), root.join("d/hard")).unwrap();
    std::os::unix::fs::symlink("d/f.txt", root.join("lnk")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("abs")).unwrap();
    let chmod = |p: &str, m| fs::set_permissions(root.join(p), fs::Permissions::from_mode(m));
    chmod("d", 0o750).unwrap();
    chmod("d/f.txt", 0o640).unwrap();
    chmod("bin/tool", 0o755).unwrap();
}

#[test]
fn gnu_tar_archives_import_into_the_expected_tree() {
    // GNU format rooted at "./", and PAX format rooted at "out/" as Docker's archive endpoint is.
    for (format, root_name, strip) in [("gnu", ".", 0), ("pax", "out", 1)] {
        let tmp = tempfile::tempdir().unwrap();
        let parent = tmp.path().join("src");
        sample_dir(&parent.join("out"));
        let (base, member) = if root_name == "." {
            (parent.join("out"), ".")
        } else {
            (parent.clone(), "out")
        };
        let tar = run(Command::new("tar")
            .args([&format!("--format={format}"), "--sort=name", "--owner=1234"])
            .args([
                "--group=5678",
                "--numeric-owner",
                "--mtime=@1700000000",
                "-cf",
                "-",
            ])
            .arg("-C")
            .arg(&base)
            .arg(member));
        let work = tmp.path().join("work");
        fs::create_dir(&work).unwrap();
        let policy = ImportPolicy {
            allow_devices: false,
            strip_components: strip,
        };
        let imported = import_tar(&tar[..], &work, &ImportLimits::default(), &policy);
        check_in_place(&tar, &ImportLimits::default(), &policy, &imported);
        let tree = imported.unwrap();

        let paths: Vec<_> = tree.iter().map(|(p, _)| p).collect();
        let long_dir = LONG.rsplit_once('/').unwrap().0;
        let mut expected = vec![
            "abs", "bin", "bin/tool", "d", "d/f.txt", "d/hard", "lnk", "long", long_dir, LONG,
        ];
        expected.sort_unstable();
        assert_eq!(paths, expected, "{format}");
        for (_, node) in tree.iter() {
            assert_eq!((node.uid, node.gid, node.mtime), (1234, 5678, 1700000000));
        }
        assert_eq!(tree.get("d").unwrap().mode, 0o750);
        assert_eq!(tree.get("d/f.txt").unwrap().mode, 0o640);
        assert_eq!(tree.get("bin/tool").unwrap().mode, 0o755);
        assert_eq!(
            tree.get("lnk").unwrap().kind,
            NodeKind::Symlink("d/f.txt".into())
        );
        assert_eq!(
            tree.get("abs").unwrap().kind,
            NodeKind::Symlink("/etc/passwd".into())
        );
        // The hard link shares the first copy's data instead of storing the bytes twice.
        assert_eq!(
            tree.get("d/hard").unwrap().kind,
            tree.get("d/f.txt").unwrap().kind
        );
        assert_eq!(blob_contents(&tree, "d/hard"), b"hello\n");
        assert_eq!(blob_contents(&tree, LONG), b"long\n");
        assert_eq!(blob_contents(&tree, "bin/tool"), b"#!/bin/sh\n");
    }
}

/// One raw tar entry, path and link name poked into the header so nothing is sanitised.
fn entry(out: &mut Vec<u8>, path: &str, kind: u8, link: &str, size: u64, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    let gnu = header.as_gnu_mut().unwrap();
    gnu.name[..path.len()].copy_from_slice(path.as_bytes());
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(1);
    header.set_uid(0);
    header.set_gid(0);
    if kind == b'3' {
        header.set_device_major(1).unwrap();
        header.set_device_minor(3).unwrap();
    }
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512), 0);
}

fn finish(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0; 1024]);
    tar
}

fn import_in_sandbox(tar: &[u8], limits: &ImportLimits) -> Result<Tree, ImportError> {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    fs::create_dir(&work).unwrap();
    let result = import_tar(tar, &work, limits, &ImportPolicy::default());
    check_in_place(tar, limits, &ImportPolicy::default(), &result);
    // Whatever happened, the only thing written is blobs in the work directory.
    let outside: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["work"]);
    for blob in fs::read_dir(&work).unwrap() {
        let blob = blob.unwrap();
        assert!(blob.file_name().to_str().unwrap().starts_with("blob-"));
        assert!(blob.file_type().unwrap().is_file());
    }
    result
}

#[test]
fn hostile_tars_are_refused_with_the_matching_error() {
    let limits = ImportLimits {
        max_file_size: 1 << 20,
        max_total_size: 1536 << 10,
        ..ImportLimits::default()
    };
    let abs_name = format!("/tmp/mpr-import-abs-{}", std::process::id());
    let single = |path: &str, kind: u8, link: &str| {
        let mut tar = Vec::new();
        entry(&mut tar, path, kind, link, 0, b"");
        import_in_sandbox(&finish(tar), &limits).unwrap_err()
    };

    let err = single("../escape", b'0', "");
    assert!(matches!(err, ImportError::PathTraversal { .. }), "{err}");
    let err = single(&abs_name, b'0', "");
    assert!(matches!(err, ImportError::AbsolutePath { .. }), "{err}");
    assert!(!Path::new(&abs_name).exists());
    let err = single("a", b'2', "../../etc");
    assert!(matches!(err, ImportError::SymlinkEscapes { .. }), "{err}");
    let err = single("x", b'1', "../x");
    assert!(matches!(err, ImportError::HardLinkEscapes { .. }), "{err}");
    let err = single("x", b'1', "missing");
    assert!(matches!(err, ImportError::HardLinkTarget { .. }), "{err}");
    let err = single("dev/null", b'3', "");
    assert!(matches!(err, ImportError::DeviceNotAllowed { .. }), "{err}");
    let err = single("contiguous", b'7', "");
    assert!(
        matches!(err, ImportError::UnsupportedType { type_byte: '7', .. }),
        "{err}"
    );

    let mut tar = Vec::new();
    entry(&mut tar, "link", b'2', "/etc", 0, b"");
    entry(&mut tar, "link/passwd", b'0', "", 4, b"pwn\n");
    let err = import_in_sandbox(&finish(tar), &limits).unwrap_err();
    assert!(matches!(err, ImportError::ParentNotDir { .. }), "{err}");

    // A hard link to a directory is not a link to an earlier regular file either.
    let mut tar = Vec::new();
    entry(&mut tar, "dir", b'5', "", 0, b"");
    entry(&mut tar, "x", b'1', "dir", 0, b"");
    let err = import_in_sandbox(&finish(tar), &limits).unwrap_err();
    assert!(matches!(err, ImportError::HardLinkTarget { .. }), "{err}");

    // Sizes: one absurd header (no data behind it), then a total over the limit.
    let mut tar = Vec::new();
    entry(&mut tar, "huge", b'0', "", 1 << 40, b"");
    let err = import_in_sandbox(&finish(tar), &limits).unwrap_err();
    assert!(matches!(err, ImportError::FileTooLarge { .. }), "{err}");
    let mut tar = Vec::new();
    let chunk = vec![7u8; 1 << 20];
    entry(&mut tar, "one", b'0', "", chunk.len() as u64, &chunk);
    entry(&mut tar, "two", b'0', "", chunk.len() as u64, &chunk);
    let err = import_in_sandbox(&finish(tar), &limits).unwrap_err();
    assert!(matches!(err, ImportError::TotalTooLarge { .. }), "{err}");

    // Truncation: inside file data, and at an entry boundary without the end-of-archive blocks.
    let mut tar = Vec::new();
    entry(&mut tar, "f", b'0', "", 1000, &[1; 1000]);
    let err = import_in_sandbox(&tar[..900], &limits).unwrap_err();
    assert!(matches!(err, ImportError::TruncatedEntry { .. }), "{err}");
    let err = import_in_sandbox(&tar, &limits).unwrap_err();
    assert!(matches!(err, ImportError::Truncated), "{err}");
    let err = import_in_sandbox(&tar[..300], &limits).unwrap_err();
    assert!(matches!(err, ImportError::Truncated), "{err}");
}

#[test]
fn valid_hand_made_archive_with_later_entries_winning() {
    let mut tar = Vec::new();
    entry(&mut tar, "./", b'5', "", 0, b"");
    entry(&mut tar, "./etc/motd", b'0', "", 3, b"old");
    entry(&mut tar, "./etc/motd", b'0', "", 3, b"new");
    entry(&mut tar, "./etc/link", b'1', "./etc/motd", 0, b"");
    entry(&mut tar, "./usr/lib64", b'2', "../lib", 0, b"");
    let tree = import_in_sandbox(&finish(tar), &ImportLimits::default()).unwrap();
    let paths: Vec<_> = tree.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["etc", "etc/link", "etc/motd", "usr", "usr/lib64"]);
    assert_eq!(
        tree.get("etc/link").unwrap().kind,
        tree.get("etc/motd").unwrap().kind
    );
}

fn cpio_sample(tmp: &Path) -> Tree {
    let disk = tmp.join("disk-data");
    fs::write(&disk, b"from disk\n").unwrap();
    let mut tree = Tree::new();
    let bytes = |b: &[u8]| FileData::Bytes(Arc::from(b));
    tree.insert("etc/conf", Node::file(bytes(b"a=1\n"), 0o640, 1700000000))
        .unwrap();
    tree.insert(
        "bin/run",
        Node::file(bytes(b"#!/bin/sh\necho hi\n"), 0o755, 1700000000),
    )
    .unwrap();
    tree.insert("bin/sh", Node::symlink("run", 1700000000))
        .unwrap();
    let disk = FileData::Disk {
        path: disk,
        size: 10,
    };
    tree.insert("data/blob", Node::file(disk, 0o600, 1700000000))
        .unwrap();
    tree.insert("empty", Node::dir(0o700, 1700000000)).unwrap();
    tree
}

#[test]
fn gnu_cpio_and_busybox_read_our_newc() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = cpio_sample(tmp.path());
    let archive = write_tree_newc(&tree, Vec::new(), NewcConventions::NITRO).unwrap();
    let path = tmp.path().join("out.cpio");
    fs::write(&path, &archive).unwrap();

    let listing = run(Command::new("cpio").args(["-itv", "-F"]).arg(&path));
    let listing = String::from_utf8(listing).unwrap();
    let lines: Vec<_> = listing.lines().collect();
    let expected = [
        ("drwxr-xr-x", "bin"),
        ("-rwxr-xr-x", "bin/run"),
        ("lrwxrwxrwx", "bin/sh -> run"),
        ("drwxr-xr-x", "data"),
        ("-rw-------", "data/blob"),
        ("drwx------", "empty"),
        ("drwxr-xr-x", "etc"),
        ("-rw-r-----", "etc/conf"),
    ];
    assert_eq!(lines.len(), expected.len(), "{listing}");
    for (line, (perms, name)) in lines.iter().zip(expected) {
        assert!(
            line.starts_with(perms) && line.ends_with(name),
            "{line:?} vs {perms} {name}"
        );
    }
    let names = run(Command::new("busybox")
        .args(["cpio", "-t", "-F"])
        .arg(&path));
    assert_eq!(
        String::from_utf8(names)
            .unwrap()
            .lines()
            .collect::<Vec<_>>(),
        [
            "bin",
            "bin/run",
            "bin/sh",
            "data",
            "data/blob",
            "empty",
            "etc",
            "etc/conf"
        ]
    );

    let out = tmp.path().join("x");
    fs::create_dir(&out).unwrap();
    run(Command::new("cpio")
        .args(["-idm", "--no-absolute-filenames", "--quiet", "-F"])
        .arg(&path)
        .current_dir(&out));
    assert_eq!(fs::read(out.join("etc/conf")).unwrap(), b"a=1\n");
    assert_eq!(fs::read(out.join("data/blob")).unwrap(), b"from disk\n");
    assert_eq!(fs::read_link(out.join("bin/sh")).unwrap(), Path::new("run"));
    let mode = |p: &str| fs::symlink_metadata(out.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(
        (mode("etc/conf"), mode("bin/run"), mode("data/blob")),
        (0o640, 0o755, 0o600)
    );
    assert_eq!(
        fs::metadata(out.join("etc/conf")).unwrap().mtime(),
        1700000000
    );
}

#[test]
fn newc_written_by_gnu_cpio_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/a.txt"), b"alpha\n").unwrap();
    fs::set_permissions(src.join("sub/a.txt"), fs::Permissions::from_mode(0o604)).unwrap();
    std::os::unix::fs::symlink("sub/a.txt", src.join("ln")).unwrap();
    let mut child = Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&src)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sub\nsub/a.txt\nln\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());

    let entries = read_newc(&out.stdout[..], &CpioLimits::default()).unwrap();
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["sub", "sub/a.txt", "ln", "TRAILER!!!"]);
    let file = &entries[1];
    assert_eq!((file.mode, file.size, file.nlink), (0o100604, 6, 1));
    assert_eq!(file.content.as_deref(), Some(&b"alpha\n"[..]));
    assert_eq!(file.sha256, hex_sha256(b"alpha\n"));
    assert_eq!(
        (entries[2].mode & 0o170000, entries[2].content.as_deref()),
        (0o120000, Some(&b"sub/a.txt"[..]))
    );
    assert_eq!(entries[0].mode & 0o170000, 0o040000);
}

fn hex_sha256(bytes: &[u8]) -> String {
    builder::hashing::digest_bytes(bytes).sha256
}

#[test]
fn truncated_or_garbage_cpio_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let archive =
        write_tree_newc(&cpio_sample(tmp.path()), Vec::new(), NewcConventions::NITRO).unwrap();
    let limits = CpioLimits::default();
    // Every cut before the trailer's end is an error; cuts inside the final padding are not.
    let trailer_end = archive
        .windows(10)
        .rposition(|w| w == b"TRAILER!!!")
        .unwrap()
        + 11;
    for cut in (0..trailer_end).step_by(7) {
        let err = read_newc(&archive[..cut], &limits).unwrap_err();
        assert!(
            matches!(
                err,
                CpioError::Truncated { .. } | CpioError::MissingTrailer { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
    let garbage = b"\x1f\x8b\x08\x00 this is gzip, not cpio, and it goes on for more than a header's worth of bytes to be sure";
    assert!(matches!(
        read_newc(&garbage[..], &limits),
        Err(CpioError::BadMagic { offset: 0, .. })
    ));
    let mut bad_name = archive.clone();
    // First record's name "bin\0" -> "bi\xff\0".
    bad_name[112] = 0xff;
    assert!(matches!(
        read_newc(&bad_name[..], &limits),
        Err(CpioError::NonUtf8Name { .. })
    ));
}
