//! `mpr diff`: exit status like diff(1) (0 identical, 1 different, 2 trouble), text and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use builder::archive::{write_tree_newc, FileData, NewcConventions, Node, Tree};
use serde_json::{json, Value};

/// `mpr diff` explaining why measurements changed.
#[path = "diff_cases/explain.rs"]
mod explain;

fn mpr(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpr"))
        .arg("diff")
        .args(args)
        .output()
        .expect("mpr runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

fn record(dir: &Path, name: &str, pcr0: &str) -> PathBuf {
    let path = dir.join(name);
    let value = json!({"schema": 1, "outputs": {"eif": {"pcrs": {"pcr0": pcr0, "pcr1": "11"}}}});
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    path
}

fn ramdisk(dir: &Path, name: &str, motd: &[u8]) -> PathBuf {
    let mut tree = Tree::new();
    let data = FileData::Bytes(Arc::from(motd));
    tree.insert("etc/motd", Node::file(data, 0o644, 1)).unwrap();
    let path = dir.join(name);
    std::fs::write(
        &path,
        write_tree_newc(&tree, Vec::new(), NewcConventions::NITRO).unwrap(),
    )
    .unwrap();
    path
}

#[test]
fn identical_inputs_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    let a = record(dir.path(), "a.json", "aa");
    let b = record(dir.path(), "b.json", "aa");
    let output = mpr(&[&a, &b]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).ends_with("are identical\n"),
        "{}",
        text(&output.stdout)
    );

    let output = mpr(&[Path::new("--json"), &a, &b]);
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["identical"], true);
    assert_eq!(report["differences"], json!([]));
    // Hand-made partial records still compare file by file; their measurements are not explained.
    let why = report["explanation_unavailable"].as_str().unwrap();
    assert!(
        why.contains("a.json is not a complete build record"),
        "{why}"
    );
    assert!(text(&output.stderr).contains("measurements not explained"));
}

#[test]
fn differences_exit_one_in_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let a = record(dir.path(), "a.json", "aa");
    let b = record(dir.path(), "b.json", "bb");
    let output = mpr(&[&a, &b]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("changed  record/outputs.eif.pcrs.pcr0: \"aa\" != \"bb\"\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n2 differences between "), "{stdout}");

    let a = ramdisk(dir.path(), "a.cpio", b"one\ntwo\n");
    let b = ramdisk(dir.path(), "b.cpio", b"one\nthree\n");
    let output = mpr(&[Path::new("--json"), &a, &b]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["identical"], false);
    let differences = report["differences"].as_array().unwrap();
    let motd = differences
        .iter()
        .find(|d| d["path"] == "ramdisk/etc/motd")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(motd["kind"], "changed");
    assert_eq!(motd["first_differing_offset"], 5);
    assert_eq!(motd["a"]["size"], 8);
    assert_eq!(motd["b"]["size"], 10);
    assert_eq!(motd["a"]["sha256"].as_str().unwrap().len(), 64);
    let unified = motd["unified_diff"].as_str().unwrap();
    assert!(unified.contains("-two\n+three\n"), "{unified}");
    let motd_text = text(&mpr(&[&a, &b]).stdout);
    assert!(
        motd_text.contains("changed  ramdisk/etc/motd\n    size: 8 != 10\n"),
        "{motd_text}"
    );
    assert!(
        motd_text.contains("    first differing offset: 5 (0x5)\n"),
        "{motd_text}"
    );
    assert!(motd_text.contains("    -two\n    +three\n"), "{motd_text}");
}

#[test]
fn errors_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let a = record(dir.path(), "a.json", "aa");
    let b = ramdisk(dir.path(), "b.cpio", b"x");
    let output = mpr(&[&a, &b]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("a build record") && stderr.contains("same kind"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let output = mpr(&[&a, &dir.path().join("missing")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("missing"));

    let output = mpr(&[dir.path(), dir.path()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("neither a build output"));
}
