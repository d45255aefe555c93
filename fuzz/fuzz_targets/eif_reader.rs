//! Any byte string given to the EIF reader yields a description or an error, never a panic, a hang or an
//! allocation sized by the input's claims.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = measurer::eif::describe_reader(std::io::Cursor::new(data));
});
