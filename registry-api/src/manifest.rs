//! The release manifest: the document publishers sign. It is rendered once from a validated
//! submission, with every list sorted and every value normalised, so the same release always gives
//! the same bytes; it binds the measurements to their context (platform, launch parameters,
//! source, recipe, SOURCE_DATE_EPOCH) as wallets need.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::submission::ReleaseSubmission;

pub const MANIFEST_SCHEMA: &str = "https://mpr.dev/schemas/release-manifest/v1";

#[derive(Serialize)]
struct Manifest<'a> {
    schema: &'static str,
    version: &'a str,
    package: &'a str,
    source: Source<'a>,
    recipe_sha256: &'a str,
    source_date_epoch: i64,
    official_build: OfficialBuild<'a>,
    measurement_sets: Vec<MeasurementSet<'a>>,
}

#[derive(Serialize)]
struct Source<'a> {
    repository: &'a str,
    commit: &'a str,
}

#[derive(Serialize)]
struct OfficialBuild<'a> {
    record_sha256: Option<&'a str>,
    artifacts: Vec<Artifact<'a>>,
}

#[derive(Serialize)]
struct Artifact<'a> {
    name: &'a str,
    size: i64,
    sha256: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha384: Option<&'a str>,
}

#[derive(Serialize)]
struct MeasurementSet<'a> {
    name: &'a str,
    measurements: Vec<Measurement>,
}

#[derive(Serialize)]
struct Measurement {
    platform: &'static str,
    // Sorted explicitly: serde_json's Map keeps insertion order if any crate in the build enables
    // its preserve_order feature, and the bytes must not depend on that.
    parameters: Map<String, Value>,
    registers: Map<String, Value>,
}

fn sorted(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The manifest's identity: lower-case hex SHA-256 of its bytes, as stored and as signed.
pub fn sha256(manifest: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(manifest))
}

/// Pretty JSON with a final newline: people read and diff manifests.
pub fn render(release: &ReleaseSubmission) -> Result<Vec<u8>, serde_json::Error> {
    let mut artifacts: Vec<Artifact> = release
        .build
        .artifacts
        .iter()
        .map(|artifact| Artifact {
            name: &artifact.name,
            size: artifact.size,
            sha256: &artifact.sha256,
            sha384: artifact.sha384.as_deref(),
        })
        .collect();
    artifacts.sort_by(|a, b| a.name.cmp(b.name));
    let mut measurement_sets: Vec<MeasurementSet> = release
        .measurement_sets
        .iter()
        .map(|set| {
            let mut measurements: Vec<Measurement> = set
                .measurements
                .iter()
                .map(|measurement| Measurement {
                    platform: measurement.platform.as_str(),
                    parameters: sorted(&measurement.parameters),
                    registers: sorted(&measurement.registers),
                })
                .collect();
            measurements.sort_by_cached_key(|m| {
                (m.platform, Value::Object(m.parameters.clone()).to_string())
            });
            MeasurementSet {
                name: &set.name,
                measurements,
            }
        })
        .collect();
    measurement_sets.sort_by(|a, b| a.name.cmp(b.name));
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA,
        version: &release.version,
        package: &release.package,
        source: Source {
            repository: &release.source.repository,
            commit: &release.source.commit,
        },
        recipe_sha256: &release.recipe.sha256,
        source_date_epoch: release.source_date_epoch,
        official_build: OfficialBuild {
            record_sha256: release.build.record_sha256.as_deref(),
            artifacts,
        },
        measurement_sets,
    };
    let mut bytes = serde_json::to_vec_pretty(&manifest)?;
    bytes.push(b'\n');
    Ok(bytes)
}
