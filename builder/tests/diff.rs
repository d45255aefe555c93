//! `diff`: pairs of artifacts written by the builder's own writers, compared; the expected paths
//! and offsets are worked out independently of the code under test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use builder::archive::{write_tree_newc, FileData, NewcConventions, Node, Tree};
use builder::diff::{
    detect, diff_paths, DiffError, DiffKind, DiffOptions, DiffReport, Difference, InputKind,
};
use builder::image::{write_image, Arch, RuntimeConfig};
use measurer::eif::{write_eif, Arch as EifArch, BuildMetadata, EifMetadata, EifSpec};
use serde_json::json;
use sha2::{Digest, Sha256};

const BIG: usize = 200 * 1024;
/// Where the big file of tree B differs from tree A's.
const BIG_CHANGE: usize = 150_001;

fn bytes(data: &[u8]) -> FileData {
    FileData::Bytes(Arc::from(data))
}

fn big(changed: bool) -> Vec<u8> {
    let mut data: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    if changed {
        data[BIG_CHANGE] ^= 0xff;
    }
    data
}

/// Tree B differs from tree A in `etc/motd` (text, second line) and in one byte of `bin/big`.
fn tree(b: bool) -> Tree {
    let motd: &[u8] = if b {
        b"hello\nbrave new\nworld\n"
    } else {
        b"hello\nold\nworld\n"
    };
    let mut tree = Tree::new();
    tree.insert("etc/motd", Node::file(bytes(motd), 0o644, 5))
        .unwrap();
    tree.insert("bin/big", Node::file(bytes(&big(b)), 0o755, 5))
        .unwrap();
    tree.insert("bin/same", Node::file(bytes(b"same\n"), 0o755, 5))
        .unwrap();
    tree.insert("lib64", Node::symlink("lib", 5)).unwrap();
    tree
}

/// Offset of the first differing byte, computed the obvious way.
fn first_difference(a: &[u8], b: &[u8]) -> u64 {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    common as u64
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn find<'a>(report: &'a DiffReport, path: &str) -> &'a Difference {
    report
        .differences
        .iter()
        .find(|d| d.path == path)
        .unwrap_or_else(|| panic!("no difference at {path}; got {:#?}", paths(report)))
}

fn paths(report: &DiffReport) -> Vec<&str> {
    report.differences.iter().map(|d| d.path.as_str()).collect()
}

fn diff(a: &Path, b: &Path) -> DiffReport {
    diff_paths(a, b, &DiffOptions::default()).unwrap()
}

fn write_ramdisk(path: &Path, tree: &Tree) -> PathBuf {
    std::fs::write(
        path,
        write_tree_newc(tree, Vec::new(), NewcConventions::NITRO).unwrap(),
    )
    .unwrap();
    path.to_owned()
}

/// What every comparison of the two trees must say about their two differing files.
fn check_tree_differences(report: &DiffReport, prefix: &str) {
    let motd = find(report, &format!("{prefix}/etc/motd"));
    assert_eq!(motd.kind, DiffKind::Changed);
    assert_eq!(motd.first_differing_offset, Some(6));
    let text = motd.unified_diff.as_deref().expect("a text diff");
    assert!(text.contains("--- a/etc/motd\n+++ b/etc/motd\n"), "{text}");
    assert!(
        text.contains(" hello\n-old\n+brave new\n world\n"),
        "{text}"
    );
    let big_diff = find(report, &format!("{prefix}/bin/big"));
    assert_eq!(big_diff.first_differing_offset, Some(BIG_CHANGE as u64));
    assert_eq!(
        big_diff.a.as_ref().unwrap().sha256.as_deref(),
        Some(&*sha256(&big(false)))
    );
    assert_eq!(
        big_diff.b.as_ref().unwrap().sha256.as_deref(),
        Some(&*sha256(&big(true)))
    );
    assert!(big_diff.unified_diff.is_none());
    assert!(!paths(report)
        .iter()
        .any(|p| p.ends_with("bin/same") || p.ends_with("lib64")));
}

