//! Any byte string given as a UKI yields a prediction or an error, never a panic: the PE header
//! parser, the streamed Authenticode digest (over memory) and the whole vTPM PCR prediction (over a
//! file in /dev/shm, as it reads files).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use measurer::uki::{authenticode_sha256, predict_vtpm_pcrs, PeHeaders};

fuzz_target!(|data: &[u8]| {
    if let Ok(headers) = PeHeaders::parse(data) {
        let _ = authenticode_sha256(Cursor::new(data), &headers, data.len() as u64);
        let path = std::path::PathBuf::from(format!("/dev/shm/mpr-fuzz-uki-{}", std::process::id()));
        std::fs::write(&path, data).expect("/dev/shm is writable");
        let _ = predict_vtpm_pcrs(&path);
    }
});
