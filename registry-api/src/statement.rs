//! Rendering mpr's statements (in-toto Statement v1, shapes in `verifier::statement`) from what
//! publishers submit. The release statement is rendered once, when the release is recorded, and its
//! bytes are stored and served exactly as signed; status changes and addenda are rendered by the
//! publisher's CLI with these same functions and checked by the registry against this same form.
//! Every list is sorted and every map is ordered, so the same content always gives the same bytes.

use std::collections::BTreeMap;

use serde_json::Value;
use verifier::statement::{
    self as shape, MeasurementSet, ReleasePredicate, ReleaseStatement, SetAddendumPredicate,
    SetAddendumStatement, SetStatus, SetStatusPredicate, SetStatusStatement, Statement, Subject,
    RELEASE_PREDICATE, SET_ADDENDUM_PREDICATE, SET_STATUS_PREDICATE, STATEMENT_TYPE,
};

use crate::submission::{MeasurementSetSubmission, MeasurementSubmission, ReleaseSubmission};

pub use verifier::statement::sha256_hex as sha256;

/// A submitted set in the statements' shape.
pub fn measurement_set(set: &MeasurementSetSubmission) -> MeasurementSet {
    MeasurementSet {
        name: set.name.clone(),
        measurements: set
            .measurements
            .iter()
            .map(|measurement| shape::Measurement {
                platform: measurement.platform.as_str().to_owned(),
                parameters: measurement
                    .parameters
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect(),
                registers: measurement
                    .registers
                    .iter()
                    .map(|(name, value)| {
                        (name.clone(), value.as_str().unwrap_or_default().to_owned())
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// A statement's set as a submission, for the registry's platform rules and storage.
pub fn measurement_set_submission(
    set: &MeasurementSet,
) -> Result<MeasurementSetSubmission, String> {
    let measurements = set
        .measurements
        .iter()
        .map(|measurement| {
            Ok(MeasurementSubmission {
                platform: measurement.platform.parse()?,
                parameters: measurement.parameters.clone().into_iter().collect(),
                registers: measurement
                    .registers
                    .iter()
                    .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                    .collect(),
            })
        })
        .collect::<Result<_, String>>()?;
    let submission = MeasurementSetSubmission {
        name: set.name.clone(),
        measurements,
    };
    crate::submission::check_measurement_set(&submission)?;
    Ok(submission)
}

/// The release statement of a validated submission: every official artifact as a subject.
pub fn release_statement(release: &ReleaseSubmission) -> ReleaseStatement {
    let subject = release
        .build
        .artifacts
        .iter()
        .map(|artifact| {
            let mut digest = BTreeMap::from([("sha256".to_owned(), artifact.sha256.clone())]);
            if let Some(sha384) = &artifact.sha384 {
                digest.insert("sha384".to_owned(), sha384.clone());
            }
            Subject {
                name: artifact.name.clone(),
                digest,
            }
        })
        .collect();
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject,
        predicate_type: RELEASE_PREDICATE.to_owned(),
        predicate: ReleasePredicate {
            package: release.package.clone(),
            version: release.version.clone(),
            source: shape::Source {
                repository: release.source.repository.clone(),
                commit: release.source.commit.clone(),
            },
            // Validation refused negative values.
            source_date_epoch: release.source_date_epoch.max(0) as u64,
            recipe: shape::Digest {
                sha256: release.recipe.sha256.clone(),
            },
            builder_image: release.build.builder_image.clone(),
            build_record: release
                .build
                .record_sha256
                .as_ref()
                .map(|sha256| shape::Digest {
                    sha256: sha256.clone(),
                }),
            measurement_sets: release
                .measurement_sets
                .iter()
                .map(measurement_set)
                .collect(),
        },
    }
}

/// The exact bytes of a release's statement.
pub fn render(release: &ReleaseSubmission) -> Vec<u8> {
    release_statement(release).to_bytes()
}

/// A measurement set's status from `sequence` on, about the release whose statement has
/// `release_sha256`.
pub fn set_status_statement(
    version: &str,
    release_sha256: &str,
    set: &str,
    sequence: u32,
    status: SetStatus,
    reason: &str,
) -> SetStatusStatement {
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![shape::release_statement_subject(version, release_sha256)],
        predicate_type: SET_STATUS_PREDICATE.to_owned(),
        predicate: SetStatusPredicate {
            version: version.to_owned(),
            measurement_set: set.to_owned(),
            sequence,
            status,
            reason: reason.to_owned(),
        },
    }
}

/// A new measurement set for the release whose statement has `release_sha256`.
pub fn set_addendum_statement(
    version: &str,
    release_sha256: &str,
    set: &MeasurementSetSubmission,
) -> SetAddendumStatement {
    Statement {
        statement_type: STATEMENT_TYPE.to_owned(),
        subject: vec![shape::release_statement_subject(version, release_sha256)],
        predicate_type: SET_ADDENDUM_PREDICATE.to_owned(),
        predicate: SetAddendumPredicate {
            version: version.to_owned(),
            measurement_set: measurement_set(set),
        },
    }
}
