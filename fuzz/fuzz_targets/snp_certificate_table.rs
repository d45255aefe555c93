//! Any bytes given as a GHCB certificate table (configfs-tsm `auxblob`) parse or are refused
//! with an error, never a panic; whatever parses points inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::snp::parse_certificate_table;

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = parse_certificate_table(data) {
        assert!(certs.leaf.len() <= data.len());
        assert!(!certs.leaf.is_empty());
    }
});
