//! Release submissions as a publisher posts them, of any size, and the rows each is stored as.

pub use registry_api::testing::sample_release_sized as release_with;

pub use registry_api::testing::{release_rows as rows_of, ReleaseRows as Rows};
