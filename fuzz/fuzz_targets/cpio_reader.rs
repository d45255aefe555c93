//! Any byte string given to the newc reader yields entries or an error, never a panic or an
//! allocation sized by the input's claims.
#![no_main]

use builder::archive::{read_newc, CpioLimits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = CpioLimits {
        max_entries: 256,
        max_name_len: 256,
        max_total_size: 1 << 20,
        keep_content_up_to: 4096,
    };
    let _ = read_newc(data, &limits);
});
