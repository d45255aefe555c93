//! Any body POSTed to the registry's write endpoints (a release, a rebuild report) is either a
//! valid submission or a clear error, never a panic; a valid release always renders a manifest that
//! parses back as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_api::{manifest, submission};

fuzz_target!(|data: &[u8]| {
    if let Ok(release) = submission::parse_release(data) {
        let rendered = manifest::render(&release).expect("a valid release renders");
        let _: serde_json::Value = serde_json::from_slice(&rendered).expect("the manifest is JSON");
    }
    let _ = submission::parse_rebuild(data);
});
