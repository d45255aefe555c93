//! Any body POSTed to the registry's write endpoints (a release, a rebuild report) is either a
//! valid submission or a clear error, never a panic; a valid release always renders a release
//! statement that parses back with the wallets' parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_api::{statement, submission};

fuzz_target!(|data: &[u8]| {
    if let Ok(release) = submission::parse_release(data) {
        let rendered = statement::render(&release);
        verifier::statement::parse_release_statement(&rendered)
            .expect("a valid release's statement parses back");
    }
    let _ = submission::parse_rebuild(data);
});
