//! Any statement a publisher submits or a wallet downloads is parsed or refused with a message,
//! never a panic; whatever parses renders back to exactly the same bytes (one statement, one
//! SHA-256).
#![no_main]

use libfuzzer_sys::fuzz_target;
use verifier::statement as shape;

fuzz_target!(|data: &[u8]| {
    let _ = shape::kind_of(data);
    if let Ok(statement) = shape::parse_release_statement(data) {
        assert_eq!(statement.to_bytes(), data);
    }
    if let Ok(statement) = shape::parse_set_status_statement(data) {
        assert_eq!(statement.to_bytes(), data);
    }
    if let Ok(statement) = shape::parse_set_addendum_statement(data) {
        assert_eq!(statement.to_bytes(), data);
    }
    if let Ok(statement) = shape::parse_rebuild_statement(data) {
        assert_eq!(statement.to_bytes(), data);
        let _ = statement.reproduces(&statement.subject);
    }
});
