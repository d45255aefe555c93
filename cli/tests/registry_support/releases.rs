//! Release submissions as a publisher posts them, of any size, and the rows each is stored as.

pub use registry_api::testing::sample_release_sized as release_with;

pub use registry_api::testing::{release_rows as rows_of, ReleaseRows as Rows};

/// `release` signed by `key` as `mpr release` signs it (the statement it renders to).
pub fn signed(
    release: &serde_json::Value,
    key: &registry_api::signing::SecretKey,
) -> serde_json::Value {
    registry_api::testing::sign_release(release, key).expect("a release submission")
}
