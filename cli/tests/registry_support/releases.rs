//! Release submissions as a publisher posts them, of any size, and the rows each is stored as.

use serde_json::Value;

pub use registry_api::testing::sample_release_sized as release_with;

/// The rows a release is stored as, counted from its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub artifacts: i64,
    pub sets: i64,
    pub measurements: i64,
    pub values: i64,
}

pub fn rows_of(release: &Value) -> Rows {
    let sets = release["measurement_sets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let measurements: Vec<Value> = sets
        .iter()
        .flat_map(|set| set["measurements"].as_array().cloned().unwrap_or_default())
        .collect();
    Rows {
        artifacts: release["build"]["artifacts"].as_array().map_or(0, Vec::len) as i64,
        sets: sets.len() as i64,
        measurements: measurements.len() as i64,
        values: measurements
            .iter()
            .map(|m| m["registers"].as_object().map_or(0, |r| r.len() as i64))
            .sum(),
    }
}
