//! What publishers and rebuilders send: parsed with unknown fields refused, then checked as a whole
//! before anything touches the database, so a bad request is answered with every rule it breaks in
//! one place and never half-stored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use verifier::statement::{RebuildStatement, RebuildVerdict, REBUILD_PREDICATE};

use crate::platform::{check_hex, Platform};

/// Bodies larger than this are refused before parsing (a release with hundreds of measurement
/// sets is still far below it).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub const MAX_MEASUREMENT_SETS: usize = 64;
pub const MAX_MEASUREMENTS_PER_SET: usize = 256;
pub const MAX_ARTIFACTS: usize = 256;

/// A release as the official pipeline records it: its source, recipe, official build and
/// measurement sets, stored in one transaction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSubmission {
    /// A semantic version, e.g. `8.1.0` or `8.1.0-rc.1`.
    pub version: String,
    /// The cargo package built, e.g. `prover`.
    pub package: String,
    pub source: SourceSubmission,
    pub recipe: RecipeSubmission,
    pub source_date_epoch: i64,
    pub build: BuildSubmission,
    pub measurement_sets: Vec<MeasurementSetSubmission>,
    /// ASCII-armored detached OpenPGP signatures, by registered release keys, over the release
    /// statement this submission renders to (`registry_api::statement::render`; the registry
    /// serves those bytes at `/v1/releases/{version}/statement`). A release is recorded only
    /// with at least one, verified in the transaction that records it. Not part of the statement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceSubmission {
    pub repository: String,
    /// The full 40-digit lower-case commit hash.
    pub commit: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipeSubmission {
    pub sha256: String,
    /// The recipe's text (TOML); when given, its SHA-256 must equal `sha256`.
    #[serde(default)]
    pub body: Option<String>,
}

/// A build: the official one inside a release, or a rebuilder's report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildSubmission {
    /// Who built: `official` for the release pipeline, the rebuilder's name otherwise.
    pub builder: String,
    /// SHA-256 of the build's `build-record.json`.
    #[serde(default)]
    pub record_sha256: Option<String>,
    /// The image the build ran in, by digest: `sha256:<id>` or `name@sha256:<digest>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder_image: Option<String>,
    #[serde(default)]
    pub artifacts: Vec<ArtifactSubmission>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSubmission {
    pub name: String,
    pub size: i64,
    pub sha256: String,
    #[serde(default)]
    pub sha384: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasurementSetSubmission {
    /// Lower-case name, unique within the release, e.g. `default` or `snp-milan`.
    pub name: String,
    pub measurements: Vec<MeasurementSubmission>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasurementSubmission {
    pub platform: Platform,
    /// Launch parameters the values depend on (per platform; see the API description).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// Register name to lower-case hex value; every register the platform reports is required.
    #[schema(value_type = Object)]
    pub registers: Map<String, Value>,
}

/// A rebuilder's report as the registry stores it, read from the signed rebuild statement
/// (`verifier::statement::RebuildStatement`): the server compares its artifacts with the
/// official ones.
#[derive(Debug, Clone)]
pub struct RebuildSubmission {
    /// The release rebuilt: part of the signed bytes, so a report cannot be replayed for another.
    pub release: String,
    /// The SHA-256 of the release statement the rebuilder verified and rebuilt.
    pub release_statement_sha256: String,
    /// Optional, for readers of the signed bytes: the signing key's fingerprint, one of its user
    /// IDs or an e-mail address in one. The key is the identity; a report naming anyone else is
    /// refused.
    pub rebuilder: Option<String>,
    /// True when the rebuild did not complete (status FAIL); there are then no artifacts.
    pub failed: bool,
    /// The rebuild's build record.
    pub record_sha256: Option<String>,
    pub artifacts: Vec<ArtifactSubmission>,
    /// The rebuilder's findings, one per line (what differs, why it failed).
    pub summary: Option<String>,
}

impl RebuildSubmission {
    fn from_statement(statement: &RebuildStatement) -> Result<RebuildSubmission, String> {
        let predicate = &statement.predicate;
        let failed = predicate.verdict == RebuildVerdict::Fail;
        let artifacts = if failed {
            Vec::new()
        } else {
            statement
                .subject
                .iter()
                .map(|subject| {
                    let size = predicate.sizes.get(&subject.name).copied().unwrap_or(0);
                    Ok(ArtifactSubmission {
                        name: subject.name.clone(),
                        size: i64::try_from(size).map_err(|_| {
                            format!("artifact {:?} is larger than 2^63 bytes", subject.name)
                        })?,
                        sha256: subject.digest["sha256"].clone(),
                        sha384: subject.digest.get("sha384").cloned(),
                    })
                })
                .collect::<Result<_, String>>()?
        };
        let mut summary = String::new();
        for finding in &predicate.findings {
            // The stored summary is bounded; the signed report keeps every finding.
            if summary.len() + finding.len() + 1 > MAX_SUMMARY_BYTES {
                break;
            }
            summary.push_str(finding);
            summary.push('\n');
        }
        Ok(RebuildSubmission {
            release: predicate.version.clone(),
            release_statement_sha256: predicate.release_statement.sha256.clone(),
            rebuilder: predicate.rebuilder.clone(),
            failed,
            record_sha256: predicate.build_record.as_ref().map(|d| d.sha256.clone()),
            artifacts,
            summary: Some(summary.trim_end().to_owned()).filter(|s| !s.is_empty()),
        })
    }
}

const MAX_SUMMARY_BYTES: usize = 4096;

/// The official pipeline's builder name.
pub const OFFICIAL_BUILDER: &str = "official";

pub fn check_version(version: &str) -> Result<(), String> {
    let (core, pre) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |part: &&str| {
        !part.is_empty()
            && part.len() <= 9
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part.len() == 1 || !part.starts_with('0'))
    };
    let pre_ok = pre.is_none_or(|pre| {
        !pre.is_empty()
            && pre.len() <= 40
            && pre.split('.').all(|id| {
                !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
    });
    if numbers.len() == 3 && numbers.iter().all(numeric) && pre_ok {
        Ok(())
    } else {
        Err(format!(
            "version {version:?} is not a semantic version such as 8.1.0 or 8.1.0-rc.1 (no leading \"v\", no build metadata)"
        ))
    }
}

pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if first_ok
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'))
    {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} must be 1 to 64 characters of letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        ))
    }
}

