//! Any byte string given to the tar importer yields a tree or an error, never a panic, and never a
//! file outside the work directory.
#![no_main]

use builder::archive::{import_tar, ImportLimits, ImportPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let work = dir.path().join("work");
    if std::fs::create_dir(&work).is_err() {
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
    let _ = import_tar(data, &work, &limits, &policy);
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .map(|it| it.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(
        outside,
        ["work"],
        "the importer wrote outside its work directory"
    );
});