#[test]
fn ramdisks_differ_per_entry_with_offsets_and_text_diffs() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_ramdisk(&dir.path().join("a.cpio"), &tree(false));
    let b = write_ramdisk(&dir.path().join("b.cpio"), &tree(true));
    assert_eq!(
        detect(&a, &DiffOptions::default()).unwrap(),
        InputKind::Ramdisk
    );
    let report = diff(&a, &b);
    assert!(!report.identical);
    let whole = find(&report, "ramdisk");
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(
        whole.first_differing_offset,
        Some(first_difference(&ba, &bb))
    );
    check_tree_differences(&report, "ramdisk");
    // The motd grew by 6 bytes, so inode numbers and everything later moved, but the entry lists
    // line up: nothing added or removed, and nothing else changed.
    assert_eq!(report.differences.len(), 3, "{:#?}", report.differences);

    let same = diff(&a, &a.clone());
    assert!(same.identical && same.differences.is_empty());
}

#[test]
fn ramdisk_entries_added_removed_and_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let mut extra = tree(false);
    extra.remove("lib64");
    extra
        .insert("etc/new", Node::file(bytes(b"x"), 0o600, 5))
        .unwrap();
    let a = write_ramdisk(&dir.path().join("a.cpio"), &tree(false));
    let b = write_ramdisk(&dir.path().join("b.cpio"), &extra);
    let report = diff(&a, &b);
    assert_eq!(find(&report, "ramdisk/lib64").kind, DiffKind::Removed);
    let added = find(&report, "ramdisk/etc/new");
    assert_eq!(added.kind, DiffKind::Added);
    assert_eq!(
        added.b.as_ref().unwrap().sha256.as_deref(),
        Some(&*sha256(b"x"))
    );

    // A name written twice (legal in cpio; the kernel keeps the last) is matched by occurrence.
    let twice = |second: &[u8]| {
        let mut writer = builder::archive::NewcWriter::new(Vec::new(), NewcConventions::NITRO);
        writer
            .append("init", &Node::file(bytes(b"one"), 0o755, 0))
            .unwrap();
        writer
            .append("init", &Node::file(bytes(second), 0o755, 0))
            .unwrap();
        writer.finish().unwrap()
    };
    std::fs::write(dir.path().join("c.cpio"), twice(b"two")).unwrap();
    std::fs::write(dir.path().join("d.cpio"), twice(b"TWO")).unwrap();
    let report = diff(&dir.path().join("c.cpio"), &dir.path().join("d.cpio"));
    assert_eq!(paths(&report), ["ramdisk", "ramdisk/init#2"]);
    assert_eq!(report.differences[1].first_differing_offset, Some(0));

    // Same entries, other order: said once, not as every entry changed.
    let ordered = |names: [&str; 2]| {
        let mut writer = builder::archive::NewcWriter::new(Vec::new(), NewcConventions::NITRO);
        for name in names {
            writer
                .append(name, &Node::file(bytes(name.as_bytes()), 0o644, 0))
                .unwrap();
        }
        writer.finish().unwrap()
    };
    std::fs::write(dir.path().join("e.cpio"), ordered(["x", "y"])).unwrap();
    std::fs::write(dir.path().join("f.cpio"), ordered(["y", "x"])).unwrap();
    let report = diff(&dir.path().join("e.cpio"), &dir.path().join("f.cpio"));
    assert_eq!(paths(&report), ["ramdisk", "ramdisk"]);
    let note = report.differences[1].note.as_deref().unwrap();
    assert!(
        note.contains("different order") && note.contains("\"x\" in A, \"y\" in B"),
        "{note}"
    );
}

fn image(dir: &Path, name: &str, tree: &Tree) -> PathBuf {
    let config = RuntimeConfig {
        entrypoint: vec!["/bin/big".into()],
        ..Default::default()
    };
    let out = dir.join(name);
    write_image(
        tree,
        &config,
        1_700_000_000,
        Arch::Amd64,
        "mpr/test:1",
        &out,
    )
    .unwrap();
    out
}