fn check_set_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if first_ok
        && name.len() <= 64
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
    {
        Ok(())
    } else {
        Err(format!(
            "measurement set name {name:?} must be 1 to 64 lower-case letters, digits, '.', '_' or '-'"
        ))
    }
}

fn check_sha256(what: &str, value: &str) -> Result<(), String> {
    check_hex(value, 32).map_err(|problem| format!("{what}: {problem}"))
}

fn check_artifacts(artifacts: &[ArtifactSubmission]) -> Result<(), String> {
    if artifacts.len() > MAX_ARTIFACTS {
        return Err(format!(
            "at most {MAX_ARTIFACTS} artifacts per build, got {}",
            artifacts.len()
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for artifact in artifacts {
        let name = &artifact.name;
        if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(format!(
                "artifact name {name:?} must be 1 to 256 printable characters"
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(format!("artifact {name:?} is listed twice"));
        }
        if artifact.size < 0 {
            return Err(format!("artifact {name:?}: size must not be negative"));
        }
        check_sha256(&format!("artifact {name:?} sha256"), &artifact.sha256)?;
        if let Some(sha384) = &artifact.sha384 {
            check_hex(sha384, 48)
                .map_err(|problem| format!("artifact {name:?} sha384: {problem}"))?;
        }
    }
    Ok(())
}

impl ReleaseSubmission {
    pub fn validate(&self) -> Result<(), String> {
        check_version(&self.version)?;
        check_name("package", &self.package)?;
        let repository = &self.source.repository;
        if repository.is_empty()
            || repository.len() > 512
            || repository.chars().any(char::is_control)
        {
            return Err("source.repository must be 1 to 512 printable characters".to_owned());
        }
        check_hex(&self.source.commit, 20)
            .map_err(|problem| format!("source.commit must be a full commit hash: {problem}"))?;
        check_sha256("recipe.sha256", &self.recipe.sha256)?;
        if let Some(body) = &self.recipe.body {
            if body.len() > 65536 {
                return Err("recipe.body is larger than 64 KiB".to_owned());
            }
            let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
            if actual != self.recipe.sha256 {
                return Err(format!(
                    "recipe.body has SHA-256 {actual}, not recipe.sha256 {}; send the exact recipe file",
                    self.recipe.sha256
                ));
            }
        }
        if self.source_date_epoch < 0 {
            return Err("source_date_epoch must not be negative".to_owned());
        }
        if self.build.builder != OFFICIAL_BUILDER {
            return Err(format!(
                "build.builder must be \"{OFFICIAL_BUILDER}\" in a release; rebuilders report with POST /v1/releases/{{version}}/rebuilds"
            ));
        }
        if let Some(record) = &self.build.record_sha256 {
            check_sha256("build.record_sha256", record)?;
        }
        if let Some(image) = &self.build.builder_image {
            verifier::statement::check_builder_image(image)
                .map_err(|problem| format!("build.{problem}"))?;
        }
        check_artifacts(&self.build.artifacts)?;
        if self.measurement_sets.is_empty() {
            return Err("a release needs at least one measurement set".to_owned());
        }
        if self.measurement_sets.len() > MAX_MEASUREMENT_SETS {
            return Err(format!(
                "at most {MAX_MEASUREMENT_SETS} measurement sets per release"
            ));
        }
        let mut set_names = std::collections::BTreeSet::new();
        for set in &self.measurement_sets {
            check_measurement_set(set)?;
            if !set_names.insert(set.name.as_str()) {
                return Err(format!("measurement set {:?} is listed twice", set.name));
            }
        }
        Ok(())
    }
}

/// A measurement set's own rules (name, size, every measurement valid for its platform, no two
/// with the same parameters): for a release's sets and for an addendum's.
pub fn check_measurement_set(set: &MeasurementSetSubmission) -> Result<(), String> {
    check_set_name(&set.name)?;
    if set.measurements.is_empty() || set.measurements.len() > MAX_MEASUREMENTS_PER_SET {
        return Err(format!(
            "measurement set {:?} needs 1 to {MAX_MEASUREMENTS_PER_SET} measurements",
            set.name
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for measurement in &set.measurements {
        let context = format!("set {:?}, {}", set.name, measurement.platform);
        measurement
            .platform
            .check_parameters(&measurement.parameters)
            .map_err(|problem| format!("{context}: {problem}"))?;
        measurement
            .platform
            .check_registers(&measurement.registers)
            .map_err(|problem| format!("{context}: {problem}"))?;
        let key = (
            measurement.platform,
            Value::Object(measurement.parameters.clone()).to_string(),
        );
        if !seen.insert(key) {
            return Err(format!(
                "{context}: two measurements with the same parameters"
            ));
        }
    }
    Ok(())
}

impl RebuildSubmission {
    pub fn validate(&self) -> Result<(), String> {
        check_version(&self.release).map_err(|problem| format!("release: {problem}"))?;
        if let Some(rebuilder) = &self.rebuilder {
            if rebuilder.is_empty()
                || rebuilder.len() > 256
                || rebuilder.chars().any(char::is_control)
            {
                return Err("rebuilder must be 1 to 256 printable characters (the signing key's fingerprint or user ID)".to_owned());
            }
            if rebuilder == OFFICIAL_BUILDER {
                return Err(format!(
                    "rebuilder \"{OFFICIAL_BUILDER}\" is reserved for the release pipeline"
                ));
            }
        }
        if let Some(record) = &self.record_sha256 {
            check_sha256("record_sha256", record)?;
        }
        if let Some(summary) = &self.summary {
            if summary.len() > MAX_SUMMARY_BYTES {
                return Err(format!("summary is longer than {MAX_SUMMARY_BYTES} bytes"));
            }
        }
        check_artifacts(&self.artifacts)
    }
}

/// Parses and validates a release body: the entry point the HTTP layer and the fuzz target share.
pub fn parse_release(body: &[u8]) -> Result<ReleaseSubmission, String> {
    if body.len() > MAX_BODY_BYTES {
        return Err(format!("body is larger than {MAX_BODY_BYTES} bytes"));
    }
    let release: ReleaseSubmission = serde_json::from_slice(body)
        .map_err(|error| format!("body is not a valid release: {error}"))?;
    release.validate()?;
    Ok(release)
}

/// Parses and validates a rebuild report body: an in-toto statement with the rebuild predicate,
/// in canonical form (so its SHA-256, which the log records, is the one everybody computes).
pub fn parse_rebuild(body: &[u8]) -> Result<RebuildSubmission, String> {
    if body.len() > MAX_BODY_BYTES {
        return Err(format!("body is larger than {MAX_BODY_BYTES} bytes"));
    }
    let statement = verifier::statement::parse_rebuild_statement(body).map_err(|error| {
        format!(
            "body is not a rebuild report ({error}); send the in-toto statement `mpr rebuild verify --submit` writes (predicateType {REBUILD_PREDICATE})"
        )
    })?;
    let rebuild = RebuildSubmission::from_statement(&statement)?;
    rebuild.validate()?;
    Ok(rebuild)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_semantic() {
        for good in ["8.1.0", "0.0.1", "10.20.30-rc.1", "1.2.3-alpha-2"] {
            assert_eq!(check_version(good), Ok(()), "{good}");
        }
        for bad in [
            "v8.1.0",
            "8.1",
            "8.01.0",
            "8.1.0+build",
            "8.1.0-",
            "8.1.0-rc..1",
            "",
            "1.2.3.4",
        ] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_set_names() {
        assert!(check_name("rebuilder", "alice@example.org").is_ok());
        assert!(check_name("rebuilder", "-alice").is_err());
        assert!(check_name("rebuilder", "a b").is_err());
        assert!(check_set_name("snp-milan.4").is_ok());
        assert!(check_set_name("Default").is_err());
    }
}
