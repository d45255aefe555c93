//! What the registry decodes from a request besides its body's submission: query strings, JSON
//! bodies of the admin endpoints, and a rebuild report's Mpr-Signature header. Each is decoded or
//! refused with the registry's error (a message, never a panic); an error for a query string
//! always names what was expected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_api::{builds, keys, releases, respond, tokens};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(error) = respond::parse_query::<releases::PageQuery>(text) {
            assert!(error.to_string().contains("expected"), "{error}");
        }
        if let Err(error) = respond::parse_query::<keys::RegisterQuery>(text) {
            assert!(error.to_string().contains("role=<release|rebuilder>"), "{error}");
        }
    }
    let _ = respond::parse_json::<tokens::NewToken>(data);
    let _ = builds::decode_signature_header(data);
});