#[test]
fn images_compare_documents_then_layer_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(dir.path(), "a", &tree(false));
    let b = image(dir.path(), "b", &tree(true));
    let (tar_a, tar_b) = (a.join("image.tar"), b.join("image.tar"));
    let options = DiffOptions::default();
    assert_eq!(detect(&tar_a, &options).unwrap(), InputKind::ImageTar);
    assert_eq!(
        detect(&a.join("oci"), &options).unwrap(),
        InputKind::ImageDir
    );

    for (x, y) in [
        (&tar_a, &tar_b),
        (&a.join("oci"), &b.join("oci")),
        (&tar_a, &b.join("oci")),
    ] {
        let report = diff(x, y);
        check_tree_differences(&report, "image/layer[0]");
        let layer = find(&report, "image/layer[0]");
        let blob = |root: &Path| {
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(root.join("oci/manifest.json")).unwrap())
                    .unwrap();
            std::fs::read(
                root.join("oci")
                    .join(manifest[0]["Layers"][0].as_str().unwrap()),
            )
            .unwrap()
        };
        let (la, lb) = (blob(&a), blob(&b));
        assert_eq!(
            layer.first_differing_offset,
            Some(first_difference(&la, &lb))
        );
        // The layer digest shows through the config (diff ID) and the manifest.
        find(&report, "image/config/rootfs.diff_ids[0]");
        find(&report, "image/manifest/layers[0].digest");
        find(&report, "image/index.json/manifests[0].digest");
    }
    assert!(diff(&tar_a, &tar_a).identical);
    assert!(diff(&a.join("oci"), &a.join("oci")).identical);
}

fn eif(dir: &Path, name: &str, second_ramdisk: &Tree) -> PathBuf {
    let kernel = dir.join("kernel");
    std::fs::write(&kernel, b"KERNEL").unwrap();
    let mut boot = Tree::new();
    boot.insert("init", Node::file(bytes(b"#!/bin/sh\n"), 0o755, 0))
        .unwrap();
    let rd0 = write_ramdisk(&dir.join("boot.cpio"), &boot);
    let rd1 = write_ramdisk(&dir.join(format!("{name}.cpio")), second_ramdisk);
    let spec = EifSpec {
        kernel,
        cmdline: "console=ttyS0".into(),
        ramdisks: vec![rd0, rd1],
        arch: EifArch::X86_64,
        metadata: EifMetadata {
            image_name: "test".into(),
            image_version: name.into(),
            build: BuildMetadata {
                build_time: "1970-01-01T00:00:00+00:00".into(),
                build_tool: "mpr".into(),
                build_tool_version: "0".into(),
                operating_system: "linux".into(),
                kernel_version: String::new(),
            },
            docker_info: serde_json::Value::Null,
            custom: serde_json::Value::Null,
        },
        signing: None,
    };
    let out = dir.join(format!("{name}.eif"));
    write_eif(&spec, &out).unwrap();
    out
}

#[test]
fn eifs_compare_header_sections_metadata_and_ramdisk_entries() {
    let dir = tempfile::tempdir().unwrap();
    let a = eif(dir.path(), "a", &tree(false));
    let b = eif(dir.path(), "b", &tree(true));
    let report = diff(&a, &b);
    let header = find(&report, "eif/header");
    let fields: Vec<_> = header.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["crc32", "pcr0", "pcr2"]);
    // Section order: kernel, cmdline, metadata, ramdisk 0, ramdisk 1.
    find(&report, "eif/section[2](metadata)/ImageVersion");
    assert!(!paths(&report)
        .iter()
        .any(|p| p.starts_with("eif/section[3]")));
    let section = find(&report, "eif/section[4](ramdisk)");
    let (ra, rb) = (
        std::fs::read(dir.path().join("a.cpio")).unwrap(),
        std::fs::read(dir.path().join("b.cpio")).unwrap(),
    );
    assert_eq!(
        section.first_differing_offset,
        Some(first_difference(&ra, &rb))
    );
    assert_eq!(
        section.a.as_ref().unwrap().sha256.as_deref(),
        Some(&*sha256(&ra))
    );
    check_tree_differences(&report, "eif/section[4](ramdisk)");
    assert!(diff(&a, &a).identical);

    // A truncated EIF is an error that says which file, not a panic.
    let cut = dir.path().join("cut.eif");
    let full = std::fs::read(&b).unwrap();
    std::fs::write(&cut, &full[..full.len() - 10]).unwrap();
    let err = diff_paths(&a, &cut, &DiffOptions::default()).unwrap_err();
    assert!(matches!(err, DiffError::Eif { .. }), "{err}");
    assert!(err.to_string().contains("cut.eif"), "{err}");
}

