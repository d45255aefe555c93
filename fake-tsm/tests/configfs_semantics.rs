//! The mounted filesystem answers std::fs calls the way the kernel's configfs-tsm does.
//! These tests mount through /dev/fuse: they need root and fusermount3 (Debian package fuse3), and
//! fail, with a message naming both, where mounting is impossible.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fake_tsm::{FakeTsm, ReportSigner};

/// Reports that spell out what they were made from, numbered in the order the signer made them,
/// so a test can tell which generation a report belongs to and whether it was made again.
struct NumberingSigner {
    made: AtomicUsize,
    auxblob: Vec<u8>,
}

impl NumberingSigner {
    fn report_for(number: usize, report_data: &[u8; 64]) -> Vec<u8> {
        let mut report = format!("report {number} of ").into_bytes();
        report.extend_from_slice(report_data);
        report
    }
}

impl ReportSigner for NumberingSigner {
    fn provider(&self) -> &str {
        "sev_guest"
    }

    fn report(&self, report_data: &[u8; 64]) -> Vec<u8> {
        let number = self.made.fetch_add(1, Ordering::SeqCst) + 1;
        NumberingSigner::report_for(number, report_data)
    }

    fn auxblob(&self) -> Vec<u8> {
        self.auxblob.clone()
    }
}

/// Field order matters: the filesystem is unmounted before its mount point is removed.
struct Mounted {
    tsm: FakeTsm,
    _dir: tempfile::TempDir,
}

impl Mounted {
    fn new(auxblob: &[u8]) -> Mounted {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let signer = Arc::new(NumberingSigner {
            made: AtomicUsize::new(0),
            auxblob: auxblob.to_vec(),
        });
        let tsm = FakeTsm::mount(dir.path(), signer).unwrap_or_else(|e| {
            panic!("mounting the fake configfs-tsm failed (needs root, /dev/fuse, fusermount3 from fuse3): {e}")
        });
        Mounted { tsm, _dir: dir }
    }

    fn entry(&self, name: &str) -> PathBuf {
        let path = self.tsm.reports_dir().join(name);
        fs::create_dir(&path).expect("mkdir of a report directory");
        path
    }
}

fn generation(entry: &Path) -> String {
    fs::read_to_string(entry.join("generation")).expect("generation reads")
}

