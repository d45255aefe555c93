//! Any byte string given to the EIF reader yields a description or an error, never a panic, a hang or an
//! allocation sized by the input's claims; whatever it accepts can be shown (every warning renders, the
//! description serialises, stored metadata JSON included).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(description) = measurer::eif::describe_reader(std::io::Cursor::new(data)) {
        for warning in &description.warnings {
            let _ = warning.to_string();
        }
        serde_json::to_string(&description).expect("an accepted EIF's description serialises");
    }
});