fn record(pcr0: &str) -> serde_json::Value {
    json!({
        "schema": 1,
        "tool": {"name": "mpr", "version": "0.1.0"},
        "outputs": {"eif": {"file": "p.eif", "pcrs": {"pcr0": pcr0, "pcr1": "11", "pcr2": "22"}}}
    })
}

#[test]
fn records_compare_by_json_path_and_kinds_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &serde_json::Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
        path
    };
    let a = write("a.json", &record("aa"));
    let b = write("b.json", &record("bb"));
    assert_eq!(
        detect(&a, &DiffOptions::default()).unwrap(),
        InputKind::Record
    );
    let report = diff(&a, &b);
    assert_eq!(paths(&report), ["record", "record/outputs.eif.pcrs.pcr0"]);
    assert_eq!(
        report.differences[1].to_string(),
        "changed  record/outputs.eif.pcrs.pcr0: \"aa\" != \"bb\""
    );
    // Same JSON, other formatting: the bytes differ, the values do not.
    std::fs::write(
        dir.path().join("c.json"),
        serde_json::to_string(&record("aa")).unwrap(),
    )
    .unwrap();
    let report = diff(&a, &dir.path().join("c.json"));
    assert_eq!(paths(&report), ["record"]);
    assert!(report.differences[0]
        .note
        .as_deref()
        .unwrap()
        .contains("compare equal"));

    let cpio = write_ramdisk(&dir.path().join("r.cpio"), &tree(false));
    let err = diff_paths(&a, &cpio, &DiffOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DiffError::KindMismatch {
                a_kind: InputKind::Record,
                b_kind: InputKind::Ramdisk,
                ..
            }
        ),
        "{err}"
    );
    let err = diff_paths(&a, &dir.path().join("missing"), &DiffOptions::default()).unwrap_err();
    assert!(matches!(err, DiffError::Io { .. }), "{err}");
}

#[test]
fn plain_files_and_malformed_archives() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"plain bytes 1").unwrap();
    std::fs::write(&b, b"plain bytes 2 and more").unwrap();
    let report = diff(&a, &b);
    assert_eq!(paths(&report), ["file"]);
    let d = &report.differences[0];
    assert_eq!(d.first_differing_offset, Some(12));
    assert_eq!(
        (d.a.as_ref().unwrap().size, d.b.as_ref().unwrap().size),
        (Some(13), Some(22))
    );

    // A truncated ramdisk is an error, not a panic or a silent pass.
    let good = write_tree_newc(&tree(false), Vec::new(), NewcConventions::NITRO).unwrap();
    std::fs::write(&a, &good).unwrap();
    std::fs::write(&b, &good[..300]).unwrap();
    let err = diff_paths(&a, &b, &DiffOptions::default()).unwrap_err();
    assert!(matches!(err, DiffError::Cpio { .. }), "{err}");
}

#[test]
fn output_directories_compare_every_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str, t: &Tree, pcr0: &str| {
        let root = dir.path().join(name);
        image(&root, "image", t);
        std::fs::create_dir_all(root.join("eif")).unwrap();
        write_ramdisk(&root.join("eif/customer-initrd.img"), t);
        let path = root.join("build-record.json");
        std::fs::write(path, serde_json::to_string_pretty(&record(pcr0)).unwrap()).unwrap();
        root
    };
    let a = out("a", &tree(false), "aa");
    let b = out("b", &tree(true), "bb");
    std::fs::write(b.join("extra.txt"), b"x").unwrap();
    let report = diff(&a, &b);
    find(&report, "build-record.json/outputs.eif.pcrs.pcr0");
    check_tree_differences(&report, "eif/customer-initrd.img");
    check_tree_differences(&report, "image/image.tar/layer[0]");
    check_tree_differences(&report, "image/oci/layer[0]");
    assert_eq!(find(&report, "extra.txt").kind, DiffKind::Added);
    let same = out("c", &tree(false), "aa");
    assert!(
        diff(&a, &same).identical,
        "{:#?}",
        diff(&a, &same).differences
    );
}