fn report_data(byte: u8) -> [u8; 64] {
    let mut data = [0u8; 64];
    for (i, b) in data.iter_mut().enumerate() {
        *b = byte.wrapping_add(i as u8);
    }
    data
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("readdir")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn mkdir_makes_a_report_directory_with_the_sev_guest_attributes() {
    let mounted = Mounted::new(b"certificates");
    assert!(names_in(mounted.tsm.reports_dir()).is_empty());
    let entry = mounted.entry("report0");
    assert!(entry.is_dir());
    assert_eq!(
        names_in(&entry),
        ["auxblob", "generation", "inblob", "outblob", "provider"]
    );
    assert_eq!(names_in(mounted.tsm.reports_dir()), ["report0"]);
    assert_eq!(
        fs::read_to_string(entry.join("provider")).unwrap(),
        "sev_guest\n"
    );
    assert_eq!(generation(&entry), "0\n");
    assert!(entry.join("outblob").metadata().unwrap().is_file());
}

#[test]
fn outblob_is_the_signers_report_of_the_written_inblob_and_auxblob_its_certificates() {
    let mounted = Mounted::new(b"certificate table");
    let entry = mounted.entry("report0");
    let data = report_data(7);
    // The proof server's own sequence: fs::write (open with O_TRUNC, write, close), then reads.
    fs::write(entry.join("inblob"), data).unwrap();
    assert_eq!(generation(&entry), "1\n");
    let outblob = fs::read(entry.join("outblob")).unwrap();
    assert_eq!(outblob, NumberingSigner::report_for(1, &data));
    assert_eq!(
        fs::read(entry.join("auxblob")).unwrap(),
        b"certificate table"
    );
    assert_eq!(generation(&entry), "1\n");
    assert_eq!(mounted.tsm.reports_served(), 1);
}

#[test]
fn a_short_inblob_reaches_the_signer_zero_padded() {
    let mounted = Mounted::new(b"");
    let entry = mounted.entry("short");
    fs::write(entry.join("inblob"), b"nonce").unwrap();
    let mut padded = [0u8; 64];
    padded[..5].copy_from_slice(b"nonce");
    assert_eq!(
        fs::read(entry.join("outblob")).unwrap(),
        NumberingSigner::report_for(1, &padded)
    );
}

#[test]
fn auxblob_is_empty_when_the_signer_has_no_certificates() {
    let mounted = Mounted::new(b"");
    let entry = mounted.entry("report0");
    fs::write(entry.join("inblob"), report_data(1)).unwrap();
    assert_eq!(fs::read(entry.join("auxblob")).unwrap(), b"");
}

#[test]
fn every_inblob_write_advances_generation_and_a_report_is_made_once_per_generation() {
    let mounted = Mounted::new(b"certs");
    let entry = mounted.entry("report0");
    for written in 1..=3u8 {
        fs::write(entry.join("inblob"), report_data(written)).unwrap();
        assert_eq!(generation(&entry), format!("{written}\n"));
    }
    // Nothing was read meanwhile: no report was made for generations 1 and 2.
    assert_eq!(mounted.tsm.reports_served(), 0);
    let first = fs::read(entry.join("outblob")).unwrap();
    assert_eq!(first, NumberingSigner::report_for(1, &report_data(3)));
    assert_eq!(fs::read(entry.join("outblob")).unwrap(), first);
    fs::read(entry.join("auxblob")).unwrap();
    assert_eq!(mounted.tsm.reports_served(), 1);

    // Writing the same REPORT_DATA again is still a new generation, hence a new report.
    fs::write(entry.join("inblob"), report_data(3)).unwrap();
    assert_eq!(generation(&entry), "4\n");
    assert_eq!(
        fs::read(entry.join("outblob")).unwrap(),
        NumberingSigner::report_for(2, &report_data(3))
    );
    assert_eq!(mounted.tsm.reports_served(), 2);
}

#[test]
fn a_write_reaches_inblob_when_the_writer_closes_its_file() {
    let mounted = Mounted::new(b"");
    let entry = mounted.entry("report0");
    let mut inblob = fs::OpenOptions::new()
        .write(true)
        .open(entry.join("inblob"))
        .unwrap();
    inblob.write_all(&report_data(1)[..32]).unwrap();
    inblob.write_all(&report_data(1)[32..]).unwrap();
    assert_eq!(
        generation(&entry),
        "0\n",
        "configfs stores a binary attribute on close"
    );
    drop(inblob);
    assert_eq!(
        generation(&entry),
        "1\n",
        "two writes on one open file are one store"
    );
    assert_eq!(
        fs::read(entry.join("outblob")).unwrap(),
        NumberingSigner::report_for(1, &report_data(1))
    );
}

#[test]
fn inblob_refuses_more_than_64_bytes() {
    let mounted = Mounted::new(b"");
    let entry = mounted.entry("report0");
    let err = fs::write(entry.join("inblob"), [1u8; 65]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFBIG), "{err}");
    assert_eq!(generation(&entry), "0\n");
}

