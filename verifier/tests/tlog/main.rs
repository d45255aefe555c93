//! Transparency-log tests: one test binary (modules below) so the busy build machine links once.
//! Fixtures in tests/data/tlog are copied from the shared fixtures; their README names the sources.

mod merkle;
mod mutations;
mod notes;
mod policy;
mod tiles;

use std::path::Path;

pub fn data_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tlog")
        .join(name)
}

pub fn read_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(data_path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn read_text(name: &str) -> String {
    std::fs::read_to_string(data_path(name)).unwrap()
}

pub fn bytes(value: &serde_json::Value) -> Vec<u8> {
    hex::decode(value.as_str().unwrap()).unwrap()
}

/// A 32-byte hash from hex, or None when the fixture deliberately holds another length.
pub fn hash(value: &serde_json::Value) -> Option<[u8; 32]> {
    bytes(value).try_into().ok()
}

pub fn hashes(value: &serde_json::Value) -> Option<Vec<[u8; 32]>> {
    value.as_array().unwrap().iter().map(hash).collect()
}
