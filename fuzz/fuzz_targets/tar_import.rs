//! Any byte string given to the tar importer yields a tree or an error, never a panic, and never a
//! file outside the work directory. Read in place (`index_tar`), the same bytes give the same
//! verdict, and a tree that archives to the same bytes.
#![no_main]

use builder::archive::{import_tar, index_tar, write_tar, ImportLimits, ImportPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let work = dir.path().join("work");
    if std::fs::create_dir(&work).is_err() {
        return;
    }
    let archive = dir.path().join("archive.tar");
    if std::fs::write(&archive, data).is_err() {
        return;
    }
    let limits = ImportLimits {
        max_entries: 64,
        max_file_size: 64 * 1024,
        max_total_size: 256 * 1024,
        max_path_len: 256,
    };
    // Devices allowed half the time so their parsing is exercised too.
    let policy = ImportPolicy {
        allow_devices: data.len() % 2 == 0,
        strip_components: usize::from(data.first().copied().unwrap_or(0) % 2),
    };
    let copied = import_tar(data, &work, &limits, &policy);
    let mut outside: Vec<_> = std::fs::read_dir(dir.path())
        .map(|it| it.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    outside.sort();
    assert_eq!(
        outside,
        ["archive.tar", "work"],
        "the importer wrote outside its work directory"
    );
    let in_place = index_tar(&archive, &limits, &policy);
    match (&copied, &in_place) {
        (Ok(copied), Ok(indexed)) => {
            let copied = write_tar(copied, Vec::new()).expect("the imported tree archives");
            let indexed = write_tar(indexed, Vec::new()).expect("the indexed tree archives");
            assert!(copied == indexed, "the tree read in place differs");
        }
        (Err(_), Err(_)) => {}
        (copied, in_place) => panic!(
            "copied: {:?}; in place: {:?}",
            copied.as_ref().err(),
            in_place.as_ref().err()
        ),
    }
});