#[test]
fn reading_a_report_before_any_inblob_is_einval() {
    let mounted = Mounted::new(b"certs");
    let entry = mounted.entry("report0");
    for blob in ["outblob", "auxblob"] {
        let err = fs::read(entry.join(blob)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{blob}: {err}");
    }
    assert_eq!(mounted.tsm.reports_served(), 0);
}

#[test]
fn a_reader_keeps_the_report_of_its_first_read() {
    let mounted = Mounted::new(b"");
    let entry = mounted.entry("report0");
    fs::write(entry.join("inblob"), report_data(1)).unwrap();
    let mut outblob = fs::File::open(entry.join("outblob")).unwrap();
    let mut head = [0u8; 8];
    outblob.read_exact(&mut head).unwrap();
    fs::write(entry.join("inblob"), report_data(2)).unwrap();
    let mut rest = Vec::new();
    outblob.read_to_end(&mut rest).unwrap();
    let mut whole = head.to_vec();
    whole.extend(rest);
    assert_eq!(whole, NumberingSigner::report_for(1, &report_data(1)));
}

#[test]
fn rmdir_removes_a_report_directory_with_its_attributes() {
    let mounted = Mounted::new(b"");
    let entry = mounted.entry("report0");
    fs::write(entry.join("inblob"), report_data(1)).unwrap();
    fs::remove_dir(&entry).unwrap();
    assert!(!entry.exists());
    assert!(names_in(mounted.tsm.reports_dir()).is_empty());
    let err = fs::read(entry.join("generation")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = fs::remove_dir(&entry).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // The name is free again, for a directory with state of its own.
    let again = mounted.entry("report0");
    assert_eq!(generation(&again), "0\n");
}

#[test]
fn report_directories_are_independent() {
    let mounted = Mounted::new(b"");
    let first = mounted.entry("first");
    let second = mounted.entry("second");
    let err = fs::create_dir(&first).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    fs::write(first.join("inblob"), report_data(1)).unwrap();
    fs::write(first.join("inblob"), report_data(2)).unwrap();
    fs::write(second.join("inblob"), report_data(9)).unwrap();
    assert_eq!(generation(&first), "2\n");
    assert_eq!(generation(&second), "1\n");
    let second_report = fs::read(second.join("outblob")).unwrap();
    let first_report = fs::read(first.join("outblob")).unwrap();
    assert_eq!(
        second_report,
        NumberingSigner::report_for(1, &report_data(9))
    );
    assert_eq!(
        first_report,
        NumberingSigner::report_for(2, &report_data(2))
    );
    fs::remove_dir(&first).unwrap();
    assert_eq!(fs::read(second.join("outblob")).unwrap(), second_report);
    assert_eq!(names_in(mounted.tsm.reports_dir()), ["second"]);
}

#[test]
fn only_what_configfs_allows_can_be_done_to_the_tree() {
    let mounted = Mounted::new(b"");
    let entry = mounted.entry("report0");
    let refused = |result: std::io::Result<()>, errno: i32, what: &str| {
        let err = result.expect_err(what);
        assert_eq!(err.raw_os_error(), Some(errno), "{what}: {err}");
    };
    refused(
        fs::write(entry.join("unknown"), b"x"),
        libc::EACCES,
        "create in a report",
    );
    refused(
        fs::write(mounted.tsm.reports_dir().join("file"), b"x"),
        libc::EACCES,
        "create in the reports directory",
    );
    refused(
        fs::create_dir(entry.join("sub")),
        libc::EPERM,
        "mkdir in a report",
    );
    refused(
        fs::remove_file(entry.join("inblob")),
        libc::EPERM,
        "unlink an attribute",
    );
    refused(
        fs::rename(entry.join("outblob"), entry.join("renamed")),
        libc::EPERM,
        "rename an attribute",
    );
    refused(
        fs::write(entry.join("outblob"), b"x"),
        libc::EACCES,
        "write outblob",
    );
    refused(
        fs::write(entry.join("generation"), b"7"),
        libc::EACCES,
        "write generation",
    );
    refused(
        fs::read(entry.join("inblob")).map(drop),
        libc::EACCES,
        "read inblob",
    );
    assert_eq!(
        names_in(&entry),
        ["auxblob", "generation", "inblob", "outblob", "provider"]
    );
}

#[test]
fn dropping_the_mount_leaves_a_plain_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let signer = Arc::new(NumberingSigner {
        made: AtomicUsize::new(0),
        auxblob: Vec::new(),
    });
    let tsm = FakeTsm::mount(dir.path(), signer).unwrap_or_else(|e| {
        panic!("mounting the fake configfs-tsm failed (needs root, /dev/fuse, fusermount3 from fuse3): {e}")
    });
    fs::create_dir(tsm.reports_dir().join("left-behind")).unwrap();
    drop(tsm);
    assert!(names_in(dir.path()).is_empty());
    fs::write(dir.path().join("plain"), b"a plain directory accepts files").unwrap();
}
